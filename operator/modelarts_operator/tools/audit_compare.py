"""Cloud pools against cluster objects: the pure half of ``audit`` (no I/O, fed by ``tools.audit``).

An object claims the pool ``(status.projectId, status.poolName)``; ``status.projectId`` is the project the
operator resolved (with ``status.project``, the ModelArtsProject, as the fallback). Findings:

- ``unmanaged``: a pool in an audited project that no object claims — possibly a leak, billed until deleted;
- ``missing``: an object (not being deleted) whose pool the cloud does not list;
- ``claimed-twice``: two or more objects claim the same pool — whichever deletes first takes it from the other;
- ``stuck-deleting``: an object deleted longer than the threshold ago and still there (its finalizer waits for a
  pool that will not go, or for an operator that does not run).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any

from modelarts_operator.modelarts.models import Pool
from modelarts_operator.reconcile.view import parse_timestamp
from modelarts_operator.resource.status import ModelArtsPoolStatus


class FindingKind(StrEnum):
    UNMANAGED = "unmanaged"
    MISSING = "missing"
    CLAIMED_TWICE = "claimed-twice"
    STUCK_DELETING = "stuck-deleting"


@dataclass(frozen=True)
class CloudPool:
    project_id: str
    name: str
    display_name: str | None
    phase: str | None
    nodes: int
    created: datetime | None
    workspace_id: str | None

    @classmethod
    def from_pool(cls, project_id: str, pool: Pool) -> CloudPool:
        resources = pool.status.resources
        nodes = sum(
            item.count
            for bucket in ("creating", "available", "abnormal", "deleting", "creation_failed")
            for item in resources.bucket(bucket)
        )
        return cls(
            project_id=project_id,
            name=pool.name or "",
            display_name=pool.metadata.display_name,
            phase=pool.phase,
            nodes=nodes,
            created=parse_timestamp(pool.metadata.creation_timestamp),
            workspace_id=pool.metadata.workspace_id,
        )


@dataclass(frozen=True)
class PoolObject:
    """What the audit needs of one ModelArtsPool object."""

    namespace: str
    name: str
    pool_name: str | None
    project_id: str | None
    project: str | None
    display_name: str
    workspace_id: str | None
    created: datetime | None
    deleting_since: datetime | None
    phase: str | None
    last_error: str | None

    @property
    def key(self) -> str:
        return f"{self.namespace}/{self.name}"

    @classmethod
    def from_body(cls, body: Mapping[str, Any], project_ids: Mapping[str, str]) -> PoolObject:
        """From the object as the API server returns it; ``project_ids``: ModelArtsProject name → project id.
        Its status is read with the operator's own status model (``ValidationError`` if it cannot be)."""
        metadata = body.get("metadata") or {}
        spec = body.get("spec") or {}
        status = ModelArtsPoolStatus.model_validate(body.get("status") or {})
        project_ref = spec.get("projectRef")
        project = status.project or (project_ref.get("name") if isinstance(project_ref, dict) else None)
        project_id = status.project_id or (project_ids.get(project) if project else None)
        return cls(
            namespace=str(metadata.get("namespace", "")),
            name=str(metadata.get("name", "")),
            pool_name=status.pool_name or None,
            project_id=project_id or None,
            project=project or None,
            display_name=str(spec.get("displayName") or metadata.get("name", "")),
            workspace_id=spec.get("workspaceId"),
            created=parse_timestamp(metadata.get("creationTimestamp")),
            deleting_since=parse_timestamp(metadata.get("deletionTimestamp")),
            phase=status.phase,
            last_error=status.deletion.last_error if status.deletion else None,
        )


@dataclass(frozen=True)
class AuditFinding:
    kind: FindingKind
    project_id: str | None
    pool: str | None
    objects: tuple[str, ...]
    age_seconds: float | None
    nodes: int | None
    phase: str | None
    detail: str


@dataclass
class Inventory:
    """What the cloud said, per audited project id: the pools listed, and the failed creations."""

    pools: dict[str, list[CloudPool]] = field(default_factory=dict)
    failed: dict[str, set[str]] = field(default_factory=dict)


def _age(moment: datetime | None, now: datetime) -> float | None:
    return None if moment is None else max(0.0, (now - moment).total_seconds())


