"""The alert rules, the Grafana dashboard and /metrics, checked by Prometheus' own tools (built by
`make prometheus` from the Go module proxy; skipped with the reason when they are not built).

- promtool checks and unit-tests the rules file the chart ships (tests/prometheus/alerts_test.yaml);
- the chart renders that same file into its PrometheusRule, and the dashboard JSON into its ConfigMap;
- a real Prometheus scrapes a real operator (real kube-apiserver, the emulator) in an arranged state: pools
  Running and Abnormal, a deletion stalled, one finished, credentials refused, 429s. Every query of the committed
  dashboard then returns data, the alerts that should be pending are (and only those), `promtool check metrics`
  accepts the operator's /metrics, and stopping the operator makes ModelArtsOperatorDown pending.
"""

from __future__ import annotations

import json
import math
import re
import subprocess
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml
from kube import Kubectl, wait_for
from prometheus_tools import PrometheusServer, PrometheusTools

from devcluster import REPO_ROOT, Binaries, DevCluster
from stack import EmulatorProcess, OperatorProcess

CHART = REPO_ROOT / "deploy" / "helm" / "modelarts-operator"
RULES = CHART / "files" / "prometheus-rules.yaml"
RULES_TEST = REPO_ROOT / "tests" / "prometheus" / "alerts_test.yaml"
DASHBOARD = REPO_ROOT / "deploy" / "grafana" / "modelarts-operator.json"
FLAVOR = "modelarts.vm.cpu.8ud"
OPERATOR_NAMESPACE = "modelarts-system"  # the target label a ServiceMonitor would add; the operator's must win
RATE_INTERVAL = "1m"


@pytest.fixture(scope="module")
def tools() -> PrometheusTools:
    found = PrometheusTools.locate()
    if isinstance(found, str):
        pytest.skip(found)
    return found


# --- promtool on the rules file --------------------------------------------------------------------------


def test_promtool_checks_the_rules(tools: PrometheusTools) -> None:
    result = tools.run_promtool("check", "rules", str(RULES))
    assert result.returncode == 0, result.stdout + result.stderr
    assert "SUCCESS: 6 rules found" in result.stdout


def test_promtool_unit_tests_every_alert(tools: PrometheusTools) -> None:
    result = tools.run_promtool("test", "rules", str(RULES_TEST))
    assert result.returncode == 0, result.stdout + result.stderr
    assert "SUCCESS" in result.stdout


@pytest.mark.parametrize(("change", "into"), [
    ("for: 15m", "for: 1m"),  # the deletion alert would page while the operator still waits for progress
    ('phase=~"Abnormal|Error"', 'phase=~"Abnormal"'),
    ("(modelarts_credentials_refused) > 0", "(modelarts_credentials_refused) >= 0"),  # it would always warn
    ("max by (namespace, job) (modelarts_leader) == 0", "min by (namespace, job) (modelarts_leader) == 0"),
])  # fmt: skip
def test_the_alert_unit_tests_catch_a_wrong_rule(
    tools: PrometheusTools, tmp_path: Path, change: str, into: str
) -> None:
    text = RULES.read_text()
    assert change in text
    (tmp_path / "rules.yaml").write_text(text.replace(change, into, 1))
    tests = yaml.safe_load(RULES_TEST.read_text())
    tests["rule_files"] = ["rules.yaml"]
    (tmp_path / "alerts_test.yaml").write_text(yaml.safe_dump(tests, sort_keys=False))
    result = tools.run_promtool("test", "rules", str(tmp_path / "alerts_test.yaml"))
    assert result.returncode != 0, f"the unit tests did not notice {change!r} -> {into!r}"


# --- the chart carries the same files --------------------------------------------------------------------


