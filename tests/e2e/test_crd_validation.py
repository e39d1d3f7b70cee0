"""Bad manifests are refused by the real API server (schema + CEL), with a message naming the field.

No operator runs here: refusing happens before anything could reach the cloud.
"""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest
from kube import Kubectl

ROOT = Path(__file__).resolve().parents[2]

GOOD: dict[str, Any] = {
    "apiVersion": "modelarts.operator.dev/v1alpha1",
    "kind": "ModelArtsPool",
    "metadata": {"name": "valid-pool"},
    "spec": {
        "type": "Dedicate",
        "scope": ["Train"],
        "network": {"name": "net-1"},
        "resources": [{"flavor": "modelarts.vm.gpu.t4", "count": 2}],
    },
}


def variant(**changes: Any) -> dict[str, Any]:
    manifest = copy.deepcopy(GOOD)
    for path, value in changes.items():
        *parents, leaf = path.split("__")
        node = manifest
        for part in parents:
            node = node[part]
        if value is _DELETE:
            node.pop(leaf)
        else:
            node[leaf] = value
    return manifest


_DELETE = object()

# (id, manifest, text that must appear in the API server's refusal)
BAD_MANIFESTS = [
    ("dedicated-typo", variant(spec__type="Dedicated"), "spec.type"),
    ("dedicate-without-network", variant(spec__network=_DELETE), "spec.network is required for Dedicate pools"),
    ("logical-with-network", variant(spec__type="Logical"), "Logical pools have no network"),
    ("empty-scope", variant(spec__scope=[]), "spec.scope"),
    ("unknown-scope", variant(spec__scope=["Training"]), "spec.scope[0]"),
    ("duplicate-scope", variant(spec__scope=["Train", "Train"]), "spec.scope[1]"),
    ("no-resources", variant(spec__resources=[]), "spec.resources"),
    ("zero-count", variant(spec__resources=[{"flavor": "f", "count": 0}]), "spec.resources[0].count"),
    ("missing-flavor", variant(spec__resources=[{"count": 1}]), "spec.resources[0].flavor"),
    (
        "max-below-count",
        variant(spec__resources=[{"flavor": "f", "count": 3, "maxCount": 2}]),
        "maxCount must be at least count",
    ),
    (
        "azs-do-not-add-up",
        variant(spec__resources=[{"flavor": "f", "count": 3, "azs": [{"az": "cn-north-4a", "count": 1}]}]),
        "the counts in azs must add up to count",
    ),
    (
        "duplicate-flavor",
        variant(spec__resources=[{"flavor": "f", "count": 1}, {"flavor": "f", "count": 2}]),
        "spec.resources[1]",
    ),
    ("bad-update-strategy", variant(spec__driver={"updateStrategy": "now"}), "spec.driver.updateStrategy"),
    ("bad-deletion-policy", variant(spec__deletionPolicy="Orphan"), "spec.deletionPolicy"),
    ("display-name-too-short", variant(spec__displayName="abc"), "spec.displayName"),
    ("display-name-uppercase", variant(spec__displayName="Team-Pool"), "spec.displayName"),
    ("description-forbidden-chars", variant(spec__description="a <b> pool"), "spec.description"),
    ("bad-endpoint", variant(spec__endpoint="modelarts.example.com"), "spec.endpoint"),
    ("bad-region", variant(spec__region="CN North 4"), "spec.region"),
    ("bad-secret-name", variant(spec__credentialsSecretRef={"name": "Not_A_Secret"}), "spec.credentialsSecretRef.name"),
    ("bad-pool-name", variant(spec__poolName="Pool_1"), "spec.poolName"),
    ("name-not-a-display-name", variant(metadata__name="x"), "set spec.displayName"),
    ("nothing-to-create", variant(spec__type=_DELETE, spec__network=_DELETE), "type, scope and resources are required"),
    (
        "dedicate-elastic",
        variant(spec__resources=[{"flavor": "f", "count": 2, "maxCount": 3}]),
        "Dedicate (physical) pools need maxCount equal to count",
    ),
    ("adopt-without-policy", variant(spec__poolName="legacy-pool-0123"), "needs spec.managementPolicy"),
    (
        "observe-only-without-pool",
        variant(spec__managementPolicy="ObserveOnly"),
        "managementPolicy ObserveOnly needs spec.poolName",
    ),
    (
        "bad-management-policy",
        variant(spec__poolName="legacy-pool-0123", spec__managementPolicy="Sometimes"),
        "spec.managementPolicy",
    ),
    (
        "project-and-endpoint",
        variant(spec__projectRef={"name": "team-a"}, spec__endpoint="https://e.example.com"),
        "takes projectId, region, endpoint and credentials from it",
    ),
    (
        "project-and-secret",
        variant(spec__projectRef={"name": "team-a"}, spec__credentialsSecretRef={"name": "mine"}),
        "takes projectId, region, endpoint and credentials from it",
    ),
    (
        "endpoint-with-userinfo",
        variant(spec__endpoint="https://user:pw@modelarts.x.myhuaweicloud.com"),
        "spec.endpoint",
    ),
]

