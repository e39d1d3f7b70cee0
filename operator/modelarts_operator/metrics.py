"""The operator's Prometheus metrics and the ``/metrics`` endpoint.

Every :class:`Metrics` owns its ``CollectorRegistry`` (never the process-wide default one), so tests can make
as many as they like and nothing leaks between them.

The gauges about objects (pools by phase, nodes by state, deletions in progress) are not counters that handlers
increment and decrement (a missed event or a restart would make them drift for good): the operator tells
:meth:`Metrics.report_pool` what it knows about each object, and the gauges are computed from that map at scrape
time, so they are always exactly the map's contents. The same holds for the leader flag and project readiness.

Label values are bounded: a phase outside the documented vocabulary is counted as ``Unknown`` (a hostile or
buggy endpoint inventing a new phase on every poll must not grow one series per value), namespaces and names
are those of objects that exist, and the series of an object go away with it.

The endpoint is prometheus-client's threaded HTTP server: it answers scrapes even while the asyncio loop is
busy, and stops cleanly (:meth:`MetricsServer.stop`). Because scrapes run on that thread, the maps are guarded
by locks.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable
from dataclasses import dataclass, field
from importlib import metadata
from typing import NamedTuple
from wsgiref.simple_server import WSGIServer

from prometheus_client import CollectorRegistry, Counter, Histogram, Info, generate_latest, start_http_server
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

REQUEST_SECONDS_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0)
"""One ModelArts call: milliseconds on a good day, up to the request timeout on a bad one."""
DELETION_SECONDS_BUCKETS = (1.0, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0, 600.0, 1200.0, 1800.0, 3600.0, 7200.0)
"""A pool deletion: seconds in the emulator, many minutes in the cloud."""
LIMITER_WAIT_SECONDS_BUCKETS = (0.0, 0.01, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0)
"""Time spent waiting for a rate-limiter token; the 0 bucket counts calls that did not wait at all."""

POOL_PHASES = ("Creating", "Running", "Abnormal", "Deleting", "Error", "CreationFailed", "ScalingFailed", "Waiting")
"""The pool phases ModelArts is documented to report; ``modelarts_pools`` reports these and..."""
UNKNOWN_PHASE = "Unknown"
"""...this one for every other value."""
NODE_STATES = ("creating", "available", "abnormal", "deleting")
"""The buckets of ``status.nodes``, as ``modelarts_pool_nodes{state}`` reports them."""


def bounded_phase(phase: str) -> str:
    """``phase`` if ModelArts documents it, else ``Unknown``: the label's values are a fixed set."""
    return phase if phase in POOL_PHASES else UNKNOWN_PHASE


class NodeCounts(NamedTuple):
    """Nodes of one pool by state (``status.nodes``)."""

    creating: int = 0
    available: int = 0
    abnormal: int = 0
    deleting: int = 0


@dataclass(frozen=True)
class PoolReport:
    """What the gauges need to know about one object (see ``status_metrics.pool_report`` for the mapping from
    its status)."""

    phase: str | None = None
    """The pool's phase; ``None``: no pool (yet), so the object is not counted in ``modelarts_pools``."""
    nodes: NodeCounts = field(default_factory=NodeCounts)
    deletion_started: float | None = None
    """Unix time at which the object's deletion began; ``None``: it is not being deleted."""
    deletion_stalled: bool = False
    """The deletion shows no progress or is refused (the ``Deleting`` condition's reason ``DeletionStalled``)."""


