"""What the reconcile logic sees of a ModelArtsPool object, and where it sends what it decides."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Protocol

from modelarts_operator.resource.names import PREFIX
from modelarts_operator.resource.spec import ModelArtsPoolSpec

# Written before the first create call and kept: it survives a status wipe, and it is how a restarted operator
# tells its own half-created pool (created after this moment) from somebody else's with the same display name.
ANNOTATION_CREATE_REQUESTED_AT = f"{PREFIX}/create-requested-at"
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


@dataclass(frozen=True)
class PoolObject:
    """A snapshot of one ModelArtsPool object."""

    namespace: str
    name: str
    uid: str
    generation: int
    spec: ModelArtsPoolSpec
    status: Mapping[str, Any] = field(default_factory=dict)
    annotations: Mapping[str, str] = field(default_factory=dict)
    creation_timestamp: str | None = None

    @property
    def key(self) -> str:
        return object_key(self.namespace, self.name)

    @property
    def pool_name(self) -> str | None:
        recorded = self.status.get("poolName")
        return str(recorded) if recorded else None

    @property
    def create_requested_at(self) -> datetime | None:
        return parse_timestamp(self.annotations.get(ANNOTATION_CREATE_REQUESTED_AT))


def object_key(namespace: str, name: str) -> str:
    """The one way to key per-object state (``namespace/name``)."""
    return f"{namespace}/{name}"


class ObjectSink(Protocol):
    """Where the reconcile logic writes; implemented over the Kubernetes API by the handlers."""

    async def record_create_intent(self, when: str) -> None:
        """Durably annotate the object with the moment a create is about to be sent."""

    async def write_status(self, status: Mapping[str, Any]) -> None:
        """Make the object's status equal to ``status`` (writes nothing when it already is)."""

    def event(self, warning: bool, reason: str, message: str) -> None:
        """Post a Kubernetes Event on the object."""


@dataclass(frozen=True)
class DisplayNameClaim:
    """An object that wants a pool with a given display name."""

    key: str
    creation_timestamp: str | None
    has_pool: bool


class Claims(Protocol):
    """Who else manages what, across all ModelArtsPool objects the operator sees."""

    def pool_owners(self, pool_name: str) -> set[str]:
        """Object keys whose status or spec names this pool."""

    def display_name_owners(self, project_id: str, display_name: str) -> list[DisplayNameClaim]:
        """Objects that want (or have) a pool with this display name in this project."""
