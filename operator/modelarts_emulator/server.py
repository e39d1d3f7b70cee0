"""The app factory, and ``running_emulator`` to start and stop one (tests, the CLI, ``make demo``).

async with running_emulator(EmulatorConfig(timings=Timings(0.5, 0.5, 0.5))) as emu:
    emu.url, emu.project_id, emu.access_key, emu.secret_key
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass

from aiohttp import web

from modelarts_emulator import api, control, state_file
from modelarts_emulator.auth import Verifier
from modelarts_emulator.config import EmulatorConfig
from modelarts_emulator.context import STATE_KEY, EmulatorState
from modelarts_emulator.faults import FaultBook
from modelarts_emulator.gateway import AccessGate
from modelarts_emulator.recorder import Recorder
from modelarts_emulator.world import Clock, World

logger = logging.getLogger(__name__)


def build_state(config: EmulatorConfig, clock: Clock = time.time) -> EmulatorState:
    world = World(project_id=config.project_id, timings=config.timings, behaviour=config.behaviour, clock=clock)
    if config.state_file is not None:
        saved = state_file.load(config.state_file)
        if saved is not None:
            world.load_state(saved)
        path = config.state_file
        world.on_change = lambda: state_file.save(path, world.to_state())
    verifier = Verifier(
        credentials=dict(config.credentials),
        token=config.token,
        max_clock_skew_seconds=config.max_clock_skew_seconds,
    )
    return EmulatorState(
        config=config,
        world=world,
        faults=FaultBook(),
        recorder=Recorder(config.max_recorded_requests),
        verifier=verifier,
        gate=AccessGate(verifier, config.gateway),
    )


async def _tick(state: EmulatorState) -> None:
    """Settle finished transitions now and then, so the state file and ``/_emulator/pools`` keep up even when
    nobody calls the API (requests settle lazily on their own)."""
    while True:
        await asyncio.sleep(state.config.tick_seconds)
        try:
            state.world.settle()
        except Exception:  # never let the ticker die: the API still works without it
            logger.exception("emulator ticker failed")


def build_app(state: EmulatorState) -> web.Application:
    # client_max_size: pool bodies are small; the limit only guards against mistakes.
    app = web.Application(middlewares=[api.middleware], client_max_size=1024 * 1024)
    app[STATE_KEY] = state
    api.add_routes(app)
    control.add_routes(app)

    async def ticker(app: web.Application) -> AsyncIterator[None]:
        task = asyncio.create_task(_tick(state))
        yield
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task

    app.cleanup_ctx.append(ticker)
    return app


@dataclass
class RunningEmulator:
    url: str
    state: EmulatorState

    @property
    def config(self) -> EmulatorConfig:
        return self.state.config

    @property
    def project_id(self) -> str:
        return self.state.config.project_id

    @property
    def access_key(self) -> str:
        return next(iter(self.state.config.credentials))

    @property
    def secret_key(self) -> str:
        return self.state.config.credentials[self.access_key]

    @property
    def world(self) -> World:
        return self.state.world


@contextlib.asynccontextmanager
async def running_emulator(
    config: EmulatorConfig | None = None,
    *,
    host: str = "127.0.0.1",
    port: int = 0,
    clock: Clock = time.time,
    access_log: bool = False,
) -> AsyncIterator[RunningEmulator]:
    """Serve an emulator on ``host:port`` (port 0 = a free one) for the duration of the ``async with``."""
    state = build_state(config or EmulatorConfig(), clock)
    # A short shutdown_timeout: requests held by a delay fault must not keep a stopping emulator alive for 60 s.
    runner = web.AppRunner(
        build_app(state),
        access_log=logging.getLogger("aiohttp.access") if access_log else None,
        shutdown_timeout=2.0,
    )
    await runner.setup()
    try:
        site = web.TCPSite(runner, host, port)
        await site.start()
        bound_host, bound_port = runner.addresses[0][:2]
        shown_host = f"[{bound_host}]" if ":" in bound_host else bound_host
        yield RunningEmulator(url=f"http://{shown_host}:{bound_port}", state=state)
    finally:
        await runner.cleanup()