class _PoolGauges(Collector):
    """The per-object gauges, computed from the object → report map on every scrape."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._reports: dict[tuple[str, str], PoolReport] = {}

    def set(self, namespace: str, name: str, report: PoolReport | None) -> None:
        with self._lock:
            if report is None:
                self._reports.pop((namespace, name), None)
            else:
                self._reports[(namespace, name)] = report

    def snapshot(self) -> dict[tuple[str, str], PoolReport]:
        with self._lock:
            return dict(self._reports)

    def collect(self) -> Iterable[Metric]:
        reports = self.snapshot()
        pools, nodes, started, stalled = self._families()
        # Every namespace that has objects reports every phase and state, zeros included: a phase that empties
        # goes to 0 rather than vanishing, and the series of a namespace go away with its last object.
        namespaces = sorted({namespace for namespace, _ in reports})
        phase_counts = {(ns, phase): 0 for ns in namespaces for phase in (*POOL_PHASES, UNKNOWN_PHASE)}
        node_counts = {(ns, state): 0 for ns in namespaces for state in NODE_STATES}
        for (namespace, name), report in sorted(reports.items()):
            if report.phase is not None:
                phase_counts[(namespace, bounded_phase(report.phase))] += 1
            for state, count in zip(NODE_STATES, report.nodes, strict=True):
                node_counts[(namespace, state)] += max(0, count)
            if report.deletion_started is not None:
                started.add_metric([namespace, name], report.deletion_started)
                stalled.add_metric([namespace, name], 1.0 if report.deletion_stalled else 0.0)
        for labels, count in phase_counts.items():
            pools.add_metric(list(labels), count)
        for labels, count in node_counts.items():
            nodes.add_metric(list(labels), count)
        yield from (pools, nodes, started, stalled)

    def describe(self) -> Iterable[Metric]:
        # Without describe() the registry would call collect() at registration to learn the names.
        return self._families()

    @staticmethod
    def _families() -> tuple[GaugeMetricFamily, GaugeMetricFamily, GaugeMetricFamily, GaugeMetricFamily]:
        return (
            GaugeMetricFamily(
                "modelarts_pools",
                "ModelArtsPool objects by namespace and the phase of their pool "
                "(Unknown: a phase ModelArts does not document).",
                labels=["namespace", "phase"],
            ),
            GaugeMetricFamily(
                "modelarts_pool_nodes",
                "Nodes of the objects' pools by namespace and state.",
                labels=["namespace", "state"],
            ),
            GaugeMetricFamily(
                "modelarts_pool_deletion_started_timestamp_seconds",
                "When the deletion of an object still being deleted began (Unix time).",
                labels=["namespace", "name"],
            ),
            GaugeMetricFamily(
                "modelarts_pool_deletion_stalled",
                "1 while an object's pool deletion is stalled or refused (DeletionStalled), else 0.",
                labels=["namespace", "name"],
            ),
        )


class _OperatorGauges(Collector):
    """``modelarts_leader``, ``modelarts_project_ready`` and ``modelarts_credentials_refused``, from plain values on
    every scrape."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.leader = False
        self.credentials_refused = 0
        self._project_ready: dict[str, bool] = {}

    def set_project(self, project: str, ready: bool | None) -> None:
        with self._lock:
            if ready is None:
                self._project_ready.pop(project, None)
            else:
                self._project_ready[project] = ready

    def collect(self) -> Iterable[Metric]:
        leader, projects, refused = self._families()
        leader.add_metric([], 1.0 if self.leader else 0.0)
        refused.add_metric([], float(self.credentials_refused))
        with self._lock:
            ready = sorted(self._project_ready.items())
        for project, is_ready in ready:
            projects.add_metric([project], 1.0 if is_ready else 0.0)
        yield from (leader, projects, refused)

    def describe(self) -> Iterable[Metric]:
        return self._families()

    @staticmethod
    def _families() -> tuple[GaugeMetricFamily, GaugeMetricFamily, GaugeMetricFamily]:
        return (
            GaugeMetricFamily(
                "modelarts_leader",
                "1 while this process is the acting leader (always, when leader election is off), else 0.",
            ),
            GaugeMetricFamily(
                "modelarts_project_ready",
                "1 when a ModelArtsProject is Ready (its credentials work), else 0.",
                labels=["project"],
            ),
            GaugeMetricFamily(
                "modelarts_credentials_refused",
                "Credential sets ModelArts refused (401) and the "
                "operator does not use until the gateway's lockout window has passed.",
            ),
        )


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


def _version() -> str:
    try:
        return metadata.version("modelarts-pool-operator")
    except metadata.PackageNotFoundError:  # running from a source tree that was never installed
        return "unknown"


class Metrics:
    """The operator's metrics, in a registry of their own."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        self.requests = Counter(
            "modelarts_requests",
            "ModelArts API attempts by operation and HTTP status (or transport_error).",
            ["operation", "code"],
            registry=self.registry,
        )
        self.request_duration = Histogram(
            "modelarts_request_duration_seconds",
            "Latency of one ModelArts API attempt.",
            ["operation"],
            buckets=REQUEST_SECONDS_BUCKETS,
            registry=self.registry,
        )
        self.pool_deletion_duration = Histogram(
            "modelarts_pool_deletion_duration_seconds",
            "From the object's deletion to its pool being gone in ModelArts.",
            buckets=DELETION_SECONDS_BUCKETS,
            registry=self.registry,
        )
        self.reconcile_errors = Counter(
            "modelarts_reconcile_errors",
            "Failed reconciliations by reason.",
            ["reason"],
            registry=self.registry,
        )
        self.limiter_wait = Histogram(
            "modelarts_limiter_wait_seconds",
            "Time a ModelArts call waited for a rate-limiter token.",
            buckets=LIMITER_WAIT_SECONDS_BUCKETS,
            registry=self.registry,
        )
        # Constant 1 with the version: "is any operator process being scraped" (absent() in the alert rules).
        Info("modelarts_operator_build", "The operator's version.", registry=self.registry).info(
            {"version": _version()}
        )
        self._pools = _PoolGauges()
        self.registry.register(self._pools)
        self._operator = _OperatorGauges()
        self.registry.register(self._operator)

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

    def report_pool(self, namespace: str, name: str, report: PoolReport) -> None:
        """What object ``namespace/name`` says now; replaces what it said before."""
        self._pools.set(namespace, name, report)

    def forget_pool(self, namespace: str, name: str) -> None:
        """The object is gone (or no longer this process's business): its series go away. Harmless if unknown."""
        self._pools.set(namespace, name, None)

    def pool_reports(self) -> dict[tuple[str, str], PoolReport]:
        """What the per-object gauges are computed from, by ``(namespace, name)``."""
        return self._pools.snapshot()

    def set_leader(self, leader: bool) -> None:
        """This process became (``True``) or stopped being (``False``) the one that acts on objects."""
        self._operator.leader = leader

    def set_credentials_refused(self, count: int) -> None:
        """How many credential sets ModelArts refuses now (the lockout guard's view)."""
        self._operator.credentials_refused = count

    def set_project_ready(self, project: str, ready: bool) -> None:
        """The ``Ready`` condition of ModelArtsProject ``project`` (cluster-scoped, so its name is enough)."""
        self._operator.set_project(project, ready)

    def forget_project(self, project: str) -> None:
        """The ModelArtsProject is gone: its series goes away."""
        self._operator.set_project(project, None)

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
    "NODE_STATES",
    "POOL_PHASES",
    "REQUEST_SECONDS_BUCKETS",
    "UNKNOWN_PHASE",
    "Metrics",
    "MetricsServer",
    "NodeCounts",
    "PoolReport",
    "bounded_phase",
]