PROJECT: dict[str, Any] = {
    "apiVersion": "modelarts.operator.dev/v1alpha1",
    "kind": "ModelArtsProject",
    "metadata": {"name": "bad-project"},
    "spec": {
        "projectId": "0123456789abcdef0123456789abcdef",
        "region": "cn-north-4",
        "credentialsSecretRef": {"namespace": "modelarts-system", "name": "team-a"},
    },
}

BAD_PROJECTS = [
    ("no-credentials", {"credentialsSecretRef": None}, "spec.credentialsSecretRef"),
    ("no-region", {"region": None}, "spec.region"),
    ("bad-adoption", {"adoption": "Always"}, "spec.adoption"),
    ("bad-endpoint", {"endpoint": "ftp://modelarts.example.com"}, "spec.endpoint"),
    (
        "exists-with-values",
        {"namespaceSelector": {"matchExpressions": [{"key": "team", "operator": "Exists", "values": ["a"]}]}},
        "values must be given for In and NotIn",
    ),
    (
        "in-without-values",
        {"namespaceSelector": {"matchExpressions": [{"key": "team", "operator": "In"}]}},
        "values must be given for In and NotIn",
    ),
    (
        "bad-operator",
        {"namespaceSelector": {"matchExpressions": [{"key": "team", "operator": "Matches", "values": ["a"]}]}},
        "operator",
    ),
]


@pytest.mark.usefixtures("crd")
@pytest.mark.parametrize(("manifest", "expected"), [pytest.param(m, e, id=i) for i, m, e in BAD_MANIFESTS])
def test_bad_manifest_is_refused_with_the_field_named(
    kubectl: Kubectl, namespace: str, manifest: dict[str, Any], expected: str
) -> None:
    manifest = {**manifest, "metadata": {**manifest["metadata"], "namespace": namespace}}
    result = kubectl("apply", "-f", "-", stdin=json.dumps(manifest), check=False)
    assert result.returncode != 0, f"accepted: {manifest}"
    assert expected in result.stderr, result.stderr
    assert kubectl("get", "mapool", "-n", namespace, "-o", "name").stdout.strip() == ""


@pytest.mark.usefixtures("crd")
@pytest.mark.parametrize(("changes", "expected"), [pytest.param(c, e, id=i) for i, c, e in BAD_PROJECTS])
def test_bad_project_is_refused_with_the_field_named(kubectl: Kubectl, changes: dict[str, Any], expected: str) -> None:
    spec = {k: v for k, v in {**PROJECT["spec"], **changes}.items() if v is not None}
    result = kubectl("apply", "-f", "-", stdin=json.dumps({**PROJECT, "spec": spec}), check=False)
    assert result.returncode != 0, f"accepted: {spec}"
    assert expected in result.stderr, result.stderr
    assert kubectl("get", "maproject", "bad-project", check=False).returncode != 0


@pytest.mark.usefixtures("crd")
def test_good_manifest_is_accepted_with_defaults(kubectl: Kubectl, namespace: str) -> None:
    kubectl("apply", "-f", "-", stdin=json.dumps({**GOOD, "metadata": {"name": "valid-pool", "namespace": namespace}}))
    spec = kubectl.json("get", "mapool", "valid-pool", "-n", namespace)["spec"]
    assert spec["deletionPolicy"] == "Delete" and spec["deletionProtection"] is False


