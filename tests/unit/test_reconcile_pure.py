"""Tier 1: the pure parts of the reconcile logic (merge-patch, desired requests, mirroring, conditions, timing)."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from modelarts_operator.controller.status_patch import apply_merge_patch
from modelarts_operator.controller.status_patch import diff_merge_patch as merge_patch
from modelarts_operator.modelarts.models import Pool
from modelarts_operator.reconcile import conditions, desired, mirror
from modelarts_operator.reconcile.sync import stamped
from modelarts_operator.reconcile.timing import Timing
from modelarts_operator.resource.spec import ModelArtsPoolSpec
from modelarts_operator.resource.status import ConditionType, ModelArtsPoolStatus

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=5),
    lambda children: st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=3), children, max_size=3),
    max_leaves=10,
)
json_objects = st.dictionaries(st.text(max_size=3), json_values, max_size=4)


def _without_nulls(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _without_nulls(v) for k, v in value.items() if v is not None}
    return value


@given(json_objects, json_objects)
def test_merge_patch_turns_old_into_new(old: dict[str, Any], new: dict[str, Any]) -> None:
    # Merge-patch cannot express a null inside an object (null means "remove"), so compare without them.
    old, new = _without_nulls(old), _without_nulls(new)
    assert apply_merge_patch(old, merge_patch(old, new)) == new


def test_merge_patch_is_empty_when_equal_and_removes_with_null() -> None:
    assert merge_patch({"a": {"b": 1}}, {"a": {"b": 1}}) == {}
    assert merge_patch({"a": 1, "b": 2}, {"a": 1}) == {"b": None}
    assert merge_patch({"l": [1, 2]}, {"l": [2]}) == {"l": [2]}


SPEC = ModelArtsPoolSpec.model_validate(
    {
        "type": "Dedicate",
        "scope": ["Train"],
        "network": {"name": "net-1"},
        "description": "team a",
        "workspaceId": "ws-1",
        "resources": [{"flavor": "f1", "count": 2}],
        "driver": {"gpuVersion": "535.54", "updateStrategy": "idle"},
    }
)


def pool(**spec: Any) -> Pool:
    base = {
        "type": "Dedicate",
        "scope": ["Train"],
        "resources": [{"flavor": "f1", "count": 2, "maxCount": 2}],
        "driver": {"gpuVersion": "535.54", "updateStrategy": "idle"},
    }
    return Pool.model_validate(
        {
            "metadata": {
                "name": "p-1",
                "labels": {"os.modelarts/name": "pool-a", "os.modelarts/workspace.id": "ws-1"},
                "annotations": {"os.modelarts/description": "team a"},
            },
            "spec": {**base, **spec},
            "status": {"phase": "Running", "resources": {"available": [{"flavor": "f1", "count": 2}]}},
        }
    )


def test_create_body_is_an_on_demand_pool_with_labels() -> None:
    body = desired.create_body(SPEC, "pool-a")
    assert body["apiVersion"] == "v2" and body["kind"] == "Pool"
    assert body["metadata"]["labels"] == {"os.modelarts/name": "pool-a", "os.modelarts/workspace.id": "ws-1"}
    assert body["metadata"]["annotations"]["os.modelarts/billing.mode"] == "0"
    assert body["spec"]["network"] == {"name": "net-1"}
    assert body["spec"]["resources"] == [{"flavor": "f1", "count": 2, "maxCount": 2}]


def test_patch_is_empty_when_pool_matches_and_names_only_what_changed() -> None:
    assert desired.pool_patch(SPEC, pool()) == {}
    assert SPEC.resources is not None
    scaled = SPEC.model_copy(update={"resources": [SPEC.resources[0].model_copy(update={"count": 3})]})
    assert desired.pool_patch(scaled, pool()) == {"spec": {"resources": [{"flavor": "f1", "count": 3, "maxCount": 3}]}}
    assert desired.pool_patch(SPEC, pool(scope=["Train", "Infer"])) == {"spec": {"scope": ["Train"]}}


def test_fields_the_user_left_out_are_not_fought_over() -> None:
    minimal = ModelArtsPoolSpec.model_validate(
        {"type": "Logical", "scope": ["Train"], "resources": [{"flavor": "f1", "count": 2}]}
    )
    assert desired.pool_patch(minimal, pool(jobFlavors=["x"])) == {}


def test_workspace_change_goes_alone() -> None:
    moved = SPEC.model_copy(update={"workspace_id": "ws-2", "scope": ["Infer"]})
    assert desired.pool_patch(moved, pool()) == {"metadata": {"labels": {"os.modelarts/workspace.id": "ws-2"}}}


@pytest.mark.parametrize(
    ("phase", "resources", "ready", "reason"),
    [
        (None, {}, False, "Creating"),
        ("Creating", {"creating": [{"flavor": "f", "count": 2}]}, False, "Creating"),
        ("Running", {"available": [{"flavor": "f", "count": 2}]}, True, "Available"),
        (
            "Running",
            {"available": [{"flavor": "f", "count": 2}], "creating": [{"flavor": "f", "count": 1}]},
            False,
            "Scaling",
        ),
        ("Abnormal", {}, False, "Abnormal"),
        ("Deleting", {"deleting": [{"flavor": "f", "count": 1}]}, False, "Deleting"),
        ("SomethingNew", {}, False, "UnknownPhase"),
        ("CreationFailed", {}, False, "CreationFailed"),
        (
            "Running",
            {"available": [{"flavor": "f", "count": 2}], "creationFailed": [{"flavor": "f", "count": 1}]},
            False,
            "Abnormal",
        ),
    ],
)
def test_readiness_follows_the_phase(phase: str | None, resources: dict[str, Any], ready: bool, reason: str) -> None:
    observed = Pool.model_validate(
        {"metadata": {"name": "p"}, "spec": {"type": "Logical"}, "status": {"phase": phase, "resources": resources}}
    )
    assert mirror.readiness(observed)[:2] == (ready, reason)


def test_mirror_totals_nodes_by_state_and_clears_absent_fields() -> None:
    observed = Pool.model_validate(
        {
            "metadata": {"name": "p", "labels": {"os.modelarts/name": "pool-a"}},
            "spec": {"type": "Logical"},
            "status": {
                "phase": "Deleting",
                "resources": {"deleting": [{"flavor": "f", "count": 2}, {"flavor": "g", "count": 1}]},
            },
        }
    )
    status = ModelArtsPoolStatus(message="old message", driver={"gpu": {"version": "1"}})
    mirror.apply_mirror(status, observed)
    assert status.nodes is not None and status.nodes.model_dump(by_alias=True) == {
        "creating": 0,
        "available": 0,
        "abnormal": 0,
        "deleting": 3,
        "creationFailed": 0,
    }
    assert status.message is None and status.driver is None
    assert mirror.in_transition(observed)


def test_unknown_phases_never_become_a_reason_or_an_unbounded_text() -> None:
    observed = Pool.model_validate(
        {
            "metadata": {"name": "p"},
            "spec": {"type": "Logical"},
            "status": {"phase": "Weird phase " * 100, "message": "m" * 5000},
        }
    )
    ready, reason, message = mirror.readiness(observed)
    assert (ready, reason) == (False, "UnknownPhase") and len(message) <= mirror.MAX_MESSAGE
    status = ModelArtsPoolStatus()
    mirror.apply_mirror(status, observed)
    assert status.phase is not None and len(status.phase) <= mirror.MAX_PHASE
    assert status.message is not None and len(status.message) <= mirror.MAX_MESSAGE


def test_condition_transition_time_moves_only_on_flip() -> None:
    first = conditions.upsert(None, ConditionType.READY, False, "Creating", "", generation=1, now="t1")
    same = conditions.upsert(first, ConditionType.READY, False, "Creating", "still", generation=1, now="t2")
    flipped = conditions.upsert(same, ConditionType.READY, True, "Available", "", generation=1, now="t3")
    assert same[0].last_transition_time == "t1"
    assert flipped[0].last_transition_time == "t3" and len(flipped) == 1


def test_last_sync_time_moves_only_with_a_real_change() -> None:
    before = ModelArtsPoolStatus(phase="Running", last_sync_time="t1")
    assert stamped(before, ModelArtsPoolStatus(phase="Running", last_sync_time="t1"), "t2") == before
    assert stamped(before, ModelArtsPoolStatus(phase="Deleting", last_sync_time="t1"), "t2").last_sync_time == "t2"


def test_timing_backoff_grows_and_is_capped() -> None:
    timing = Timing(transition_seconds=1, max_backoff_seconds=10, jitter=lambda: 1.0)
    assert [timing.backoff(n) for n in (1, 2, 3, 4, 5, 6)] == [1, 2, 4, 8, 10, 10]
    assert timing.backoff(1, at_least=30) == 30
    assert timing.stable_for({"modelarts.operator.dev/poll-interval-seconds": "15"}) == 15
    assert timing.stable_for({"modelarts.operator.dev/poll-interval-seconds": "junk"}) == timing.stable_seconds


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("0.001", 5.0),
        ("1e-9", 5.0),
        ("-3", 60.0),
        ("0", 60.0),
        ("inf", 60.0),
        ("nan", 60.0),
        ("1e12", 3600.0),
        ("120", 120.0),
    ],
)
def test_the_poll_interval_annotation_is_bounded(value: str, expected: float) -> None:
    """A tenant writes it: no hot loop on the shared rate (floor: the transition interval), no pool forgotten."""
    timing = Timing(transition_seconds=5, stable_seconds=60)
    assert timing.stable_for({"modelarts.operator.dev/poll-interval-seconds": value}) == expected


def test_drain_polling_waits_half_the_predicted_rest_and_speeds_up_near_the_end() -> None:
    from modelarts_operator.reconcile.deletion import MAX_DRAIN_POLL_SECONDS, next_drain_check

    # 10 nodes, 2 gone after 20 s: 80 s predicted to go, look again in 40 s.
    assert next_drain_check(initial_nodes=10, nodes_left=8, elapsed_seconds=20, transition=5) == 40
    # Close to the end: the transition interval, so the 404 is seen within one interval.
    assert next_drain_check(initial_nodes=10, nodes_left=1, elapsed_seconds=90, transition=5) == 5
    # A long way off: capped.
    assert (
        next_drain_check(initial_nodes=100, nodes_left=99, elapsed_seconds=60, transition=5) == MAX_DRAIN_POLL_SECONDS
    )
    # No drain seen yet, or no nodes left: nothing to predict from.
    assert next_drain_check(initial_nodes=4, nodes_left=4, elapsed_seconds=30, transition=5) == 5
    assert next_drain_check(initial_nodes=4, nodes_left=0, elapsed_seconds=30, transition=5) == 5
    assert next_drain_check(initial_nodes=0, nodes_left=3, elapsed_seconds=30, transition=5) == 5
