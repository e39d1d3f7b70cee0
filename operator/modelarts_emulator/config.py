"""The emulator's settings, shared by the CLI, the app factory and the tests."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

# Defaults a developer can use without reading any docs; they are not secrets, they only open a local
# emulator.
DEFAULT_PROJECT_ID = "0123456789abcdef0123456789abcdef"
DEFAULT_ACCESS_KEY = "EMULATORACCESSKEY000"
DEFAULT_SECRET_KEY = "EmulatorSecretKeyForLocalDevelopment0000"  # noqa: S105 - a documented local default
# Huawei's gateway refuses requests whose X-Sdk-Date is further than this from its clock (commonly quoted).
MAX_CLOCK_SKEW_SECONDS = 15 * 60


@dataclass(frozen=True)
class Timings:
    """How long the phase machine's transitions take, in seconds."""

    create_seconds: float = 10.0
    delete_seconds: float = 15.0
    scale_seconds: float = 5.0


@dataclass(frozen=True)
class EmulatorConfig:
    project_id: str = DEFAULT_PROJECT_ID
    # access key -> secret key; every pair is accepted.
    credentials: Mapping[str, str] = field(default_factory=lambda: {DEFAULT_ACCESS_KEY: DEFAULT_SECRET_KEY})
    # When set, `X-Auth-Token: <token>` is accepted instead of a signature (IAM token auth).
    token: str | None = None
    timings: Timings = field(default_factory=Timings)
    state_file: Path | None = None
    max_clock_skew_seconds: float = MAX_CLOCK_SKEW_SECONDS
    # How often the background ticker settles finished transitions (and persists them).
    tick_seconds: float = 1.0
    # The most recorded requests kept; older ones are dropped so long benchmarks do not grow memory.
    max_recorded_requests: int = 10_000
