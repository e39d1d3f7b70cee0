"""``modelarts-operator emulator``: serve the ModelArts emulator until SIGTERM or SIGINT.

The first stdout line is ``listening on http://HOST:PORT`` (flushed), so scripts started with ``--port 0``
learn the port by reading one line.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import signal
import sys
from pathlib import Path

from modelarts_emulator.config import (
    DEFAULT_ACCESS_KEY,
    DEFAULT_PROJECT_ID,
    DEFAULT_SECRET_KEY,
    EmulatorConfig,
    Timings,
)
from modelarts_emulator.server import running_emulator
from modelarts_emulator.state_file import StateFileError


def configure_parser(parser: argparse.ArgumentParser) -> None:
    defaults = Timings()
    parser.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1)")
    parser.add_argument("--port", type=int, default=0, help="port to bind; 0 picks a free one (default 0)")
    parser.add_argument(
        "--project-id",
        default=DEFAULT_PROJECT_ID,
        help=f"the project the emulator serves (default {DEFAULT_PROJECT_ID})",
    )
    parser.add_argument(
        "--access-key",
        action="append",
        default=None,
        help=f"an accepted access key (repeatable, paired in order with --secret-key; default {DEFAULT_ACCESS_KEY})",
    )
    parser.add_argument(
        "--secret-key",
        action="append",
        default=None,
        help="the secret key of the access key in the same position (default: the documented "
        "local development key, see the README)",
    )
    parser.add_argument("--token", default=None, help="also accept this value in X-Auth-Token (IAM token auth)")
    parser.add_argument(
        "--create-seconds",
        type=float,
        default=defaults.create_seconds,
        help=f"how long a pool stays Creating (default {defaults.create_seconds:g})",
    )
    parser.add_argument(
        "--delete-seconds",
        type=float,
        default=defaults.delete_seconds,
        help=f"how long a pool takes to drain and vanish after DELETE (default {defaults.delete_seconds:g})",
    )
    parser.add_argument(
        "--scale-seconds",
        type=float,
        default=defaults.scale_seconds,
        help=f"how long scaling, scope and driver changes take (default {defaults.scale_seconds:g})",
    )
    parser.add_argument(
        "--state-file",
        type=Path,
        default=None,
        help="persist pools to this JSON file, and load them from it at start",
    )
    parser.add_argument(
        "--max-recorded-requests",
        type=int,
        default=EmulatorConfig.max_recorded_requests,
        help=f"how many requests /_emulator/requests keeps, oldest dropped first "
        f"(default {EmulatorConfig.max_recorded_requests}; benchmarks raise it)",
    )
    parser.add_argument("--log-level", default="INFO", help="logging level for stderr (default INFO)")


def config_from_args(args: argparse.Namespace) -> EmulatorConfig:
    access_keys = args.access_key or [DEFAULT_ACCESS_KEY]
    secret_keys = args.secret_key or [DEFAULT_SECRET_KEY]
    if len(access_keys) != len(secret_keys):
        raise SystemExit("modelarts-operator emulator: give as many --secret-key as --access-key")
    for value in (args.create_seconds, args.delete_seconds, args.scale_seconds):
        if value < 0:
            raise SystemExit("modelarts-operator emulator: durations must not be negative")
    if args.max_recorded_requests < 1:
        raise SystemExit("modelarts-operator emulator: --max-recorded-requests must be at least 1")
    return EmulatorConfig(
        project_id=args.project_id,
        credentials=dict(zip(access_keys, secret_keys, strict=True)),
        token=args.token,
        timings=Timings(
            create_seconds=args.create_seconds,
            delete_seconds=args.delete_seconds,
            scale_seconds=args.scale_seconds,
        ),
        state_file=args.state_file,
        max_recorded_requests=args.max_recorded_requests,
    )


async def serve(config: EmulatorConfig, host: str, port: int) -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    async with running_emulator(config, host=host, port=port, access_log=True) as emulator:
        sys.stdout.write(f"listening on {emulator.url}\n")
        sys.stdout.flush()
        await stop.wait()


def run(args: argparse.Namespace) -> int:
    logging.basicConfig(
        level=args.log_level.upper(),
        stream=sys.stderr,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    try:
        asyncio.run(serve(config_from_args(args), args.host, args.port))
    except StateFileError as error:
        sys.stderr.write(f"modelarts-operator emulator: {error}\n")
        return 2
    return 0
