"""The Grafana dashboard and the alert rules against the code: the committed JSON is what tools/dashboard.py
generates (both copies), and every metric a panel or an alert asks for is one the operator exports.

What the queries return is tested against a real Prometheus in tests/e2e/test_prometheus.py.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
import yaml
from prometheus_client.parser import text_string_to_metric_families

import dashboard
from modelarts_operator.metrics import Metrics, NodeCounts, PoolReport

ROOT = Path(__file__).resolve().parents[2]
RULES = ROOT / "deploy" / "helm" / "modelarts-operator" / "files" / "prometheus-rules.yaml"
METRIC = re.compile(r"\bmodelarts_[a-z_]+")
KNOWN_VARIABLES = {"$namespace", "$__rate_interval"}


def exported_names() -> set[str]:
    """Every sample name /metrics can carry, with every per-object series present."""
    metrics = Metrics()
    metrics.observer("get", "200", 0.1)
    metrics.count_reconcile_error("sync")
    metrics.report_pool("ns", "a", PoolReport(phase="Deleting", nodes=NodeCounts(deleting=1), deletion_started=1.0))
    metrics.set_project_ready("p", True)
    return {
        sample.name for family in text_string_to_metric_families(metrics.render().decode()) for sample in family.samples
    }


def targets(board: dict[str, Any]) -> list[tuple[str, str]]:
    return [(panel["title"], target["expr"]) for panel in board["panels"] for target in panel.get("targets", [])]


@pytest.mark.parametrize("path", dashboard.OUTPUTS, ids=lambda p: str(p.relative_to(ROOT)))
def test_committed_dashboard_is_what_the_generator_makes(path: Path) -> None:
    assert path.read_text() == dashboard.render(), f"stale {path.relative_to(ROOT)}: run `make dashboard`"


def test_every_panel_queries_the_datasource_variable_with_known_variables() -> None:
    board = json.loads(dashboard.render())
    assert board["uid"] == "modelarts-operator"
    panels = [panel for panel in board["panels"] if panel["type"] != "row"]
    assert len({panel["id"] for panel in board["panels"]}) == len(board["panels"])
    for panel in panels:
        assert panel["datasource"] == {"type": "prometheus", "uid": "${datasource}"}, panel["title"]
        assert panel.get("targets"), panel["title"]
    for title, expr in targets(board):
        assert set(re.findall(r"\$\w+", expr)) <= KNOWN_VARIABLES, (title, expr)


def test_panels_and_alerts_ask_only_for_exported_metrics() -> None:
    exported = exported_names()
    board_metrics = {name for _, expr in targets(json.loads(dashboard.render())) for name in METRIC.findall(expr)}
    rules = yaml.safe_load(RULES.read_text())
    rule_metrics = {
        name for group in rules["groups"] for rule in group["rules"] for name in METRIC.findall(rule["expr"])
    }
    assert board_metrics - exported == set()
    assert rule_metrics - exported == set()
    # and the dashboard shows every family
    families = {re.sub(r"_(bucket|count|sum|total|created)$", "", name) for name in exported}
    shown = {re.sub(r"_(bucket|count|sum|total|created)$", "", name) for name in board_metrics}
    assert families - shown == set()


def test_every_alert_has_a_runbook_section_and_the_annotations_it_needs() -> None:
    operations = (ROOT / "docs" / "operations.md").read_text()
    anchors = {
        re.sub(r"[^a-z0-9 -]", "", line.lstrip("#").strip().lower()).replace(" ", "-")
        for line in operations.splitlines()
        if line.startswith("#")
    }
    rules = yaml.safe_load(RULES.read_text())
    alerts = [rule for group in rules["groups"] for rule in group["rules"] if "alert" in rule]
    assert {rule["alert"] for rule in alerts} == {
        "ModelArtsPoolDeletionStalled",
        "ModelArtsPoolAbnormal",
        "ModelArtsThrottled",
        "ModelArtsCredentialsRefused",
        "ModelArtsOperatorDown",
        "ModelArtsOperatorNoLeader",
    }
    for rule in alerts:
        assert rule["labels"]["severity"] in {"critical", "warning"}, rule["alert"]
        assert {"summary", "description", "runbook_url"} <= set(rule["annotations"]), rule["alert"]
        url = rule["annotations"]["runbook_url"]
        assert url == f"docs/operations.md#{rule['alert'].lower()}", rule["alert"]
        assert url.split("#")[1] in anchors, f"docs/operations.md has no section {rule['alert']}"
