"""The real cloud's awkward habits in the emulator's world, driven by a fake clock (no sleeping).

Read-after-create lag, failed creation (kept 3 days under ``status=failed``), prepaid pools that refuse DELETE,
a second DELETE, ``azs`` in status entries, ``maxCount == count`` for physical pools, the documented single-object
bucket shape, and paging of the list.
"""

from __future__ import annotations

from typing import Any

import pytest

from modelarts_emulator.config import Behaviour, Timings
from modelarts_emulator.errors import ApiError
from modelarts_emulator.world import World

PROJECT = "0123456789abcdef0123456789abcdef"
FLAVOR = "modelarts.vm.cpu.8ud"
OTHER_FLAVOR = "modelarts.vm.gpu.t4"
DAY = 24 * 3600.0


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


def make_world(clock: FakeClock, **behaviour: Any) -> World:
    return World(
        project_id=PROJECT,
        timings=Timings(create_seconds=10, delete_seconds=10, scale_seconds=4),
        behaviour=Behaviour(**behaviour),
        clock=clock,
    )


def body(display: str = "pool-one", count: int = 2, pool_type: str = "Logical", **spec: Any) -> dict[str, Any]:
    result: dict[str, Any] = {
        "apiVersion": "v2",
        "kind": "Pool",
        "metadata": {"labels": {"os.modelarts/name": display}},
        "spec": {"type": pool_type, "scope": ["Train"], "resources": [{"flavor": FLAVOR, "count": count}]},
    }
    if pool_type == "Dedicate":
        result["spec"]["network"] = {"name": "net-1"}
    result["spec"].update(spec)
    return result


def refused(call: Any, *args: Any, **kwargs: Any) -> ApiError:
    with pytest.raises(ApiError) as caught:
        call(*args, **kwargs)
    return caught.value


def listed(world: World, status: str | None = None, **paging: Any) -> list[str]:
    answer = world.list_pools(workspace_id="0", selector=[], status=status, **paging)
    return [item["metadata"]["name"] for item in answer["items"]]


# ----- read-after-create lag -----
def test_a_new_pool_is_invisible_for_the_delay_but_still_blocks_its_name(clock: FakeClock) -> None:
    world = make_world(clock, visibility_delay_seconds=5)
    name = world.create(body())["metadata"]["name"]
    missing = refused(world.get, name)
    assert (missing.status, missing.error_code) == (404, "ModelArts.50015001")
    assert listed(world) == [] and listed(world, "creating") == []
    assert refused(world.delete, name).status == 404
    assert refused(world.patch, name, {"spec": {"scope": ["Infer"]}}).status == 404
    duplicate = refused(world.create, body())
    assert (duplicate.status, duplicate.error_code) == (409, "ModelArts.50015000")
    clock.advance(5)
    assert world.get(name)["status"]["phase"] == "Creating"
    assert listed(world) == [name]


def test_console_pools_have_no_lag(clock: FakeClock) -> None:
    world = make_world(clock, visibility_delay_seconds=5)
    name = world.create(body(), console=True)["metadata"]["name"]
    assert world.get(name)["metadata"]["name"] == name


# ----- failed creation -----
def test_failed_creation_leaves_get_and_is_listed_only_as_failed(clock: FakeClock) -> None:
    world = make_world(clock)
    name = world.create(body(count=3))["metadata"]["name"]
    clock.advance(2)
    failed = world.set_creation_mode(name, "fail", "insufficient capacity in cn-north-4a")
    assert refused(world.get, name).status == 404
    assert refused(world.delete, name).status == 404
    assert listed(world) == [] and listed(world, "created") == [] and listed(world, "creating") == []
    (item,) = world.list_pools(workspace_id="0", selector=[], status="failed")["items"]
    assert item == failed
    assert item["metadata"]["name"] == name and item["metadata"]["labels"]["os.modelarts/name"] == "pool-one"
    assert item["status"]["phase"] == "CreationFailed"
    assert item["status"]["message"] == "insufficient capacity in cn-north-4a"
    assert item["status"]["resources"] == {"creationFailed": [{"flavor": FLAVOR, "count": 3, "maxCount": 3}]}


