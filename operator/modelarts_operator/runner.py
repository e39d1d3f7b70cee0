"""``modelarts-operator run``: settings from the environment, logging, metrics, then kopf."""

from __future__ import annotations

import argparse
import asyncio
import logging

import kopf

from modelarts_operator.metrics import Metrics
from modelarts_operator.settings import OperatorSettings


class _RoutineToDebugFilter(logging.Filter):
    """kopf logs routine steps loudly: every retry of the deletion handler at ERROR (a deletion waiting for
    ModelArts is progress, not an error) and every watch event's wake-up handler at INFO. Both become DEBUG."""

    def filter(self, record: logging.LogRecord) -> bool:
        from modelarts_operator.handlers import DELETION_IN_PROGRESS_MARKER

        message = record.getMessage()
        routine = (DELETION_IN_PROGRESS_MARKER in message and record.levelno >= logging.ERROR) or (
            message.startswith("Handler 'modelartspool_event' succeeded")
        )
        if routine:
            record.levelno, record.levelname = logging.DEBUG, "DEBUG"
            return logging.getLogger(record.name).isEnabledFor(logging.DEBUG)
        return True


def run(args: argparse.Namespace) -> int:
    config = OperatorSettings()
    if args.namespace:
        config = config.model_copy(update={"namespaces": list(args.namespace)})
    level = logging.DEBUG if args.verbose else getattr(logging, config.log_level.upper(), logging.INFO)
    kopf.configure(verbose=level <= logging.DEBUG, log_prefix=True)
    logging.getLogger().setLevel(level)
    logging.getLogger("httpx").setLevel(logging.WARNING)  # its INFO lines are full URLs of every call
    logging.getLogger("aiohttp.access").setLevel(logging.WARNING)  # one line per liveness probe otherwise
    for handler in logging.getLogger().handlers:
        handler.addFilter(_RoutineToDebugFilter())

    from modelarts_operator import handlers  # noqa: F401  (registers the handlers with kopf)

    metrics = Metrics()
    server = metrics.serve(config.health_address, config.metrics_port) if config.metrics_port else None
    try:
        asyncio.run(
            kopf.operator(
                standalone=True,
                clusterwide=not config.namespaces,
                namespaces=config.namespaces,
                memo=kopf.Memo(config=config, metrics=metrics),
                liveness_endpoint=f"http://{config.health_address}:{config.health_port}/healthz",
            )
        )
    finally:
        if server is not None:
            server.stop()
    return 0
