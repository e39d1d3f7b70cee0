"""What the reconcile logic sees of a ModelArtsPool object and of the cloud, and where it sends what it decides.

The handlers build a :class:`PoolObject` (typed spec and status) and hand in three ports: an :class:`ObjectSink`
(status, Events, the create intent), :class:`Claims` (who else manages what) and a :class:`PoolReader` (the
pool as the project's shared list shows it, or a GET when the list cannot answer).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Protocol

from modelarts_operator.modelarts.models import Pool
from modelarts_operator.resource.names import PREFIX
from modelarts_operator.resource.spec import ModelArtsPoolSpec
from modelarts_operator.resource.status import ModelArtsPoolStatus

# Per-object override of the stable poll interval.
ANNOTATION_POLL_INTERVAL = f"{PREFIX}/poll-interval-seconds"


def utc_now() -> datetime:
    return datetime.now(UTC)


def timestamp(moment: datetime) -> str:
    """RFC 3339 in UTC with a Z, second precision: the format Kubernetes uses for conditions."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def parse_timestamp(text: str | None) -> datetime | None:
    if not text:
        return None
    try:
        parsed = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def object_key(namespace: str, name: str) -> str:
    """The one way to key per-object state (``namespace/name``)."""
    return f"{namespace}/{name}"


@dataclass(frozen=True)
class PoolObject:
    """A snapshot of one ModelArtsPool object."""

    namespace: str
    name: str
    uid: str
    generation: int
    spec: ModelArtsPoolSpec
    status: ModelArtsPoolStatus = field(default_factory=ModelArtsPoolStatus)
    annotations: Mapping[str, str] = field(default_factory=dict)
    creation_timestamp: datetime | None = None

    @property
    def key(self) -> str:
        return object_key(self.namespace, self.name)

    @property
    def pool_name(self) -> str | None:
        return self.status.pool_name or None

    @property
    def create_requested_at(self) -> datetime | None:
        """When a create was first about to be sent, if ever (``status.createRequestedAt``, which only the
        operator writes); never earlier than the object itself, so even a forged status cannot make an older pool
        look like ours."""
        written = parse_timestamp(self.status.create_requested_at)
        if written is None:
            return None
        if self.creation_timestamp is not None and written < self.creation_timestamp:
            return self.creation_timestamp
        return written


class ObjectSink(Protocol):
    """Where the reconcile logic writes; implemented over the Kubernetes API by the controller."""

    async def write_status(self, status: ModelArtsPoolStatus) -> None:
        """Make the object's status equal to ``status`` (writes nothing when it already is)."""

    async def turn(self) -> None:
        """Wait until a write is welcome (other objects' deletion steps may go first); a step calls it before a
        look whose answer it is about to write, so that the answer is fresh when written."""

    def event(self, warning: bool, reason: str, message: str) -> None:
        """Post a Kubernetes Event on the object."""


@dataclass(frozen=True)
class DisplayNameClaim:
    """An object that wants a pool with a given display name."""

    key: str
    creation_timestamp: str | None
    has_pool: bool
    project_id: str | None = None  # the ModelArts project it uses, once known (None: not yet resolved)


class Claims(Protocol):
    """Who else manages what, across all ModelArtsPool objects the operator sees."""

    def pool_owners(self, pool_name: str) -> set[str]:
        """Object keys whose status or spec names this pool."""

    def display_name_owners(self, project_id: str, display_name: str) -> list[DisplayNameClaim]:
        """Objects that want (or have) a pool with this display name in this project."""


@dataclass(frozen=True)
class Sighting:
    """What the cloud shows of one pool: ``pool`` is ``None`` when it is not there. ``confirmed``: a GET said so
    (the list alone may lag behind, or have been read before our own last write)."""

    pool: Pool | None
    confirmed: bool


class PoolReader(Protocol):
    """The pools of one (endpoint, project, workspace) as the operator sees them."""

    async def look(self, name: str) -> Sighting:
        """The pool from the shared list when it can answer, else from a GET."""

    async def confirm(self, name: str) -> Pool | None:
        """A GET: the pool, or ``None`` when ModelArts says it does not exist (404 ``ModelArts.50015001``)."""

    async def failed(self, name: str) -> Pool | None:
        """The pool among the failed creations (``GET /pools?status=failed``), if it is there."""

    async def listed(self, name: str, display_name: str) -> Pool | None:
        """The pool in a list taken now (a GET may lag behind the list, or the other way round)."""

    def wrote(self, name: str, *, read_back: bool) -> None:
        """The operator just changed this pool: list answers read before now are stale for it; ``read_back``:
        the next ``look`` is a GET."""
