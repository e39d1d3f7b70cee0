"""``modelarts-operator run``: settings, logging, health and metrics endpoints, leader election, then kopf.

With leader election on, the process first waits as a standby (serving ``/healthz`` and ``/metrics``, touching
no object and no cloud API) until it holds the Lease; then it runs kopf. If the Lease cannot be renewed within
the renew deadline the process exits at once — before the Lease can expire and a standby take over — and
Kubernetes restarts it as a standby. On SIGTERM kopf stops, then the Lease is handed back so the standby takes
over within a retry period instead of a lease duration.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import os
import signal
import sys
from pathlib import Path

import kopf
from aiohttp import web

from modelarts_operator.controller.context import OperatorContext, default_identity
from modelarts_operator.controller.kube import KubeApi
from modelarts_operator.controller.leader import LeaderElector
from modelarts_operator.metrics import Metrics
from modelarts_operator.settings import OperatorSettings, SettingsError, load_settings

logger = logging.getLogger(__name__)
SERVICE_ACCOUNT_NAMESPACE = Path("/var/run/secrets/kubernetes.io/serviceaccount/namespace")
EXIT_LEADERSHIP_LOST = 3


class _RoutineToDebugFilter(logging.Filter):
    """kopf logs every watch event's handler at INFO ("Handler '...' succeeded"): routine, so DEBUG."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        if message.startswith("Handler '") and message.endswith("succeeded."):
            record.levelno, record.levelname = logging.DEBUG, "DEBUG"
            return logging.getLogger(record.name).isEnabledFor(logging.DEBUG)
        return True


def run(args: argparse.Namespace) -> int:
    try:
        config = load_settings()
    except SettingsError as exc:
        print(f"modelarts-operator run: {exc}", file=sys.stderr)
        return 2
    if args.namespace:
        config = config.model_copy(update={"namespaces": list(args.namespace)})
    level = logging.DEBUG if args.verbose else getattr(logging, config.log_level.upper(), logging.INFO)
    kopf.configure(verbose=level <= logging.DEBUG, log_prefix=True)
    logging.getLogger().setLevel(level)
    logging.getLogger("httpx").setLevel(logging.WARNING)  # its INFO lines are full URLs of every call
    logging.getLogger("aiohttp.access").setLevel(logging.WARNING)  # one line per liveness probe otherwise
    for handler in logging.getLogger().handlers:
        handler.addFilter(_RoutineToDebugFilter())

    from modelarts_operator.controller import handlers  # noqa: F401  (registers the handlers with kopf)

    metrics = Metrics()
    server = metrics.serve(config.health_address, config.metrics_port) if config.metrics_port else None
    try:
        return asyncio.run(_main(config, metrics))
    finally:
        if server is not None:
            server.stop()


async def _serve_health(address: str, port: int) -> web.AppRunner:
    async def healthz(_: web.Request) -> web.Response:
        return web.json_response({"status": "ok"})

    app = web.Application()
    app.router.add_get("/healthz", healthz)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    await web.TCPSite(runner, address, port).start()
    return runner


def _namespace(config: OperatorSettings) -> str:
    if config.leader_election_namespace:
        return config.leader_election_namespace
    with contextlib.suppress(OSError):
        return SERVICE_ACCOUNT_NAMESPACE.read_text().strip()
    return "default"


async def _wait_as_standby(elector: LeaderElector) -> bool:
    """True once leading; False if told to stop first."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    acquiring = asyncio.ensure_future(elector.acquire())
    stopping = asyncio.ensure_future(stop.wait())
    await asyncio.wait({acquiring, stopping}, return_when=asyncio.FIRST_COMPLETED)
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.remove_signal_handler(signum)
    if stopping.done() and not acquiring.done():
        acquiring.cancel()
        return False
    stopping.cancel()
    await acquiring  # re-raise, if acquiring failed
    return True


async def _main(config: OperatorSettings, metrics: Metrics) -> int:
    identity = config.leader_election_identity or default_identity()
    health = await _serve_health(config.health_address, config.health_port)
    elector: LeaderElector | None = None
    election_kube: KubeApi | None = None
    try:
        if config.leader_election:
            metrics.set_leader(False)
            election_kube = KubeApi.from_environment()
            elector = LeaderElector(election_kube, _namespace(config), identity)
            if not await _wait_as_standby(elector):
                return 0
        metrics.set_leader(True)  # leading, or alone (no election): this process acts
        context = OperatorContext.build(config, metrics, KubeApi.from_environment(), identity)
        operating = asyncio.ensure_future(
            kopf.operator(
                standalone=True,
                clusterwide=not config.namespaces,
                namespaces=config.namespaces,
                memo=kopf.Memo(context=context),
            )
        )
        keeping = asyncio.ensure_future(elector.keep()) if elector else None
        await asyncio.wait({operating, *([keeping] if keeping else [])}, return_when=asyncio.FIRST_COMPLETED)
        if keeping is not None and keeping.done():
            # Stop acting now, before the Lease can expire and a standby start acting too: no cleanup that could
            # touch an object or call ModelArts. Kubernetes restarts the process as a standby.
            logger.critical("leadership lost: exiting")
            logging.shutdown()
            os._exit(EXIT_LEADERSHIP_LOST)
        if keeping is not None:
            keeping.cancel()
        await operating
        if elector is not None:
            await elector.release()
        return 0
    finally:
        if election_kube is not None:
            await election_kube.aclose()
        await health.cleanup()
