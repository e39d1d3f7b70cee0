"""deploy/argocd/health.lua, run as Argo CD runs it, on recorded ModelArtsPool objects of every state.

Argo CD embeds gopher-lua (Lua 5.1) with only the base, table, string and math libraries; the test runs the
script in lupa's Lua 5.1 with ``os``, ``io`` and module loading removed, so a script that leans on anything
Argo CD lacks fails here too. Expected results live next to the fixtures in ``expected.yaml``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml
from lupa import lua51

from modelarts_operator.resource.status import ModelArtsPoolStatus

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "deploy" / "argocd" / "health.lua"
FIXTURES = ROOT / "tests" / "fixtures" / "argocd"
EXPECTED: dict[str, dict[str, Any]] = yaml.safe_load((FIXTURES / "expected.yaml").read_text())
ARGO_STATUSES = {"Healthy", "Progressing", "Degraded", "Suspended", "Missing", "Unknown"}


def fixture_names() -> list[str]:
    return sorted(p.stem for p in FIXTURES.glob("*.yaml") if p.name != "expected.yaml")


def to_lua(runtime: Any, value: Any) -> Any:
    """JSON-like Python data as Lua values (lists become 1-based sequences, as in Argo CD)."""
    if isinstance(value, dict):
        return runtime.table_from({k: to_lua(runtime, v) for k, v in value.items()})
    if isinstance(value, list):
        return runtime.table_from([to_lua(runtime, v) for v in value])
    return value


def run_health(obj: dict[str, Any]) -> dict[str, str]:
    runtime = lua51.LuaRuntime(register_eval=False, register_builtins=False)
    sandbox = runtime.globals()
    for unsafe in ("os", "io", "require", "dofile", "loadfile", "package", "debug"):
        sandbox[unsafe] = None
    sandbox.obj = to_lua(runtime, obj)
    result = runtime.execute(SCRIPT.read_text())
    assert result is not None, "health.lua must return a table"
    return {str(k): str(v) for k, v in result.items()}


def load(name: str) -> dict[str, Any]:
    data: dict[str, Any] = yaml.safe_load((FIXTURES / f"{name}.yaml").read_text())
    return data


def test_every_fixture_has_an_expectation_and_back() -> None:
    assert set(fixture_names()) == set(EXPECTED)


def test_every_state_the_brief_names_is_covered() -> None:
    statuses = {spec["status"] for spec in EXPECTED.values()}
    assert statuses == {"Healthy", "Progressing", "Degraded"}
    reasons = set()
    for name in fixture_names():
        for condition in (load(name).get("status") or {}).get("conditions", []):
            reasons.add(condition["reason"])
    assert {
        "Available", "Creating", "Scaling", "Deleting", "Abnormal", "Error", "Pending",
        "Synced", "Updating", "Drifted", "InvalidSpec", "InvalidRequest", "Unauthorized", "Throttled",
        "CloudError", "AdoptionConflict", "DisplayNameTaken",
        "DeletionRequested", "DeletionInProgress", "DeletionStalled",
        "PoolGone", "PoolNotFound", "MalformedResponse",
    } <= reasons  # fmt: skip


@pytest.mark.parametrize("name", fixture_names())
def test_fixture_status_has_the_operators_shape(name: str) -> None:
    """The recorded status parses as the operator's status model and carries no field the model lacks."""
    status = load(name).get("status")
    if status is None:
        return
    parsed = ModelArtsPoolStatus.model_validate(status)
    assert parsed.model_dump(by_alias=True, exclude_unset=True, mode="json") == status


@pytest.mark.parametrize("name", fixture_names())
def test_health(name: str) -> None:
    expected = EXPECTED[name]
    health = run_health(load(name))
    assert health["status"] in ARGO_STATUSES
    assert health["status"] == expected["status"], health
    for fragment in expected["message"]:
        assert fragment in health["message"], health["message"]


def test_stalled_deletion_does_not_repeat_the_cloud_error() -> None:
    message = run_health(load("deletion-stalled"))["message"]
    assert message.count("ModelArts.50015033") == 1


def test_missing_metadata_fields_do_not_break_the_script() -> None:
    """Argo CD may hand over a minimal object (e.g. right after creation); the script must not raise."""
    health = run_health({"apiVersion": "modelarts.operator.dev/v1alpha1", "kind": "ModelArtsPool",
                         "metadata": {"name": "x"}, "status": {"conditions": []}})
    assert health["status"] == "Progressing"


def test_argocd_cm_patch_embeds_the_script_verbatim() -> None:
    """deploy/argocd/argocd-cm-patch.yaml is what users apply; it must run the tested script, not an old copy."""
    patch = yaml.safe_load((ROOT / "deploy" / "argocd" / "argocd-cm-patch.yaml").read_text())
    key = "resource.customizations.health.modelarts.operator.dev_ModelArtsPool"
    assert patch["data"][key] == SCRIPT.read_text(), "stale argocd-cm patch: run `make manifests`"