def test_failed_records_are_kept_three_days(clock: FakeClock) -> None:
    world = make_world(clock)
    name = world.create(body())["metadata"]["name"]
    world.set_creation_mode(name, "fail", None)
    clock.advance(3 * DAY - 1)
    assert listed(world, "failed") == [name]
    clock.advance(1)
    assert listed(world, "failed") == []
    assert world.dump() == []


def test_the_display_name_is_free_again_after_a_failed_creation(clock: FakeClock) -> None:
    world = make_world(clock)
    first = world.create(body())["metadata"]["name"]
    world.set_creation_mode(first, "fail", None)
    second = world.create(body())["metadata"]["name"]
    assert second != first and second.endswith(PROJECT) and len(second) <= 63
    assert listed(world) == [second] and listed(world, "failed") == [first]


def test_only_a_creating_pool_can_fail_its_creation(clock: FakeClock) -> None:
    world = make_world(clock)
    name = world.create(body())["metadata"]["name"]
    assert refused(world.set_creation_mode, name, "stall", None).status == 400
    clock.advance(10)
    assert refused(world.set_creation_mode, name, "fail", None).status == 400  # Running already


def test_a_pool_hidden_by_the_lag_can_fail_its_creation(clock: FakeClock) -> None:
    world = make_world(clock, visibility_delay_seconds=30)
    name = world.create(body())["metadata"]["name"]
    world.set_creation_mode(name, "fail", "quota exceeded")
    clock.advance(30)
    assert refused(world.get, name).status == 404
    assert listed(world, "failed") == [name]


# ----- deletion -----
def test_a_prepaid_pool_refuses_delete_and_says_to_unsubscribe(clock: FakeClock) -> None:
    world = make_world(clock)
    prepaid = body()
    prepaid["metadata"]["annotations"] = {
        "os.modelarts/billing.mode": "1",
        "os.modelarts/period.type": "2",
        "os.modelarts/period.num": "1",
    }
    name = world.create(prepaid, ready=True, console=True)["metadata"]["name"]
    error = refused(world.delete, name)
    assert (error.status, error.error_code) == (403, "ModelArts.50015002")
    assert "unsubscribe" in error.error_msg
    assert world.get(name)["status"]["phase"] == "Running"


@pytest.mark.parametrize(("mode", "expected"), [("ok", 200), ("error", 400)])
def test_second_delete(clock: FakeClock, mode: str, expected: int) -> None:
    world = make_world(clock, second_delete=mode)
    name = world.create(body(), ready=True, console=True)["metadata"]["name"]
    world.delete(name)
    clock.advance(2)
    if expected == 200:
        assert world.delete(name)["status"]["phase"] == "Deleting"
    else:
        error = refused(world.delete, name)
        assert (error.status, error.error_code, error.error_msg) == (
            400,
            "ModelArts.50004000",
            "The pool is being deleted.",
        )
    assert world.get(name)["status"]["phase"] == "Deleting"  # either way it keeps going


# ----- status.resources -----
def test_status_entries_carry_azs_when_the_spec_has_them(clock: FakeClock) -> None:
    world = make_world(clock)
    azs = [{"az": "cn-north-4a", "count": 2}, {"az": "cn-north-4b", "count": 1}]
    name = world.create(body(count=3, resources=[{"flavor": FLAVOR, "count": 3, "azs": azs}]))["metadata"]["name"]
    (creating,) = world.get(name)["status"]["resources"]["creating"]
    assert creating["azs"] == azs
    clock.advance(10)
    world.patch(name, {"spec": {"resources": [{"flavor": FLAVOR, "count": 4, "azs": azs}]}})
    resources = world.get(name)["status"]["resources"]
    assert resources["available"][0]["azs"] == azs
    assert resources["creating"][0] == {
        "flavor": FLAVOR,
        "count": 1,
        "maxCount": 4,
        "azs": [{"az": "cn-north-4a", "count": 1}],
    }


