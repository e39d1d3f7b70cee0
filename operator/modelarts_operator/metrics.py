"""The operator's Prometheus metrics and the ``/metrics`` endpoint.

Every :class:`Metrics` owns its ``CollectorRegistry`` (never the process-wide default one), so tests can make
as many as they like and nothing leaks between them.

Pools by phase is not a gauge that handlers increment and decrement (a missed event or a restart would make it
drift for good): the operator tells :meth:`Metrics.set_pool_phase` the current phase of each object, and the
gauge is computed from that map at scrape time, so it is always exactly the map's contents.

The endpoint is prometheus-client's threaded HTTP server: it answers scrapes even while the asyncio loop is
busy, and stops cleanly (:meth:`MetricsServer.stop`). Because scrapes run on that thread, the phase map is
guarded by a lock.
"""

from __future__ import annotations

import threading
from collections import Counter as Tally
from collections.abc import Iterable
from dataclasses import dataclass
from wsgiref.simple_server import WSGIServer

from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest, start_http_server
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

REQUEST_SECONDS_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0)
"""One ModelArts call: milliseconds on a good day, up to the request timeout on a bad one."""
DELETION_SECONDS_BUCKETS = (1.0, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0, 600.0, 1200.0, 1800.0, 3600.0, 7200.0)
"""A pool deletion: seconds in the emulator, many minutes in the cloud."""
LIMITER_WAIT_SECONDS_BUCKETS = (0.0, 0.01, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0)
"""Time spent waiting for a rate-limiter token; the 0 bucket counts calls that did not wait at all."""


def object_key(namespace: str, name: str) -> str:
    """The one way an object is named in :meth:`Metrics.set_pool_phase` (``namespace/name``)."""
    return f"{namespace}/{name}"


class _PoolPhases(Collector):
    """``modelarts_pools{phase}``, computed from the per-object phase map on every scrape."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._phase_of: dict[str, str] = {}
        self._seen: set[str] = set()  # phases once reported stay as 0 rather than vanishing

    def set(self, key: str, phase: str | None) -> None:
        with self._lock:
            if phase is None:
                self._phase_of.pop(key, None)
            else:
                self._phase_of[key] = phase
                self._seen.add(phase)

    def counts(self) -> dict[str, int]:
        with self._lock:
            tally = Tally(self._phase_of.values())
            return {phase: tally.get(phase, 0) for phase in sorted(self._seen)}

    def collect(self) -> Iterable[Metric]:
        family = GaugeMetricFamily(
            "modelarts_pools", "ModelArtsPool objects by the phase of their pool.", labels=["phase"]
        )
        for phase, count in self.counts().items():
            family.add_metric([phase], count)
        yield family

    def describe(self) -> Iterable[Metric]:
        # Without describe() the registry would call collect() at registration to learn the names.
        yield GaugeMetricFamily("modelarts_pools", "ModelArtsPool objects by the phase of their pool.",
                                labels=["phase"])


@dataclass
class MetricsServer:
    """A running ``/metrics`` endpoint; ``port`` is the bound one (useful when asked for port 0)."""

    address: str
    port: int
    _server: WSGIServer
    _thread: threading.Thread

    def stop(self, timeout: float = 5.0) -> None:
        """Stop serving and release the port."""
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout)


class Metrics:
    """The operator's metrics, in a registry of their own."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        self.requests = Counter(
            "modelarts_requests", "ModelArts API attempts by operation and HTTP status (or transport_error).",
            ["operation", "code"], registry=self.registry,
        )
        self.request_duration = Histogram(
            "modelarts_request_duration_seconds", "Latency of one ModelArts API attempt.",
            ["operation"], buckets=REQUEST_SECONDS_BUCKETS, registry=self.registry,
        )
        self.pool_deletion_duration = Histogram(
            "modelarts_pool_deletion_duration_seconds",
            "From the object's deletion to its pool being gone in ModelArts.",
            buckets=DELETION_SECONDS_BUCKETS, registry=self.registry,
        )
        self.reconcile_errors = Counter(
            "modelarts_reconcile_errors", "Failed reconciliations by reason.",
            ["reason"], registry=self.registry,
        )
        self.limiter_wait = Histogram(
            "modelarts_limiter_wait_seconds", "Time a ModelArts call waited for a rate-limiter token.",
            buckets=LIMITER_WAIT_SECONDS_BUCKETS, registry=self.registry,
        )
        self._phases = _PoolPhases()
        self.registry.register(self._phases)

    # --- the ModelArts client's hooks ------------------------------------------------------------

    def observer(self, operation: str, code: str, seconds: float) -> None:
        """The client's ``observer`` hook: one attempt of ``operation`` ended with ``code`` after
        ``seconds``."""
        self.requests.labels(operation=operation, code=code).inc()
        self.request_duration.labels(operation=operation).observe(max(0.0, seconds))

    def observe_limiter_wait(self, seconds: float) -> None:
        """A call waited ``seconds`` for a token (``limiter.before_request_hook`` reports here)."""
        self.limiter_wait.observe(max(0.0, seconds))

    # --- the operator's reports ------------------------------------------------------------------

    def set_pool_phase(self, key: str, phase: str | None) -> None:
        """The pool of object ``key`` (see :func:`object_key`) is now in ``phase``; ``None``: the object is
        gone (or has no pool to count)."""
        self._phases.set(key, phase)

    def pool_phase_counts(self) -> dict[str, int]:
        """What ``modelarts_pools`` reports now, by phase."""
        return self._phases.counts()

    def observe_pool_deletion(self, seconds: float) -> None:
        """A pool took ``seconds`` from the object's deletion to being gone."""
        self.pool_deletion_duration.observe(max(0.0, seconds))

    def count_reconcile_error(self, reason: str) -> None:
        """A reconciliation failed. ``reason`` must come from a small fixed set (an error class name, a
        condition reason), never free text: every distinct value is a new time series."""
        self.reconcile_errors.labels(reason=reason).inc()

    # --- exposition ------------------------------------------------------------------------------

    def render(self) -> bytes:
        """The text exposition format, as ``/metrics`` serves it."""
        return generate_latest(self.registry)

    def serve(self, address: str, port: int) -> MetricsServer:
        """Serve ``/metrics`` on ``address:port`` from a daemon thread (``port=0``: any free port).

        Raises ``OSError`` when the port is taken, so a misconfiguration fails at start-up."""
        server, thread = start_http_server(port, addr=address, registry=self.registry)
        bound_port = int(server.server_address[1])
        return MetricsServer(address=address, port=bound_port, _server=server, _thread=thread)


__all__ = [
    "DELETION_SECONDS_BUCKETS",
    "LIMITER_WAIT_SECONDS_BUCKETS",
    "REQUEST_SECONDS_BUCKETS",
    "Metrics",
    "MetricsServer",
    "object_key",
]
