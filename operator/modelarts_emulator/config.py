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


SECOND_DELETE_MODES = ("ok", "error")
RESOURCES_SHAPES = ("list", "object")
# "Failed records are kept for 3 days" (ListPools, status=failed).
FAILED_RETENTION_SECONDS = 3 * 24 * 3600.0
# Huawei's API gateway locks an access key for 5 minutes after repeated bad signatures.
GATEWAY_LOCKOUT_SECONDS = 5 * 60.0


@dataclass(frozen=True)
class Behaviour:
    """How faithfully (or how helpfully) the emulated ModelArts answers; the defaults are today's cloud."""

    # After a POST the new pool answers 404 to GET and is missing from list for this long (read-after-create lag).
    visibility_delay_seconds: float = 0.0
    # A DELETE of a pool already being deleted: "ok" answers 200 with the pool again, "error" a 400.
    second_delete: str = "ok"
    # status.resources buckets as lists (what the cloud answers) or, when a bucket has one entry, as one object
    # (what Huawei's API reference and SDKs describe).
    resources_shape: str = "list"
    failed_retention_seconds: float = FAILED_RETENTION_SECONDS


@dataclass(frozen=True)
class Gateway:
    """The API gateway in front of ModelArts: access-key lockout and per-user throttling (0 = off)."""

    lockout_after: int = 0
    lockout_seconds: float = GATEWAY_LOCKOUT_SECONDS
    rate_limit_per_minute: int = 0


@dataclass(frozen=True)
class EmulatorConfig:
    project_id: str = DEFAULT_PROJECT_ID
    # access key -> secret key; every pair is accepted.
    credentials: Mapping[str, str] = field(default_factory=lambda: {DEFAULT_ACCESS_KEY: DEFAULT_SECRET_KEY})
    # When set, `X-Auth-Token: <token>` is accepted instead of a signature (IAM token auth).
    token: str | None = None
    timings: Timings = field(default_factory=Timings)
    behaviour: Behaviour = field(default_factory=Behaviour)
    gateway: Gateway = field(default_factory=Gateway)
    state_file: Path | None = None
    max_clock_skew_seconds: float = MAX_CLOCK_SKEW_SECONDS
    # How often the background ticker settles finished transitions (and persists them).
    tick_seconds: float = 1.0
    # The most recorded requests kept; older ones are dropped so long benchmarks do not grow memory.
    max_recorded_requests: int = 10_000
