"""What ships besides the code: the CRD copies, the chart's static facts, the examples, the kustomize base.

Rendering the chart needs helm, which `make controlplane` builds; those checks live in tests/e2e/test_chart.py.
"""

from __future__ import annotations

import json
import re
import tomllib
from pathlib import Path
from typing import Any

import pytest
import yaml

from modelarts_operator.resource import crd, names
from modelarts_operator.resource.project import ModelArtsProjectSpec
from modelarts_operator.resource.spec import ModelArtsPoolSpec

ROOT = Path(__file__).resolve().parents[2]
CRD_NAME = "modelarts.operator.dev_modelartspools.yaml"
CHART = ROOT / "deploy" / "helm" / "modelarts-operator"
MANIFESTS = ROOT / "deploy" / "manifests"
EXAMPLES = ROOT / "examples"


def test_committed_crd_is_what_the_models_generate() -> None:
    assert (ROOT / "crds" / CRD_NAME).read_text() == crd.render_yaml(), "stale CRD: run `make crds`"


def test_chart_crd_is_byte_identical_to_the_top_level_crd() -> None:
    assert (CHART / "crds" / CRD_NAME).read_bytes() == (ROOT / "crds" / CRD_NAME).read_bytes(), (
        "the chart's CRD differs from crds/: run `make crds`"
    )


def test_kustomize_base_carries_the_same_crd_and_lists_existing_files() -> None:
    assert (MANIFESTS / CRD_NAME).read_bytes() == (ROOT / "crds" / CRD_NAME).read_bytes(), (
        "deploy/manifests is stale: run `make manifests`"
    )
    kustomization = yaml.safe_load((MANIFESTS / "kustomization.yaml").read_text())
    for resource in kustomization["resources"]:
        assert (MANIFESTS / resource).is_file(), resource
    rendered = (MANIFESTS / "modelarts-operator.yaml").read_text()
    assert "helm.sh/hook" not in rendered, "hooks have no meaning outside Helm"


def test_chart_and_package_versions_agree() -> None:
    chart = yaml.safe_load((CHART / "Chart.yaml").read_text())
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    assert chart["apiVersion"] == "v2"
    assert str(chart["appVersion"]) == project["version"], "the image tag defaults to appVersion"


def test_default_values_keep_the_hardening_the_schema_demands() -> None:
    values = yaml.safe_load((CHART / "values.yaml").read_text())
    schema = json.loads((CHART / "values.schema.json").read_text())
    # Every top-level value is declared in the schema (it refuses unknown ones).
    assert set(values) <= set(schema["properties"])
    assert schema["additionalProperties"] is False
    container = values["securityContext"]
    assert container["runAsNonRoot"] is True
    assert container["readOnlyRootFilesystem"] is True
    assert container["allowPrivilegeEscalation"] is False
    assert container["capabilities"]["drop"] == ["ALL"]
    assert container["seccompProfile"]["type"] == "RuntimeDefault"
    assert container["runAsUser"] == 65532
    pod = values["podSecurityContext"]
    assert pod["runAsNonRoot"] is True and pod["runAsUser"] == 65532
    assert pod["seccompProfile"]["type"] == "RuntimeDefault"
    assert schema["properties"]["securityContext"]["properties"]["readOnlyRootFilesystem"]["const"] is True


def test_settings_the_chart_sets_exist_in_the_operator() -> None:
    """Every MODELARTS_* variable the Deployment template sets is a field of OperatorSettings."""
    from modelarts_operator.settings import OperatorSettings

    template = (CHART / "templates" / "deployment.yaml").read_text()
    env_names = set(re.findall(r"name: (MODELARTS_[A-Z_]+)", template))
    fields = {f"MODELARTS_{name.upper()}" for name in OperatorSettings.model_fields}
    assert env_names, "the Deployment sets no settings?"
    assert env_names <= fields, env_names - fields


def load_examples() -> dict[str, dict[str, Any]]:
    return {p.name: yaml.safe_load(p.read_text()) for p in sorted(EXAMPLES.glob("*.yaml"))}


@pytest.mark.parametrize("name", [n for n, doc in load_examples().items() if doc["kind"] == names.KIND])
def test_example_pools_use_only_fields_the_crd_knows(name: str) -> None:
    doc = load_examples()[name]
    assert doc["apiVersion"] == names.API_VERSION
    spec = ModelArtsPoolSpec.model_validate(doc["spec"])
    # Round trip: a field the model does not know would be dropped (and pruned by the API server).
    assert spec.model_dump(by_alias=True, exclude_unset=True, mode="json") == doc["spec"]


def test_example_credentials_are_placeholders() -> None:
    secret = load_examples()["credentials-secret.yaml"]
    assert secret["kind"] == "Secret"
    data = secret["stringData"]
    assert set(data) == {"accessKey", "secretKey"}
    for value in data.values():
        assert "fake" in value.lower(), "example credentials must be obviously fake"


def test_examples_cover_the_documented_cases() -> None:
    pools = {n: d["spec"] for n, d in load_examples().items() if d["kind"] == names.KIND}
    assert pools["pool.yaml"]["type"] == "Logical"
    assert pools["pool.yaml"]["resources"][0]["flavor"].startswith("modelarts.vm.cpu.")
    # Tenants name neither credentials nor a project: the ModelArtsProject serving their namespace does.
    assert "credentialsSecretRef" not in pools["pool.yaml"] and "projectId" not in pools["pool.yaml"]
    assert pools["dedicated-pool.yaml"]["type"] == "Dedicate" and "network" in pools["dedicated-pool.yaml"]
    assert "driver" in pools["dedicated-pool.yaml"]
    assert "poolName" in pools["adopt.yaml"] and pools["adopt.yaml"]["managementPolicy"] == "ObserveOnly"
    project = load_examples()["project.yaml"]
    assert project["kind"] == names.PROJECT_KIND
    assert (
        ModelArtsProjectSpec.model_validate(project["spec"]).credentials_secret_ref.name
        == (load_examples()["credentials-secret.yaml"]["metadata"]["name"])
    )


def test_argocd_registration_is_documented_with_the_real_key() -> None:
    page = (ROOT / "docs" / "argocd.md").read_text()
    assert "resource.customizations.health.modelarts.operator.dev_ModelArtsPool" in page
    operator_app, pools_app = yaml.safe_load_all((ROOT / "deploy" / "argocd" / "application.yaml").read_text())
    assert operator_app["kind"] == pools_app["kind"] == "Application"
    assert operator_app["spec"]["source"]["path"] == "deploy/helm/modelarts-operator"
    values = operator_app["spec"]["source"]["helm"]["valuesObject"]
    chart_values = yaml.safe_load((CHART / "values.yaml").read_text())
    assert set(values) <= set(chart_values), "the example sets values the chart does not have"
    assert pools_app["spec"]["syncPolicy"]["automated"]["prune"] is False, "pruning would delete cloud pools"