def compare(
    inventory: Inventory, objects: Sequence[PoolObject], *, now: datetime, stuck_after_seconds: float
) -> list[AuditFinding]:
    findings: list[AuditFinding] = []
    claims: dict[tuple[str, str], list[PoolObject]] = defaultdict(list)
    for obj in objects:
        if obj.pool_name and obj.project_id:
            claims[(obj.project_id, obj.pool_name)].append(obj)
    listed = {(project_id, pool.name): pool for project_id, pools in inventory.pools.items() for pool in pools}

    for (project_id, name), pool in sorted(listed.items()):
        if (project_id, name) in claims:
            continue
        # An object still creating has no poolName yet: name it as the likely owner rather than guess silently.
        hopefuls = tuple(
            obj.key
            for obj in objects
            if not obj.pool_name and obj.project_id in (project_id, None) and obj.display_name == pool.display_name
        )
        hint = (
            f"; object {', '.join(hopefuls)} has no status.poolName yet and the same display name" if hopefuls else ""
        )
        findings.append(
            AuditFinding(
                FindingKind.UNMANAGED,
                project_id,
                name,
                hopefuls,
                _age(pool.created, now),
                pool.nodes,
                pool.phase,
                f"no ModelArtsPool object manages it (display name {pool.display_name}): a possible leak, billed until "
                f"deleted{hint}",
            )
        )

    for (project_id, name), owners in sorted(claims.items()):
        claimed = listed.get((project_id, name))
        if len(owners) > 1:
            findings.append(
                AuditFinding(
                    FindingKind.CLAIMED_TWICE,
                    project_id,
                    name,
                    tuple(sorted(obj.key for obj in owners)),
                    _age(claimed.created, now) if claimed else None,
                    claimed.nodes if claimed else None,
                    claimed.phase if claimed else None,
                    "several objects record this pool: deleting any one of them deletes it for all",
                )
            )
        if claimed is not None or project_id not in inventory.pools:
            continue
        for obj in owners:
            if obj.deleting_since is not None:
                continue  # gone is what a deletion waits for; stuck deletions are reported below
            failed = name in inventory.failed.get(project_id, set())
            why = (
                "its creation failed (listed only under status=failed)"
                if failed
                else "the cloud does not list it: deleted outside the cluster, or not visible yet"
            )
            findings.append(
                AuditFinding(
                    FindingKind.MISSING,
                    project_id,
                    name,
                    (obj.key,),
                    _age(obj.created, now),
                    None,
                    obj.phase,
                    f"the object records this pool, but {why}",
                )
            )

    for obj in objects:
        waited = _age(obj.deleting_since, now)
        if waited is None or waited < stuck_after_seconds:
            continue
        draining = listed.get((obj.project_id or "", obj.pool_name or ""))
        cloud = (
            f"the pool is still listed ({draining.phase}, {draining.nodes} nodes)"
            if draining is not None
            else "the pool is not listed"
            if obj.project_id in inventory.pools
            else "its project was not audited"
        )
        error = f"; last error: {obj.last_error}" if obj.last_error else ""
        findings.append(
            AuditFinding(
                FindingKind.STUCK_DELETING,
                obj.project_id,
                obj.pool_name,
                (obj.key,),
                waited,
                draining.nodes if draining else None,
                draining.phase if draining else obj.phase,
                f"deletion requested {format_age(waited)} ago and the object is still there; {cloud}{error}",
            )
        )
    return findings


def unaudited(inventory: Inventory, objects: Sequence[PoolObject]) -> list[PoolObject]:
    """Objects with a pool in a project the audit could not list (tenant Secrets, an unknown project)."""
    return [obj for obj in objects if obj.pool_name and obj.project_id not in inventory.pools]


def format_age(seconds: float | None) -> str:
    if seconds is None:
        return "-"
    seconds = int(seconds)
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size:
            major, rest = divmod(seconds, size)
            minor = {"d": (rest // 3600, "h"), "h": (rest // 60, "m"), "m": (rest, "s")}[unit]
            return f"{major}{unit}{minor[0]}{minor[1]}" if minor[0] else f"{major}{unit}"
    return f"{seconds}s"