@pytest.fixture(scope="module")
def helm_template(controlplane_binaries: Binaries, tmp_path_factory: pytest.TempPathFactory) -> Any:
    if controlplane_binaries.helm is None:
        pytest.fail("helm is not built: run `make controlplane`", pytrace=False)
    helm, home = controlplane_binaries.helm, tmp_path_factory.mktemp("helm-home")
    env = {
        "PATH": "/usr/bin:/bin",
        "HOME": str(home),
        "HELM_CONFIG_HOME": str(home / "config"),
        "HELM_CACHE_HOME": str(home / "cache"),
        "HELM_DATA_HOME": str(home / "data"),
    }

    def template(*args: str) -> list[dict[str, Any]]:
        result = subprocess.run(
            [str(helm), "template", "modelarts-operator", str(CHART), "--namespace", OPERATOR_NAMESPACE, *args],
            capture_output=True,
            text=True,
            env=env,
            timeout=120,
            check=False,
        )
        assert result.returncode == 0, result.stderr
        return [doc for doc in yaml.safe_load_all(result.stdout) if doc]

    return template


def test_chart_renders_neither_rule_nor_dashboard_by_default(helm_template: Any) -> None:
    kinds = {(doc["kind"], doc["metadata"]["name"]) for doc in helm_template()}
    assert not [k for k in kinds if k[0] == "PrometheusRule" or k[1].endswith("-dashboard")]


def test_chart_prometheusrule_is_the_rules_file(helm_template: Any, tools: PrometheusTools, tmp_path: Path) -> None:
    base = "https://git.example.com/platform/modelarts-operator/blob/main/"
    docs = helm_template(
        "--set",
        "prometheusRule.enabled=true",
        "--set",
        f"prometheusRule.runbookBaseURL={base}",
        "--set",
        "prometheusRule.alertLabels.team=platform",
        "--set",
        "prometheusRule.labels.release=kube-prometheus-stack",
    )
    (rule,) = [doc for doc in docs if doc["kind"] == "PrometheusRule"]
    assert rule["apiVersion"] == "monitoring.coreos.com/v1"
    assert rule["metadata"]["namespace"] == OPERATOR_NAMESPACE
    assert rule["metadata"]["labels"]["release"] == "kube-prometheus-stack"
    expected = yaml.safe_load(RULES.read_text())
    for group in expected["groups"]:
        for alert in group["rules"]:
            alert["labels"]["team"] = "platform"
            alert["annotations"]["runbook_url"] = base + alert["annotations"]["runbook_url"]
    assert rule["spec"] == expected
    # and what the Prometheus Operator would hand to Prometheus passes promtool too
    (tmp_path / "rendered.yaml").write_text(yaml.safe_dump(rule["spec"]))
    result = tools.run_promtool("check", "rules", str(tmp_path / "rendered.yaml"))
    assert result.returncode == 0, result.stdout + result.stderr


def test_chart_dashboard_configmap_carries_the_committed_json(helm_template: Any, kubectl: Kubectl) -> None:
    docs = helm_template(
        "--set", "grafanaDashboard.enabled=true", "--set", "grafanaDashboard.annotations.grafana_folder=ModelArts"
    )
    (config_map,) = [
        doc for doc in docs if doc["kind"] == "ConfigMap" and doc["metadata"]["name"].endswith("-dashboard")
    ]
    assert config_map["metadata"]["labels"]["grafana_dashboard"] == "1"
    assert config_map["metadata"]["annotations"] == {"grafana_folder": "ModelArts"}
    assert config_map["data"]["modelarts-operator.json"] + "\n" == DASHBOARD.read_text()
    kubectl("create", "namespace", OPERATOR_NAMESPACE, check=False)
    kubectl("apply", "--dry-run=server", "-f", "-", stdin=yaml.safe_dump(config_map))


def test_chart_servicemonitor_keeps_the_operators_namespace_label(helm_template: Any) -> None:
    docs = helm_template("--set", "metrics.serviceMonitor.enabled=true")
    (monitor,) = [doc for doc in docs if doc["kind"] == "ServiceMonitor"]
    assert monitor["spec"]["endpoints"][0]["honorLabels"] is True


# --- a real Prometheus scraping a real operator ----------------------------------------------------------


@pytest.fixture(scope="module")
def emulator(tmp_path_factory: pytest.TempPathFactory) -> Iterator[EmulatorProcess]:
    process = EmulatorProcess.start(
        tmp_path_factory.mktemp("emulator"), create_seconds=1, delete_seconds=2, scale_seconds=1
    )
    yield process
    process.stop()


