"""What every request handler of one emulator instance shares."""

from __future__ import annotations

from dataclasses import dataclass

from aiohttp import web

from modelarts_emulator.auth import Verifier
from modelarts_emulator.config import EmulatorConfig
from modelarts_emulator.faults import FaultBook
from modelarts_emulator.gateway import AccessGate
from modelarts_emulator.recorder import Recorder
from modelarts_emulator.world import World


@dataclass
class EmulatorState:
    config: EmulatorConfig
    world: World
    faults: FaultBook
    recorder: Recorder
    verifier: Verifier
    gate: AccessGate


STATE_KEY = web.AppKey("emulator_state", EmulatorState)
