"""``tools.audit_compare``: cloud pools against ModelArtsPool objects, every finding kind and what is not one."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from modelarts_operator.tools.audit_compare import (
    CloudPool,
    FindingKind,
    Inventory,
    PoolObject,
    compare,
    format_age,
    unaudited,
)

NOW = datetime(2024, 6, 1, 12, 0, 0, tzinfo=UTC)
PROJECT = "0123456789abcdef0123456789abcdef"
OTHER = "fedcba9876543210fedcba9876543210"


def cloud(
    name: str, *, phase: str = "Running", nodes: int = 2, age: float = 3600, display: str | None = None
) -> CloudPool:
    return CloudPool(
        project_id=PROJECT,
        name=name,
        display_name=display or name.split("-")[0],
        phase=phase,
        nodes=nodes,
        created=NOW - timedelta(seconds=age),
        workspace_id="0",
    )


def obj(
    name: str,
    pool_name: str | None,
    *,
    namespace: str = "team-a",
    deleting_for: float | None = None,
    project_id: str | None = PROJECT,
    **extra: Any,
) -> PoolObject:
    values: dict[str, Any] = {
        "namespace": namespace,
        "name": name,
        "pool_name": pool_name,
        "project_id": project_id,
        "project": "team-a",
        "display_name": name,
        "workspace_id": None,
        "created": NOW - timedelta(hours=2),
        "deleting_since": None if deleting_for is None else NOW - timedelta(seconds=deleting_for),
        "phase": "Running",
        "last_error": None,
    }
    values.update(extra)
    return PoolObject(**values)


def run(inventory: Inventory, objects: list[PoolObject]) -> list[tuple[FindingKind, str | None, tuple[str, ...]]]:
    return [(f.kind, f.pool, f.objects) for f in compare(inventory, objects, now=NOW, stuck_after_seconds=600)]


def test_every_pool_managed_once_is_clean() -> None:
    inventory = Inventory(pools={PROJECT: [cloud("a-1"), cloud("b-1")]})
    assert run(inventory, [obj("a", "a-1"), obj("b", "b-1", namespace="team-b")]) == []


def test_a_pool_no_object_claims_is_unmanaged_with_its_age_nodes_and_phase() -> None:
    inventory = Inventory(pools={PROJECT: [cloud("a-1"), cloud("leaky-1", phase="Abnormal", nodes=4, age=90061)]})
    findings = compare(inventory, [obj("a", "a-1")], now=NOW, stuck_after_seconds=600)
    assert [(f.kind, f.pool, f.nodes, f.phase, format_age(f.age_seconds)) for f in findings] == [
        (FindingKind.UNMANAGED, "leaky-1", 4, "Abnormal", "1d1h")
    ]
    assert "display name leaky" in findings[0].detail


def test_an_object_still_creating_is_named_as_the_likely_owner() -> None:
    inventory = Inventory(pools={PROJECT: [cloud("fresh-1", display="fresh")]})
    assert run(inventory, [obj("fresh", None)]) == [(FindingKind.UNMANAGED, "fresh-1", ("team-a/fresh",))]


def test_an_object_whose_pool_is_gone_is_missing_unless_it_is_being_deleted() -> None:
    inventory = Inventory(pools={PROJECT: []}, failed={PROJECT: {"failed-1"}})
    findings = compare(
        inventory,
        [obj("a", "a-1"), obj("f", "failed-1"), obj("d", "d-1", deleting_for=30)],
        now=NOW,
        stuck_after_seconds=600,
    )
    assert [(f.kind, f.pool) for f in findings] == [(FindingKind.MISSING, "a-1"), (FindingKind.MISSING, "failed-1")]
    assert "creation failed" in findings[1].detail and "does not list it" in findings[0].detail


def test_a_pool_claimed_by_two_objects_is_reported_once_with_both() -> None:
    inventory = Inventory(pools={PROJECT: [cloud("a-1")]})
    assert run(inventory, [obj("a", "a-1"), obj("copy", "a-1", namespace="team-b")]) == [
        (FindingKind.CLAIMED_TWICE, "a-1", ("team-a/a", "team-b/copy"))
    ]


def test_the_same_pool_name_in_two_projects_is_two_pools() -> None:
    inventory = Inventory(pools={PROJECT: [cloud("a-1")], OTHER: []})
    findings = run(inventory, [obj("a", "a-1"), obj("b", "a-1", project_id=OTHER)])
    assert findings == [(FindingKind.MISSING, "a-1", ("team-a/b",))]


def test_deletions_older_than_the_threshold_are_stuck_with_what_the_cloud_says() -> None:
    inventory = Inventory(pools={PROJECT: [cloud("slow-1", phase="Deleting", nodes=1)]})
    objects = [
        obj("slow", "slow-1", deleting_for=3700, last_error="ModelArts delete failed: HTTP 403"),
        obj("recent", "recent-1", deleting_for=60),
    ]
    findings = compare(inventory, objects, now=NOW, stuck_after_seconds=600)
    assert [(f.kind, f.pool, f.phase, f.nodes, format_age(f.age_seconds)) for f in findings] == [
        (FindingKind.STUCK_DELETING, "slow-1", "Deleting", 1, "1h1m")
    ]
    assert "still listed (Deleting, 1 nodes)" in findings[0].detail and "HTTP 403" in findings[0].detail


def test_objects_in_projects_not_listed_are_not_findings_but_listed_as_unaudited() -> None:
    inventory = Inventory(pools={PROJECT: []})
    objects = [obj("tenant", "t-1", project_id=OTHER)]
    assert run(inventory, objects) == []
    assert [o.key for o in unaudited(inventory, objects)] == ["team-a/tenant"]


def test_object_bodies_are_read_as_the_api_server_returns_them() -> None:
    body: dict[str, Any] = {
        "metadata": {
            "namespace": "ns",
            "name": "p",
            "creationTimestamp": "2024-06-01T10:00:00Z",
            "deletionTimestamp": "2024-06-01T11:00:00Z",
        },
        "spec": {"displayName": "shown", "workspaceId": "ws-1"},
        "status": {"poolName": "shown-1", "project": "team-a", "deletion": {"lastError": "refused"}},
    }
    parsed = PoolObject.from_body(body, {"team-a": PROJECT})
    assert (parsed.pool_name, parsed.project_id, parsed.display_name, parsed.workspace_id, parsed.last_error) == (
        "shown-1",
        PROJECT,
        "shown",
        "ws-1",
        "refused",
    )
    assert parsed.deleting_since == datetime(2024, 6, 1, 11, tzinfo=UTC)
    body["status"]["projectId"] = OTHER
    assert PoolObject.from_body(body, {"team-a": PROJECT}).project_id == OTHER


def test_ages_read_like_kubectl() -> None:
    assert [format_age(s) for s in (None, 5, 61, 3600, 3660, 86400 + 7200)] == ["-", "5s", "1m1s", "1h", "1h1m", "1d2h"]
