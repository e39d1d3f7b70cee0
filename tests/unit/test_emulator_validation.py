"""Create-body validation: what ModelArts refuses, with the ModelArts code and a message naming the field."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from modelarts_emulator.errors import ApiError
from modelarts_emulator.merge_patch import apply_merge_patch
from modelarts_emulator.validation import validate_pool_document

VALID: dict[str, Any] = {
    "apiVersion": "v2",
    "kind": "Pool",
    "metadata": {"labels": {"os.modelarts/name": "pool-one"}},
    "spec": {
        "type": "Dedicate",
        "scope": ["Train"],
        "network": {"name": "net-1"},
        "resources": [{"flavor": "modelarts.vm.cpu.8ud", "count": 1}],
    },
}


def changed(path: str, value: Any) -> dict[str, Any]:
    body = copy.deepcopy(VALID)
    *parents, last = path.split(">")
    node = body
    for key in parents:
        node = node[key]
    if value is ...:
        del node[last]
    else:
        node[last] = value
    return body


def test_valid_body_is_normalized() -> None:
    result = validate_pool_document(VALID, creating=True)
    assert result["spec"]["resources"][0]["maxCount"] == 1
    assert "maxCount" not in VALID["spec"]["resources"][0]  # input untouched


def test_logical_pool_needs_no_network() -> None:
    body = changed("spec>type", "Logical")
    del body["spec"]["network"]
    validate_pool_document(body, creating=True)


@pytest.mark.parametrize(
    ("body", "fragment"),
    [
        (changed("apiVersion", "v1"), "apiVersion"),
        (changed("kind", "Pools"), "kind"),
        (changed("metadata>labels", {}), "os.modelarts/name is required"),
        (changed("metadata>labels>os.modelarts/name", "abc"), "4 to 32"),
        (changed("spec>type", "Dedicated"), "spec.type"),
        (changed("spec>scope", []), "spec.scope"),
        (changed("spec>scope", ["Train", "Play"]), "spec.scope"),
        (changed("spec>resources", []), "spec.resources"),
        (changed("spec>resources", [{"count": 1}]), "flavor"),
        (changed("spec>resources", [{"flavor": "f", "count": 0}]), "count"),
        (changed("spec>resources", [{"flavor": "f", "count": True}]), "count"),
        (changed("spec>resources", [{"flavor": "f", "count": 2, "maxCount": 1}]), "maxCount"),
        (changed("spec>network", ...), "spec.network is required"),
        (changed("spec>driver", {"updateStrategy": "now"}), "updateStrategy"),
        (changed("metadata>annotations", {"os.modelarts/description": "a<b"}), "description"),
        (changed("metadata>annotations", {"os.modelarts/billing.mode": "1"}), "period"),
        ([1, 2], "JSON object"),
    ],
)
def test_invalid_bodies(body: Any, fragment: str) -> None:
    with pytest.raises(ApiError) as refused:
        validate_pool_document(body, creating=True)
    assert refused.value.status == 400
    assert refused.value.error_code == "ModelArts.50004000"
    assert fragment in refused.value.error_msg


@pytest.mark.parametrize("name", ["Pool-one", "1pool", "pool-", "pool_one", "a" * 33])
def test_display_name_pattern(name: str) -> None:
    body = copy.deepcopy(VALID)
    body["metadata"]["labels"]["os.modelarts/name"] = name
    with pytest.raises(ApiError):
        validate_pool_document(body, creating=True)


def test_apply_merge_patch_rfc7386_examples() -> None:
    # From RFC 7386 appendix A.
    assert apply_merge_patch({"a": "b"}, {"a": "c"}) == {"a": "c"}
    assert apply_merge_patch({"a": "b"}, {"b": "c"}) == {"a": "b", "b": "c"}
    assert apply_merge_patch({"a": "b"}, {"a": None}) == {}
    assert apply_merge_patch({"a": [{"b": "c"}]}, {"a": [1]}) == {"a": [1]}
    assert apply_merge_patch({"a": {"b": "c"}}, {"a": {"b": "d", "c": None}}) == {"a": {"b": "d"}}
    assert apply_merge_patch(["a", "b"], ["c", "d"]) == ["c", "d"]
    assert apply_merge_patch({"a": "foo"}, "bar") == "bar"
    assert apply_merge_patch({"e": None}, {"a": 1}) == {"e": None, "a": 1}
    assert apply_merge_patch({}, {"a": {"bb": {"ccc": None}}}) == {"a": {"bb": {}}}
    original = {"a": {"b": 1}}
    apply_merge_patch(original, {"a": {"b": 2}})
    assert original == {"a": {"b": 1}}