def test_no_azs_key_without_azs_in_the_spec(clock: FakeClock) -> None:
    world = make_world(clock)
    name = world.create(body())["metadata"]["name"]
    assert "azs" not in world.get(name)["status"]["resources"]["creating"][0]


def test_resources_as_documented_single_objects(clock: FakeClock) -> None:
    world = make_world(clock, resources_shape="object")
    two = [{"flavor": FLAVOR, "count": 1}, {"flavor": OTHER_FLAVOR, "count": 1}]
    single = world.create(body("pool-single"), ready=True, console=True)["metadata"]["name"]
    double = world.create(body("pool-double", resources=two), ready=True, console=True)["metadata"]["name"]
    assert world.get(single)["status"]["resources"]["available"] == {"flavor": FLAVOR, "count": 2, "maxCount": 2}
    assert isinstance(world.get(double)["status"]["resources"]["available"], list)
    listed_single = next(
        p
        for p in world.list_pools(workspace_id="0", selector=[], status=None)["items"]
        if p["metadata"]["name"] == single
    )
    assert isinstance(listed_single["status"]["resources"]["available"], dict)
    deleting = world.delete(single)  # the DELETE snapshot too
    assert isinstance(deleting["status"]["resources"]["available"], dict)


def test_resources_are_lists_by_default(clock: FakeClock) -> None:
    world = make_world(clock)
    name = world.create(body(), ready=True, console=True)["metadata"]["name"]
    assert world.get(name)["status"]["resources"]["available"] == [{"flavor": FLAVOR, "count": 2, "maxCount": 2}]


# ----- physical pools -----
def test_dedicate_pools_need_max_count_equal_to_count(clock: FakeClock) -> None:
    world = make_world(clock)
    bad = body(pool_type="Dedicate", resources=[{"flavor": FLAVOR, "count": 2, "maxCount": 3}])
    error = refused(world.create, bad)
    assert error.status == 400 and "maxCount must equal count" in error.error_msg
    name = world.create(body(pool_type="Dedicate"), ready=True, console=True)["metadata"]["name"]
    assert (
        refused(world.patch, name, {"spec": {"resources": [{"flavor": FLAVOR, "count": 3, "maxCount": 4}]}}).status
        == 400
    )
    world.patch(name, {"spec": {"resources": [{"flavor": FLAVOR, "count": 3}]}})  # maxCount follows count
    logical = world.create(body("pool-elastic", resources=[{"flavor": FLAVOR, "count": 2, "maxCount": 3}]))
    assert logical["spec"]["resources"][0]["maxCount"] == 3  # Logical pools may grow


# ----- paging -----
def test_pages_cover_the_list_once_in_name_order(clock: FakeClock) -> None:
    world = make_world(clock)
    names = sorted(world.create(body(f"pool-{i:02d}"))["metadata"]["name"] for i in range(7))
    seen: list[str] = []
    token: str | None = None
    pages = 0
    while True:
        answer = world.list_pools(workspace_id="0", selector=[], status=None, limit=3, continue_token=token)
        seen += [item["metadata"]["name"] for item in answer["items"]]
        pages += 1
        token = answer.get("metadata", {}).get("continue")
        if token is None:
            break
    assert seen == names and pages == 3
    assert "metadata" not in world.list_pools(workspace_id="0", selector=[], status=None)


def test_a_bad_or_foreign_continue_token_is_a_400(clock: FakeClock) -> None:
    world = make_world(clock)
    for i in range(3):
        world.create(body(f"pool-{i:02d}"))
    token = world.list_pools(workspace_id="0", selector=[], status=None, limit=1)["metadata"]["continue"]
    for bad in ("not-a-token", "eyJ2IjoyfQ", token[:-3]):
        assert refused(world.list_pools, workspace_id="0", selector=[], status=None, continue_token=bad).status == 400
    other_query = refused(world.list_pools, workspace_id="0", selector=[], status="creating", continue_token=token)
    assert other_query.status == 400 and "different query" in other_query.error_msg
