"""deploy/argocd/argocd-cm-patch.yaml judged by Argo CD's own engine, on recorded ModelArtsPool objects of every state.

The engine is tools/argocd-health (`make argocd-health`): Argo CD's settings manager reads the patched argocd-cm
into resource overrides, and gitops-engine's health.GetResourceHealth runs the Lua check as the application
controller does — gopher-lua without the standard libraries (no ``string``) unless useOpenLibs is set, and for an
object being deleted the script's ``deletionMessage`` or else "Pending deletion". Every fixture goes through one
process. Expected results live next to the fixtures in ``expected.yaml``.

lupa (a sandboxed PUC Lua 5.1) is no longer used: its sandbox keeps ``string`` and it knows nothing of Argo CD's
deletion handling, so it passed a script that Argo CD showed as Unknown. What it could add — paths no fixture
reaches — is covered by the static check below instead.
"""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from argocd_health import EngineNotBuilt, Verdict, engine, judge
from modelarts_operator.resource.status import ModelArtsPoolStatus

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "deploy" / "argocd" / "health.lua"
PATCH = ROOT / "deploy" / "argocd" / "argocd-cm-patch.yaml"
HEALTH_KEY = "resource.customizations.health.modelarts.operator.dev_ModelArtsPool"
FIXTURES = ROOT / "tests" / "fixtures" / "argocd"
EXPECTED: dict[str, dict[str, Any]] = yaml.safe_load((FIXTURES / "expected.yaml").read_text())
ARGO_STATUSES = {"Healthy", "Progressing", "Degraded", "Suspended", "Missing", "Unknown"}


def fixture_names() -> list[str]:
    return sorted(p.stem for p in FIXTURES.glob("*.yaml") if p.name != "expected.yaml")


def load(name: str) -> dict[str, Any]:
    data: dict[str, Any] = yaml.safe_load((FIXTURES / f"{name}.yaml").read_text())
    return data


@pytest.fixture(scope="module")
def binary() -> Path:
    try:
        return engine()
    except EngineNotBuilt as exc:
        pytest.skip(str(exc))


@pytest.fixture(scope="module")
def verdicts(binary: Path) -> dict[str, Verdict]:
    names = fixture_names()
    return dict(zip(names, judge([load(name) for name in names], binary=binary), strict=True))


def write_patch(path: Path, script: str, **extra: str) -> Path:
    """An argocd-cm merge patch with ``script`` as the ModelArtsPool health check (and ``extra`` data keys)."""
    path.write_text(yaml.safe_dump({"data": {HEALTH_KEY: script, **extra}}))
    return path


def test_every_fixture_has_an_expectation_and_back() -> None:
    assert set(fixture_names()) == set(EXPECTED)


