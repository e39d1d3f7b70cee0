"""``modelarts-operator emulator``: serve the ModelArts emulator until SIGTERM or SIGINT.

The first stdout line is ``listening on http://HOST:PORT`` (flushed), so scripts started with ``--port 0``
learn the port by reading one line.
"""

from __future__ import annotations

import argparse
import asyncio
import ipaddress
import logging
import signal
import sys
from pathlib import Path

from modelarts_emulator.config import (
    DEFAULT_ACCESS_KEY,
    DEFAULT_PROJECT_ID,
    DEFAULT_SECRET_KEY,
    RESOURCES_SHAPES,
    SECOND_DELETE_MODES,
    Behaviour,
    EmulatorConfig,
    Gateway,
    Timings,
)
from modelarts_emulator.server import running_emulator
from modelarts_emulator.state_file import StateFileError


def configure_parser(parser: argparse.ArgumentParser) -> None:
    defaults = Timings()
    parser.add_argument(
        "--host",
        default="127.0.0.1",
        help="address to bind (default 127.0.0.1); anything but a loopback address needs --allow-remote",
    )
    parser.add_argument(
        "--allow-remote",
        action="store_true",
        help="allow a non-loopback --host: the control API (/_emulator/) has no authentication, so anyone who "
        "can reach the port can read the request log and change every pool",
    )
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
        "local development key, see docs/emulator.md)",
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
    behaviour, gateway = Behaviour(), Gateway()
    parser.add_argument(
        "--visibility-delay-seconds",
        type=float,
        default=behaviour.visibility_delay_seconds,
        help="after a POST the new pool answers 404 to GET and is missing from list for this long "
        "(read-after-create lag; default 0)",
    )
    parser.add_argument(
        "--second-delete",
        choices=SECOND_DELETE_MODES,
        default=behaviour.second_delete,
        help="a DELETE of a pool already being deleted: ok = 200 with the pool again, error = 400 (default ok)",
    )
    parser.add_argument(
        "--resources-shape",
        choices=RESOURCES_SHAPES,
        default=behaviour.resources_shape,
        help="status.resources buckets as lists (what the cloud answers) or, when a bucket has one entry, as a "
        "single object (what Huawei's API reference describes) (default list)",
    )
    parser.add_argument(
        "--lockout-after",
        type=int,
        default=gateway.lockout_after,
        help="lock an access key after this many consecutive failed authentications, as Huawei's gateway does "
        "after 5 (default 0 = never)",
    )
    parser.add_argument(
        "--lockout-seconds",
        type=float,
        default=gateway.lockout_seconds,
        help=f"how long a locked access key stays locked (default {gateway.lockout_seconds:g}, the gateway's)",
    )
    parser.add_argument(
        "--rate-limit-per-minute",
        type=int,
        default=gateway.rate_limit_per_minute,
        help="answer 429 APIGW.0308 to a caller's requests beyond this many per minute (default 0 = no limit)",
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
    if args.visibility_delay_seconds < 0 or args.lockout_seconds < 0:
        raise SystemExit("modelarts-operator emulator: durations must not be negative")
    if args.lockout_after < 0 or args.rate_limit_per_minute < 0:
        raise SystemExit(
            "modelarts-operator emulator: --lockout-after and --rate-limit-per-minute must not be negative"
        )
    return EmulatorConfig(
        project_id=args.project_id,
        credentials=dict(zip(access_keys, secret_keys, strict=True)),
        token=args.token,
        timings=Timings(
            create_seconds=args.create_seconds,
            delete_seconds=args.delete_seconds,
            scale_seconds=args.scale_seconds,
        ),
        behaviour=Behaviour(
            visibility_delay_seconds=args.visibility_delay_seconds,
            second_delete=args.second_delete,
            resources_shape=args.resources_shape,
        ),
        gateway=Gateway(
            lockout_after=args.lockout_after,
            lockout_seconds=args.lockout_seconds,
            rate_limit_per_minute=args.rate_limit_per_minute,
        ),
        state_file=args.state_file,
        max_recorded_requests=args.max_recorded_requests,
    )


def check_bind_host(host: str, allow_remote: bool) -> None:
    """Refuse to listen beyond this machine unless asked to: the control API has no authentication."""
    if allow_remote or host == "localhost":
        return
    try:
        loopback = ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        loopback = False  # a host name other than localhost may resolve anywhere
    if not loopback:
        raise SystemExit(
            f"modelarts-operator emulator: --host {host} is not a loopback address; the control API "
            "(/_emulator/) has no authentication, so add --allow-remote if you really want others to reach it"
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
    check_bind_host(args.host, args.allow_remote)
    try:
        asyncio.run(serve(config_from_args(args), args.host, args.port))
    except StateFileError as error:
        sys.stderr.write(f"modelarts-operator emulator: {error}\n")
        return 2
    return 0
