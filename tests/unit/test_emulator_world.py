"""The emulator's world and phase machine, driven by a fake clock: every transition, no sleeping."""

from __future__ import annotations

from typing import Any

import pytest

from modelarts_emulator.config import Timings
from modelarts_emulator.errors import ApiError
from modelarts_emulator.labels import parse_label_selector
from modelarts_emulator.world import World, pool_name_for

PROJECT = "0123456789abcdef0123456789abcdef"
FLAVOR = "modelarts.vm.cpu.8ud"


class FakeClock:
    def __init__(self, now: float = 1_700_000_000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def world(clock: FakeClock) -> World:
    return World(
        project_id=PROJECT,
        timings=Timings(create_seconds=10, delete_seconds=10, scale_seconds=4),
        clock=clock,
    )


def body(display: str = "pool-one", count: int = 2, **spec: Any) -> dict[str, Any]:
    result: dict[str, Any] = {
        "apiVersion": "v2",
        "kind": "Pool",
        "metadata": {"labels": {"os.modelarts/name": display}},
        "spec": {
            "type": "Dedicate",
            "scope": ["Train", "Infer"],
            "network": {"name": "net-1"},
            "resources": [{"flavor": FLAVOR, "count": count}],
        },
    }
    result["spec"].update(spec)
    return result


def counts(pool: dict[str, Any], state: str) -> int:
    return sum(item["count"] for item in pool["status"]["resources"].get(state, []))


def create(world: World, **kwargs: Any) -> str:
    name: str = world.create(body(**kwargs))["metadata"]["name"]
    return name


def test_create_answer_has_no_phase_and_server_fields(world: World) -> None:
    pool = world.create(body())
    assert pool["status"] == {"resources": {}}
    metadata = pool["metadata"]
    assert metadata["name"] == f"pool-one-{PROJECT}"
    assert metadata["creationTimestamp"] == "2023-11-14T22:13:20Z"
    assert metadata["labels"]["os.modelarts/workspace.id"] == "0"
    assert metadata["labels"]["os.modelarts/tenant.project.id"] == PROJECT
    assert metadata["labels"]["os.modelarts/resource.id"]
    assert metadata["annotations"]["os.modelarts/billing.mode"] == "0"
    assert pool["spec"]["resources"][0]["maxCount"] == 2  # defaults to count


def test_creating_then_running(world: World, clock: FakeClock) -> None:
    name = create(world)
    pool = world.get(name)
    assert pool["status"]["phase"] == "Creating"
    assert counts(pool, "creating") == 2 and counts(pool, "available") == 0
    assert {s["state"] for s in pool["status"]["scope"]} == {"Enabling"}
    clock.advance(9.9)
    assert world.get(name)["status"]["phase"] == "Creating"
    clock.advance(0.1)
    pool = world.get(name)
    assert pool["status"]["phase"] == "Running"
    assert pool["status"]["resources"] == {"available": [{"flavor": FLAVOR, "count": 2, "maxCount": 2}]}
    assert pool["status"]["scope"] == [
        {"scopeType": "Train", "state": "Enabled"},
        {"scopeType": "Infer", "state": "Enabled"},
    ]


def test_render_does_not_depend_on_settling(world: World, clock: FakeClock) -> None:
    name = create(world)
    clock.advance(11)
    lazy = world.render(world.pools[name])
    world.settle()
    assert world.render(world.pools[name]) == lazy


def test_driver_creating_then_running_and_upgrading(world: World, clock: FakeClock) -> None:
    name = create(world, driver={"gpuVersion": "470.57"})
    assert world.get(name)["status"]["driver"] == {"gpu": {"version": "470.57", "state": "Creating"}}
    clock.advance(10)
    assert world.get(name)["status"]["driver"] == {"gpu": {"version": "470.57", "state": "Running"}}
    world.patch(name, {"spec": {"driver": {"gpuVersion": "535.54"}}})
    assert world.get(name)["status"]["driver"]["gpu"] == {"version": "535.54", "state": "Upgrading"}
    clock.advance(4)
    assert world.get(name)["status"]["driver"]["gpu"] == {"version": "535.54", "state": "Running"}


def test_scale_out_shows_creating_delta_then_available(world: World, clock: FakeClock) -> None:
    name = create(world)
    clock.advance(10)
    pool = world.patch(name, {"spec": {"resources": [{"flavor": FLAVOR, "count": 5}]}})
    assert pool["spec"]["resources"][0]["count"] == 5
    assert pool["status"]["phase"] == "Running"
    assert pool["status"]["resources"]["creating"] == [{"flavor": FLAVOR, "count": 3, "maxCount": 5}]
    assert counts(pool, "available") == 2
    clock.advance(4)
    pool = world.get(name)
    assert pool["status"]["resources"] == {"available": [{"flavor": FLAVOR, "count": 5, "maxCount": 5}]}


def test_scale_in_goes_through_deleting(world: World, clock: FakeClock) -> None:
    name = create(world, count=4)
    clock.advance(10)
    pool = world.patch(name, {"spec": {"resources": [{"flavor": FLAVOR, "count": 1}]}})
    assert counts(pool, "deleting") == 3 and counts(pool, "available") == 1
    clock.advance(4)
    pool = world.get(name)
    assert counts(pool, "deleting") == 0 and counts(pool, "available") == 1


def test_flavor_swap_creates_new_and_deletes_old(world: World, clock: FakeClock) -> None:
    name = create(world)
    clock.advance(10)
    pool = world.patch(name, {"spec": {"resources": [{"flavor": "other", "count": 1}]}})
    assert pool["status"]["resources"]["creating"] == [{"flavor": "other", "count": 1, "maxCount": 1}]
    assert pool["status"]["resources"]["deleting"] == [{"flavor": FLAVOR, "count": 2}]
    clock.advance(4)
    assert world.get(name)["status"]["resources"] == {"available": [{"flavor": "other", "count": 1, "maxCount": 1}]}


def test_scope_enabling_and_disabling(world: World, clock: FakeClock) -> None:
    name = create(world)
    clock.advance(10)
    pool = world.patch(name, {"spec": {"scope": ["Train", "Notebook"]}})
    assert pool["status"]["scope"] == [
        {"scopeType": "Train", "state": "Enabled"},
        {"scopeType": "Infer", "state": "Disabling"},
        {"scopeType": "Notebook", "state": "Enabling"},
    ]
    clock.advance(4)
    assert world.get(name)["status"]["scope"] == [
        {"scopeType": "Train", "state": "Enabled"},
        {"scopeType": "Notebook", "state": "Enabled"},
    ]


def test_delete_snapshot_then_linear_drain_then_gone(world: World, clock: FakeClock) -> None:
    name = create(world, count=4)
    clock.advance(10)
    snapshot = world.delete(name)
    assert snapshot["status"]["phase"] == "Running"
    assert snapshot["metadata"]["deletionTimestamp"]
    assert counts(snapshot, "available") == 4
    seen = []
    for _ in range(4):
        pool = world.get(name)
        assert pool["status"]["phase"] == "Deleting"
        assert counts(pool, "available") == 0
        seen.append(counts(pool, "deleting"))
        clock.advance(2.5)
    assert seen == [4, 3, 2, 1]
    with pytest.raises(ApiError) as gone:
        world.get(name)
    assert (gone.value.status, gone.value.error_code, gone.value.error_msg) == (
        404,
        "ModelArts.50015001",
        "pool not found",
    )
    assert name not in world.pools


def test_second_delete_is_idempotent(world: World, clock: FakeClock) -> None:
    name = create(world)
    world.delete(name)
    clock.advance(1)
    again = world.delete(name)
    assert again["status"]["phase"] == "Deleting"
    clock.advance(9)
    with pytest.raises(ApiError) as gone:
        world.delete(name)
    assert gone.value.status == 404


def test_delete_while_creating_drains_creating_nodes(world: World, clock: FakeClock) -> None:
    name = create(world, count=2)
    snapshot = world.delete(name)
    assert snapshot["status"]["phase"] == "Creating"
    assert counts(world.get(name), "deleting") == 2


def test_duplicate_display_name_conflicts_until_gone(world: World, clock: FakeClock) -> None:
    name = create(world)
    with pytest.raises(ApiError) as conflict:
        world.create(body())
    assert (conflict.value.status, conflict.value.error_code, conflict.value.error_msg) == (
        409,
        "ModelArts.50015000",
        "Pool already exists.",
    )
    world.delete(name)
    with pytest.raises(ApiError):  # a deleting pool still holds its name
        world.create(body())
    clock.advance(10)
    assert world.create(body())["metadata"]["name"] == name


def test_forced_phase_and_failed_filter(world: World, clock: FakeClock) -> None:
    name = create(world)
    clock.advance(10)
    world.force_phase(name, "Error", "node boot failed")
    pool = world.get(name)
    assert pool["status"]["phase"] == "Error" and pool["status"]["message"] == "node boot failed"
    listed = world.list_pools(workspace_id="0", selector=[], status="failed")
    assert [p["metadata"]["name"] for p in listed["items"]] == [name]
    assert world.list_pools(workspace_id="0", selector=[], status="created")["items"] == []
    world.force_phase(name, None, None)
    assert world.get(name)["status"]["phase"] == "Running"


def test_list_status_creating_and_created(world: World, clock: FakeClock) -> None:
    name = create(world)
    assert [
        p["metadata"]["name"] for p in world.list_pools(workspace_id="0", selector=[], status="creating")["items"]
    ] == [name]
    clock.advance(10)
    assert world.list_pools(workspace_id="0", selector=[], status="creating")["items"] == []
    assert len(world.list_pools(workspace_id="0", selector=[], status="created")["items"]) == 1


def test_list_filters_workspace_and_labels(world: World) -> None:
    create(world, display="pool-aaa")
    other = body(display="pool-bbb")
    other["metadata"]["labels"]["os.modelarts/workspace.id"] = "ws-1"
    world.create(other)

    def names(result: dict[str, Any]) -> list[str]:
        return [p["metadata"]["labels"]["os.modelarts/name"] for p in result["items"]]

    assert names(world.list_pools(workspace_id="0", selector=[], status=None)) == ["pool-aaa"]
    assert names(world.list_pools(workspace_id="ws-1", selector=[], status=None)) == ["pool-bbb"]
    selector = parse_label_selector("os.modelarts/name=pool-aaa")
    assert names(world.list_pools(workspace_id="0", selector=selector, status=None)) == ["pool-aaa"]
    selector = parse_label_selector("os.modelarts/name!=pool-aaa")
    assert names(world.list_pools(workspace_id="0", selector=selector, status=None)) == []


def test_label_selector_syntax() -> None:
    assert parse_label_selector("a=1, b!=2,c") == [("a", "=", "1"), ("b", "!=", "2"), ("c", "exists", None)]
    assert parse_label_selector(None) == []
    with pytest.raises(ApiError):
        parse_label_selector("=x")


@pytest.mark.parametrize(
    ("patch", "fragment"),
    [
        ({"metadata": {"labels": {"os.modelarts/name": "pool-new"}}}, "display name"),
        ({"spec": {"type": "Logical"}}, "spec.type"),
        ({"spec": {"network": {"name": "net-2"}}}, "spec.network"),
        (
            {"metadata": {"labels": {"os.modelarts/workspace.id": "ws-1"}}, "spec": {"scope": ["Train"]}},
            "workspace",
        ),
        ({"spec": {"resources": [{"flavor": FLAVOR, "count": 0}]}}, "count"),
        ({"metadata": {"labels": {"os.modelarts/resource.id": "x"}}}, "resource.id"),
    ],
)
def test_patch_rules(world: World, patch: dict[str, Any], fragment: str) -> None:
    name = create(world)
    with pytest.raises(ApiError) as refused:
        world.patch(name, patch)
    assert refused.value.status == 400 and refused.value.error_code == "ModelArts.50004000"
    assert fragment in refused.value.error_msg


def test_patch_workspace_alone_and_merge_semantics(world: World) -> None:
    name = create(world)
    pool = world.patch(name, {"metadata": {"labels": {"os.modelarts/workspace.id": "ws-1"}}})
    assert pool["metadata"]["labels"]["os.modelarts/workspace.id"] == "ws-1"
    pool = world.patch(name, {"metadata": {"annotations": {"os.modelarts/description": "hello"}}})
    assert pool["metadata"]["annotations"]["os.modelarts/description"] == "hello"
    pool = world.patch(name, {"metadata": {"annotations": {"os.modelarts/description": None}}})
    assert "os.modelarts/description" not in pool["metadata"]["annotations"]
    assert pool["metadata"]["labels"]["os.modelarts/name"] == "pool-one"  # untouched keys stay


def test_patch_of_a_deleting_pool_is_refused(world: World) -> None:
    name = create(world)
    world.delete(name)
    with pytest.raises(ApiError) as refused:
        world.patch(name, {"spec": {"scope": ["Train"]}})
    assert refused.value.status == 400


def test_drift_patch_skips_immutability(world: World) -> None:
    name = create(world)
    pool = world.patch(name, {"spec": {"network": {"name": "net-2"}}}, enforce_rules=False)
    assert pool["spec"]["network"] == {"name": "net-2"}


def test_deletion_fail_mode(world: World) -> None:
    name = create(world)
    world.set_deletion_mode(name, "fail", status=403, error_code="ModelArts.0204", error_msg="denied")
    with pytest.raises(ApiError) as refused:
        world.delete(name)
    assert (refused.value.status, refused.value.error_code, refused.value.error_msg) == (
        403,
        "ModelArts.0204",
        "denied",
    )
    world.set_deletion_mode(name, "normal")
    assert world.delete(name)["metadata"]["deletionTimestamp"]


def test_deletion_stall_freezes_drain_until_normal(world: World, clock: FakeClock) -> None:
    name = create(world, count=4)
    clock.advance(10)
    world.delete(name)
    clock.advance(5)  # half drained
    assert counts(world.get(name), "deleting") == 2
    world.set_deletion_mode(name, "stall")
    clock.advance(100)
    pool = world.get(name)
    assert pool["status"]["phase"] == "Deleting" and counts(pool, "deleting") == 2
    world.set_deletion_mode(name, "normal")
    assert counts(world.get(name), "deleting") == 2  # resumes where it stopped
    clock.advance(5)
    with pytest.raises(ApiError):
        world.get(name)


def test_stall_set_before_delete(world: World, clock: FakeClock) -> None:
    name = create(world)
    world.set_deletion_mode(name, "stall")
    world.delete(name)
    clock.advance(1000)
    assert counts(world.get(name), "deleting") == 2


def test_remove_and_reset(world: World) -> None:
    name = create(world)
    world.remove(name)
    with pytest.raises(ApiError):
        world.get(name)
    create(world)
    world.reset()
    assert world.pools == {}


def test_state_round_trip(world: World, clock: FakeClock) -> None:
    name = create(world)
    copy = World(project_id=PROJECT, timings=world.timings, clock=clock)
    copy.load_state(world.to_state())
    assert copy.get(name) == world.get(name)
    clock.advance(10)
    assert copy.get(name)["status"]["phase"] == "Running"


def test_on_change_called_for_mutations_and_settling(clock: FakeClock) -> None:
    calls: list[int] = []
    world = World(project_id=PROJECT, timings=Timings(1, 1, 1), clock=clock, on_change=lambda: calls.append(1))
    name = create(world)
    assert calls
    calls.clear()
    world.settle()
    assert not calls  # nothing finished yet
    clock.advance(1)
    world.settle()
    assert calls
    world.get(name)


def test_pool_names() -> None:
    assert pool_name_for("abcd", PROJECT, []) == f"abcd-{PROJECT}"
    long = "a" * 32
    name = pool_name_for(long, PROJECT, [])
    assert len(name) == 63 and name.endswith(PROJECT)
    clash = pool_name_for("a" * 31, PROJECT, [name])
    assert clash != name and len(clash) <= 63 and clash[0].isalpha() and not clash.endswith("-")