def test_every_state_the_operator_reports_is_covered() -> None:
    statuses = {spec["status"] for spec in EXPECTED.values()}
    assert statuses == {"Healthy", "Progressing", "Degraded"}
    reasons = set()
    for name in fixture_names():
        for condition in (load(name).get("status") or {}).get("conditions", []):
            reasons.add(condition["reason"])
    assert {
        "Available", "Creating", "Scaling", "Deleting", "Abnormal", "Error", "Pending", "CreationFailed",
        "UnknownPhase", "PoolGone",
        "Synced", "ObserveOnly", "Updating", "Drifted", "InvalidSpec", "InvalidRequest", "Unauthorized", "Throttled",
        "CloudError", "AdoptionConflict", "AdoptionForbidden", "DisplayNameTaken", "NotBound", "ProjectNotFound",
        "DeletionRequested", "DeletionInProgress", "DeletionStalled",
        "PoolNotFound", "MalformedResponse",
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
def test_health(name: str, verdicts: dict[str, Verdict]) -> None:
    expected, verdict = EXPECTED[name], verdicts[name]
    assert verdict.error is None, verdict
    assert verdict.status in ARGO_STATUSES
    assert verdict.status == expected["status"], verdict
    for fragment in expected["message"]:
        assert fragment in verdict.message, verdict.message


def test_a_pool_being_deleted_keeps_the_scripts_verdict(verdicts: dict[str, Verdict]) -> None:
    """Argo CD 3.6 replaces the verdict on an object with a deletionTimestamp by "Pending deletion" unless the script
    sets deletionMessage; a stalled deletion must still read as Degraded, with the nodes left."""
    deleted = [name for name in fixture_names() if load(name)["metadata"].get("deletionTimestamp")]
    assert len(deleted) >= 8
    for name in deleted:
        assert not verdicts[name].message.startswith("Pending deletion"), (name, verdicts[name])
    assert verdicts["deletion-stalled-no-progress"].status == "Degraded"


def test_stalled_deletion_does_not_repeat_the_cloud_error(verdicts: dict[str, Verdict]) -> None:
    assert verdicts["deletion-stalled"].message.count("ModelArts.50015033") == 1


def test_missing_metadata_fields_do_not_break_the_script(binary: Path) -> None:
    """Argo CD may hand over a minimal object (e.g. right after creation); the script must not raise."""
    (verdict,) = judge(
        [
            {
                "apiVersion": "modelarts.operator.dev/v1alpha1",
                "kind": "ModelArtsPool",
                "metadata": {"name": "x"},
                "status": {"conditions": []},
            }
        ],
        binary=binary,
    )
    assert verdict == Verdict(status="Progressing", message="Waiting for the operator to report the pool's status")


def test_the_script_needs_none_of_luas_standard_libraries() -> None:
    """Argo CD runs argocd-cm checks with only the base and table functions (useOpenLibs is not set, so admins need
    no exception): a reference to string, math, os, io... or a method call on a string would raise in Argo CD on
    whatever path reaches it, including paths no fixture exercises."""
    code = re.sub(r'"(?:[^"\\\n]|\\.)*"', '""', SCRIPT.read_text())  # string literals
    code = re.sub(r"--.*", "", code)  # comments
    assert re.findall(r"\b(string|math|os|io|debug|coroutine|utf8|package)\s*[.\[]", code) == []
    assert re.findall(r"\b(require|load|loadstring|dofile|loadfile|print)\s*\(", code) == []
    assert re.findall(r"[\w)\]]:\w+\s*\(", code) == [], "method calls on strings need the string library"


def test_the_engine_withholds_the_string_library_unless_use_open_libs_is_set(binary: Path, tmp_path: Path) -> None:
    """The harness reproduces Argo CD's sandbox through its settings manager, so a check that needs `string`
    is Unknown unless resource.customizations.useOpenLibs.<group>_<kind> is "true"."""
    script = 'return {status = "Healthy", message = string.format("%d nodes", 2)}'
    obj = load("running")
    (closed,) = judge([obj], patch=write_patch(tmp_path / "closed.yaml", script), binary=binary)
    assert closed.status == "Unknown", closed
    assert closed.error is not None
    opened = write_patch(
        tmp_path / "open.yaml",
        script,
        **{"resource.customizations.useOpenLibs.modelarts.operator.dev_ModelArtsPool": "true"},
    )
    assert judge([obj], patch=opened, binary=binary) == [Verdict(status="Healthy", message="2 nodes")]


def test_the_engine_shows_pending_deletion_without_a_deletion_message(binary: Path, tmp_path: Path) -> None:
    """Why the script sets deletionMessage: without it Argo CD 3.6 shows any object being deleted as Progressing."""
    patch = write_patch(tmp_path / "plain.yaml", 'return {status = "Degraded", message = "stuck"}')
    (verdict,) = judge([load("deletion-stalled")], patch=patch, binary=binary)
    assert verdict == Verdict(
        status="Progressing", message="Pending deletion; blocked by finalizers: modelarts.operator.dev/pool-deletion"
    )


def test_the_engine_reads_what_kubectl_prints(binary: Path) -> None:
    """`kubectl get mapool -o json` (a List) and a single YAML object work as input, as docs/argocd.md shows."""
    obj = load("running")
    for stdin in (
        json.dumps({"apiVersion": "v1", "kind": "List", "items": [obj, obj]}),
        (FIXTURES / "running.yaml").read_text(),
    ):
        result = subprocess.run(
            [str(binary), "-argocd-cm-patch", str(PATCH)],
            input=stdin,
            capture_output=True,
            text=True,
            check=True,
            timeout=60,
        )
        verdicts = json.loads(result.stdout)
        assert verdicts and {v["status"] for v in verdicts} == {"Healthy"}, verdicts


def test_argocd_cm_patch_embeds_the_script_verbatim() -> None:
    """deploy/argocd/argocd-cm-patch.yaml is what users apply; it must run the tested script, not an old copy, and
    need nothing else (no useOpenLibs)."""
    patch = yaml.safe_load(PATCH.read_text())
    assert patch["data"][HEALTH_KEY] == SCRIPT.read_text(), "stale argocd-cm patch: run `make manifests`"
    assert set(patch["data"]) == {HEALTH_KEY}