@pytest.mark.usefixtures("crd")
def test_immutable_fields_refused_once_the_pool_exists(kubectl: Kubectl, namespace: str) -> None:
    kubectl("apply", "-f", "-", stdin=json.dumps({**GOOD, "metadata": {"name": "valid-pool", "namespace": namespace}}))
    # Before a pool exists the type may still be corrected...
    kubectl(
        "patch",
        "mapool",
        "valid-pool",
        "-n",
        namespace,
        "--type=merge",
        "-p",
        json.dumps({"spec": {"type": "Dedicate", "displayName": "renamed-pool"}}),
    )
    # ...once the operator has recorded a pool, type, network and display name are fixed.
    kubectl(
        "patch",
        "mapool",
        "valid-pool",
        "-n",
        namespace,
        "--subresource=status",
        "--type=merge",
        "-p",
        json.dumps({"status": {"poolName": "renamed-pool-0123"}}),
    )
    for patch, field in [
        ({"spec": {"type": "Logical", "network": None}}, "spec.type is immutable"),
        ({"spec": {"network": {"name": "net-2"}}}, "spec.network is immutable"),
        ({"spec": {"displayName": "other-name"}}, "spec.displayName is immutable"),
        ({"spec": {"region": "cn-north-4"}}, "spec.region is immutable"),
        ({"spec": {"projectId": "another-project"}}, "spec.projectId is immutable"),
        ({"spec": {"endpoint": "https://modelarts.example.com"}}, "spec.endpoint is immutable"),
        (
            {"spec": {"poolName": "another-pool-0123", "managementPolicy": "ObserveOnly"}},
            "spec.poolName can only be set when the object is created",
        ),
        ({"spec": {"projectRef": {"name": "elsewhere"}}}, "spec.projectRef is immutable"),
    ]:
        result = kubectl(
            "patch", "mapool", "valid-pool", "-n", namespace, "--type=merge", "-p", json.dumps(patch), check=False
        )
        assert result.returncode != 0 and field in result.stderr, result.stderr
    # Scaling stays possible.
    kubectl(
        "patch",
        "mapool",
        "valid-pool",
        "-n",
        namespace,
        "--type=merge",
        "-p",
        json.dumps({"spec": {"resources": [{"flavor": "modelarts.vm.gpu.t4", "count": 5}]}}),
    )


@pytest.mark.usefixtures("crd")
def test_kubectl_explain_shows_the_descriptions(kubectl: Kubectl) -> None:
    text = kubectl("explain", "modelartspool.spec.resources").stdout
    assert "Node flavors and counts of the pool" in text
    assert "maxCount" in text and "Elastic upper bound" in text


@pytest.mark.usefixtures("crd")
def test_short_name_and_category(kubectl: Kubectl, namespace: str) -> None:
    kubectl("apply", "-f", "-", stdin=json.dumps({**GOOD, "metadata": {"name": "valid-pool", "namespace": namespace}}))
    assert "valid-pool" in kubectl("get", "mapool", "-n", namespace).stdout
    assert "valid-pool" in kubectl("get", "modelarts", "-n", namespace).stdout


@pytest.mark.usefixtures("crd")
def test_project_names_and_printer_columns(kubectl: Kubectl) -> None:
    kubectl("apply", "-f", "-", stdin=json.dumps({**PROJECT, "metadata": {"name": "columns-project"}}))
    header = kubectl("get", "maproject", "columns-project").stdout.splitlines()[0].split()
    assert header == ["NAME", "PROJECT", "REGION", "READY", "POOLS", "AGE"]
    assert "columns-project" in kubectl("get", "modelarts").stdout, "in the modelarts category"
    assert "Forbidden" in kubectl("get", "maproject", "columns-project", "-o", "jsonpath={.spec.adoption}").stdout
    text = kubectl("explain", "modelartsproject.spec.namespaceSelector").stdout
    assert "Namespaces whose ModelArtsPools this project serves" in text
    kubectl("delete", "maproject", "columns-project")