@pytest.fixture(scope="module")
def operator(
    tmp_path_factory: pytest.TempPathFactory, controlplane: DevCluster, emulator: EmulatorProcess, crd: str
) -> Iterator[OperatorProcess]:
    process = OperatorProcess.configure(
        tmp_path_factory.mktemp("operator"),
        controlplane.kubeconfig,
        emulator,
        base_env=controlplane.env(),
        transition_poll_seconds="0.5",
        stable_poll_seconds="2",
        max_backoff_seconds="2",
        deletion_stall_seconds="2",
        tenant_secrets="true",
        # Only this module's namespaces: an object another module left deleting (its namespace torn down with
        # its credentials Secret, so it rightly stalls) must not raise alerts here.
        namespaces="e2e-prom-*",
    )
    process.start()
    yield process
    process.stop()
    print(process.log.read_text()[-4000:])


@pytest.fixture(scope="module")
def prometheus(
    tools: PrometheusTools, operator: OperatorProcess, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[PrometheusServer]:
    """Scrapes the operator every second, as the chart's ServiceMonitor would (honor_labels, a namespace target
    label), and evaluates the shipped rules every second."""
    config = {
        "global": {"scrape_interval": "1s", "scrape_timeout": "1s", "evaluation_interval": "1s"},
        "rule_files": [str(RULES)],
        "scrape_configs": [
            {
                "job_name": "modelarts-operator",
                "honor_labels": True,
                "static_configs": [
                    {"targets": [f"127.0.0.1:{operator.metrics_port}"], "labels": {"namespace": OPERATOR_NAMESPACE}}
                ],
            }
        ],
    }
    server = PrometheusServer.start(tools.prometheus, tmp_path_factory.mktemp("prometheus"), config)
    # Target discovery sends its first update a few seconds after start: only then is the operator scraped, and
    # a deletion finished before that would leave no increase for the duration panel to show.
    wait_for(lambda: server.query('up{job="modelarts-operator"} == 1'), timeout=60, what="the operator scraped")
    yield server
    server.stop()


@dataclass(frozen=True)
class Arranged:
    namespace: str
    stuck: str  # its deletion stalls


def status(kubectl: Kubectl, namespace: str, name: str) -> dict[str, Any] | None:
    result = kubectl("get", "mapool", name, "-n", namespace, "-o", "json", check=False)
    return (json.loads(result.stdout).get("status") or {}) if result.returncode == 0 else None


def wait_status(kubectl: Kubectl, namespace: str, name: str, predicate: Any, what: str) -> dict[str, Any]:
    def check() -> dict[str, Any] | None:
        current = status(kubectl, namespace, name)
        return current if current is not None and predicate(current) else None

    return wait_for(check, timeout=90, what=f"{namespace}/{name}: {what}")


def condition(current: dict[str, Any], kind: str) -> dict[str, Any]:
    return next((c for c in current.get("conditions") or [] if c["type"] == kind), {})


def pool(
    name: str,
    namespace: str,
    *,
    count: int = 1,
    secret: str = "modelarts-credentials",  # noqa: S107
) -> dict[str, Any]:
    return {
        "apiVersion": "modelarts.operator.dev/v1alpha1",
        "kind": "ModelArtsPool",
        "metadata": {"name": name, "namespace": namespace},
        "spec": {
            "type": "Logical",
            "scope": ["Train"],
            "resources": [{"flavor": FLAVOR, "count": count}],
            "credentialsSecretRef": {"name": secret},
        },
    }


def running(count: int) -> Any:
    return lambda s: s.get("phase") == "Running" and (s.get("nodes") or {}).get("available") == count


@pytest.fixture(scope="module")
def arranged(
    kubectl: Kubectl, emulator: EmulatorProcess, operator: OperatorProcess, prometheus: PrometheusServer
) -> Iterator[Arranged]:
    """Something on every panel: pools Running and Abnormal, a deletion stalled and one finished (after
    Prometheus started, so the duration histogram moves under its eyes), credentials refused, 429s."""
    namespace = f"e2e-prom-{uuid.uuid4().hex[:6]}"
    kubectl("create", "namespace", namespace)
    kubectl.credentials_secret(namespace, "modelarts-credentials", emulator.access_key, emulator.secret_key)
    kubectl.credentials_secret(namespace, "wrong-credentials", "WRONGACCESSKEY000000", "not-the-secret-key")
    # A ModelArtsProject for the project-readiness panel (it serves no namespace: the pools bring their Secret).
    kubectl.apply(
        {
            "apiVersion": "modelarts.operator.dev/v1alpha1",
            "kind": "ModelArtsProject",
            "metadata": {"name": namespace},
            "spec": {
                "projectId": emulator.project_id,
                "region": "cn-north-4",
                "endpoint": emulator.url,
                "credentialsSecretRef": {"namespace": namespace, "name": "modelarts-credentials"},
            },
        }
    )
    kubectl.apply(
        pool("steady", namespace, count=2),
        pool("sick", namespace),
        pool("stuck", namespace),
        pool("done", namespace),
        pool("refused", namespace, secret="wrong-credentials"),
    )
    wait_status(kubectl, namespace, "steady", running(2), "Running with 2 nodes")
    sick = wait_status(kubectl, namespace, "sick", running(1), "Running")
    stuck = wait_status(kubectl, namespace, "stuck", running(1), "Running")
    wait_status(kubectl, namespace, "done", running(1), "Running")

    emulator.control.force_phase(sick["poolName"], "Abnormal", "node lost")
    emulator.control.set_deletion(stuck["poolName"], "stall")
    kubectl("delete", "mapool", "stuck", "done", "-n", namespace, "--wait=false")
    wait_status(kubectl, namespace, "sick", lambda s: s.get("phase") == "Abnormal", "Abnormal")
    wait_status(
        kubectl,
        namespace,
        "refused",
        lambda s: condition(s, "Synced").get("reason") == "Unauthorized",
        "Synced=False Unauthorized",
    )
    wait_status(
        kubectl,
        namespace,
        "stuck",
        lambda s: condition(s, "Deleting").get("reason") == "DeletionStalled",
        "DeletionStalled",
    )
    wait_for(lambda: status(kubectl, namespace, "done") is None, timeout=90, what="done deleted")
    emulator.control.add_fault(
        method="GET", path_regex="/pools", status=429, error_code="APIG.0308", retry_after="0", times=40
    )
    yield Arranged(namespace=namespace, stuck=stuck["poolName"])

    emulator.control.clear_faults()
    emulator.control.set_deletion(stuck["poolName"], "normal")
    kubectl(
        "patch",
        "mapool",
        "refused",
        "-n",
        namespace,
        "--type=merge",
        "-p",
        json.dumps({"spec": {"deletionPolicy": "Retain"}}),
    )  # never created: nothing to delete in the cloud
    kubectl("delete", "mapool", "--all", "-n", namespace, "--wait=false")
    wait_for(
        lambda: not kubectl.json("get", "mapool", "-n", namespace)["items"],
        timeout=120,
        what="the arranged objects gone",
    )
    kubectl("delete", "maproject", namespace, "--ignore-not-found")
    kubectl("delete", "namespace", namespace, "--wait=false")


def dashboard_queries(namespace: str) -> list[tuple[str, str]]:
    """(panel title and refId, expr) of every target of the committed dashboard, with Grafana's variables
    substituted. A trailing ``or vector(0)`` (there so that a panel shows 0 instead of "No data") is dropped:
    the data must come from the operator."""
    board = json.loads(DASHBOARD.read_text())
    queries = []
    for panel in board["panels"]:
        for target in panel.get("targets", []):
            expr = target["expr"].replace("$namespace", namespace).replace("$__rate_interval", RATE_INTERVAL)
            expr = re.sub(r"\s+or\s+vector\(0\)\s*$", "", expr)
            assert "$" not in expr, f"unsubstituted variable in {panel['title']}: {expr}"
            queries.append((f"{panel['title']} [{target['refId']}]", expr))
    return queries


def has_data(result: list[dict[str, Any]]) -> bool:
    return any(not math.isnan(float(sample["value"][1])) for sample in result)


def test_every_dashboard_query_returns_data(arranged: Arranged, prometheus: PrometheusServer) -> None:
    queries = dashboard_queries(arranged.namespace)
    assert len(queries) >= 20
    empty: list[str] = []

    def all_answered() -> bool:
        empty[:] = [f"{title}: {expr}" for title, expr in queries if not has_data(prometheus.query(expr))]
        return not empty

    try:
        wait_for(all_answered, timeout=120, what="every dashboard query to return data", interval=1.0)
    except AssertionError:
        pytest.fail("queries without data:\n" + "\n".join(empty), pytrace=False)
    # The object's namespace, not the scrape target's, is what the per-object series carry (honor_labels).
    stalled = prometheus.query(f'modelarts_pool_deletion_stalled{{namespace="{arranged.namespace}"}}')
    assert [s["metric"]["name"] for s in stalled] == ["stuck"] and stalled[0]["value"][1] == "1"
    phases = {
        s["metric"]["phase"]: s["value"][1]
        for s in prometheus.query(f'modelarts_pools{{namespace="{arranged.namespace}"}} > 0')
    }
    assert phases == {"Running": "1", "Abnormal": "1", "Deleting": "1"}, phases


def active_alerts(prometheus: PrometheusServer) -> dict[str, list[dict[str, str]]]:
    by_name: dict[str, list[dict[str, str]]] = {}
    for alert in prometheus.alerts():
        by_name.setdefault(alert["labels"]["alertname"], []).append(alert["labels"])
    return by_name


def test_the_alerts_for_what_is_wrong_are_pending_and_no_others(
    arranged: Arranged, prometheus: PrometheusServer
) -> None:
    expected = {"ModelArtsPoolDeletionStalled", "ModelArtsPoolAbnormal", "ModelArtsCredentialsRefused"}

    def expected_pending() -> dict[str, list[dict[str, str]]] | None:
        alerts = active_alerts(prometheus)
        return alerts if expected <= set(alerts) else None

    alerts = wait_for(expected_pending, timeout=90, what=f"alerts {sorted(expected)} pending", interval=1.0)
    for name, labels in sorted(alerts.items()):  # shown with -s (docs/operations.md quotes it)
        for one in labels:
            print(f"{name:<30}{ {k: v for k, v in sorted(one.items()) if k != 'alertname'} }")
    assert [(a["namespace"], a["name"]) for a in alerts["ModelArtsPoolDeletionStalled"]] == [
        (arranged.namespace, "stuck")
    ]
    assert [(a["namespace"], a["phase"]) for a in alerts["ModelArtsPoolAbnormal"]] == [(arranged.namespace, "Abnormal")]
    assert {a["namespace"] for a in alerts["ModelArtsCredentialsRefused"]} == {OPERATOR_NAMESPACE}
    # The operator is up and leads; throttling depends on the traffic mix, so it is not asserted either way.
    assert not set(alerts) & {"ModelArtsOperatorDown", "ModelArtsOperatorNoLeader"}


def test_promtool_accepts_the_operators_metrics(
    arranged: Arranged, operator: OperatorProcess, tools: PrometheusTools
) -> None:
    text = operator.metrics()
    for family in (
        "modelarts_pools",
        "modelarts_pool_nodes",
        "modelarts_pool_deletion_stalled",
        "modelarts_pool_deletion_started_timestamp_seconds",
        "modelarts_leader",
        "modelarts_operator_build_info",
        "modelarts_reconcile_errors_total",
    ):
        assert f"\n{family}{{" in text or f"\n{family} " in text, family
    result = tools.run_promtool("check", "metrics", stdin=text)
    assert result.returncode == 0, result.stdout + result.stderr


def test_stopping_the_operator_makes_operator_down_pending(
    arranged: Arranged, operator: OperatorProcess, prometheus: PrometheusServer
) -> None:
    operator.stop()
    try:
        wait_for(
            lambda: "ModelArtsOperatorDown" in active_alerts(prometheus),
            timeout=60,
            what="ModelArtsOperatorDown pending",
            interval=1.0,
        )
    finally:
        operator.start()
    wait_for(
        lambda: "ModelArtsOperatorDown" not in active_alerts(prometheus),
        timeout=60,
        what="ModelArtsOperatorDown gone once the operator is back",
        interval=1.0,
    )
