"""Fakes and helpers for driving the reconcile logic against the emulator without Kubernetes.

A recording sink stands in for the object: it applies status writes as the API server would (merge-patch) and
keeps the annotations and Events, so each test can replay what a restarted operator would see.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from modelarts_operator.controller.sink import status_wire
from modelarts_operator.controller.status_patch import apply_merge_patch, diff_merge_patch
from modelarts_operator.modelarts import errors
from modelarts_operator.modelarts.client import ModelArtsClient
from modelarts_operator.modelarts.models import Pool
from modelarts_operator.reconcile import recovery
from modelarts_operator.reconcile.binding import Binding, CredentialsKind, CredentialsRef
from modelarts_operator.reconcile.timing import Timing
from modelarts_operator.reconcile.view import (
    DisplayNameClaim,
    PoolObject,
    Sighting,
    parse_timestamp,
)
from modelarts_operator.resource.project import Adoption
from modelarts_operator.resource.spec import ModelArtsPoolSpec
from modelarts_operator.resource.status import ModelArtsPoolStatus

TIMING = Timing(
    transition_seconds=0.2, stable_seconds=60, max_backoff_seconds=2, deletion_stall_seconds=1.0, jitter=lambda: 0.5
)


class RecordingSink:
    def __init__(self) -> None:
        self.status: dict[str, Any] = {}
        self.annotations: dict[str, str] = {}
        self.events: list[tuple[bool, str, str]] = []
        self.status_writes = 0

    async def write_status(self, status: ModelArtsPoolStatus) -> None:
        patch = diff_merge_patch(self.status, status_wire(status))
        if patch:
            self.status_writes += 1
            self.status = apply_merge_patch(self.status, patch)

    async def turn(self) -> None:
        return None

    def event(self, warning: bool, reason: str, message: str) -> None:
        self.events.append((warning, reason, message))

    def reasons(self) -> list[str]:
        return [reason for _, reason, _ in self.events]

    def condition(self, condition_type: str) -> dict[str, Any]:
        return next(c for c in self.status.get("conditions", []) if c["type"] == condition_type)


class GetReader:
    """The ``PoolReader`` without a shared list: every look is a GET (what the operator falls back to)."""

    def __init__(self, client: ModelArtsClient) -> None:
        self._client = client

    async def look(self, name: str) -> Sighting:
        return Sighting(await self.confirm(name), confirmed=True)

    async def confirm(self, name: str) -> Pool | None:
        try:
            return await self._client.get_pool(name)
        except errors.PoolNotFound:
            return None

    async def failed(self, name: str) -> Pool | None:
        failed = await self._client.list_pools(status=recovery.LIST_STATUS_FAILED)
        return next((pool for pool in failed if pool.name == name), None)

    async def listed(self, name: str, display_name: str) -> Pool | None:
        return await recovery.find_listed(self._client, display_name, name, workspace_id=None)

    def wrote(self, name: str, *, read_back: bool) -> None:
        pass


BINDING = Binding(
    endpoint="http://emulator",
    project_id="p",
    credentials=CredentialsRef(CredentialsKind.TENANT_SECRET),
    adoption=Adoption.FULL,
)


class StaticClaims:
    def __init__(
        self, pools: Mapping[str, set[str]] | None = None, display: Mapping[str, list[DisplayNameClaim]] | None = None
    ) -> None:
        self._pools = pools or {}
        self._display = display or {}

    def pool_owners(self, pool_name: str) -> set[str]:
        return set(self._pools.get(pool_name, set()))

    def display_name_owners(self, project_id: str, display_name: str) -> list[DisplayNameClaim]:
        return list(self._display.get(display_name, []))


SPEC = {
    "type": "Logical",
    "scope": ["Train"],
    "resources": [{"flavor": "modelarts.vm.cpu.8ud", "count": 2}],
}


def make_object(
    sink: RecordingSink, spec: Mapping[str, Any] = SPEC, *, name: str = "team-a-pool", generation: int = 1
) -> PoolObject:
    return PoolObject(
        namespace="ml",
        name=name,
        uid="uid-1",
        generation=generation,
        spec=ModelArtsPoolSpec.model_validate(dict(spec)),
        status=ModelArtsPoolStatus.model_validate(sink.status),
        annotations=dict(sink.annotations),
        creation_timestamp=parse_timestamp("2026-01-01T00:00:00Z"),
    )
