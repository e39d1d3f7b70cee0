"""The operator's Grafana dashboard, generated as code with grafana-foundation-sdk.

    python tools/dashboard.py            # (or `make dashboard`) rewrites both committed copies
    python tools/dashboard.py --stdout   # prints the JSON

The JSON is committed twice, byte for byte the same: deploy/grafana/modelarts-operator.json (import it into
Grafana by hand) and the chart's files/grafana-dashboard.json (the chart's ConfigMap for Grafana's dashboard
sidecar, ``grafanaDashboard.enabled``). tests/unit/test_dashboard.py fails when either is stale, and
tests/e2e/test_prometheus.py evaluates every query in it against a real Prometheus scraping a real operator.

Queries use only ``$namespace`` (the objects' namespaces; "All" is ``.*``) and ``$__rate_interval``; the
datasource is the ``$datasource`` variable. A query that would return nothing in a healthy cluster (no deletion
in progress) ends in ``or vector(0)``, so the panel shows 0 rather than "No data".
"""

from __future__ import annotations

import argparse
import json
import sys
import warnings
from pathlib import Path

with warnings.catch_warnings():
    # The SDK warns at import that its v2 dashboard schema is preferred; this dashboard is the classic (v1) JSON
    # on purpose: Grafana's dashboard sidecar and Grafana before 12 load only that.
    warnings.simplefilter("ignore", DeprecationWarning)
    from grafana_foundation_sdk.builders import common as common_builders
    from grafana_foundation_sdk.builders import dashboard as dashboard_builders
    from grafana_foundation_sdk.builders import prometheus, stat, table, timeseries
    from grafana_foundation_sdk.cog.encoder import JSONEncoder
    from grafana_foundation_sdk.models import common
    from grafana_foundation_sdk.models import dashboard as model
    from grafana_foundation_sdk.models import prometheus as prometheus_model

REPO = Path(__file__).resolve().parents[1]
OUTPUTS = (
    REPO / "deploy" / "grafana" / "modelarts-operator.json",
    REPO / "deploy" / "helm" / "modelarts-operator" / "files" / "grafana-dashboard.json",
)
UID = "modelarts-operator"
DATASOURCE = common.DataSourceRef(type_val="prometheus", uid="${datasource}")
NS = 'namespace=~"$namespace"'
RATE = "$__rate_interval"

Panel = timeseries.Panel | stat.Panel | table.Panel


def query(expr: str, legend: str = "", *, ref: str = "A", instant: bool = False) -> prometheus.Dataquery:
    target = prometheus.Dataquery().expr(expr).ref_id(ref).datasource(DATASOURCE)
    if legend:
        target = target.legend_format(legend)
    if instant:
        target = target.instant().format(prometheus_model.PromQueryFormat.TABLE)
    return target


def thresholds(*steps: tuple[float | None, str]) -> dashboard_builders.ThresholdsConfig:
    return (
        dashboard_builders.ThresholdsConfig()
        .mode(model.ThresholdsMode.ABSOLUTE)
        .steps([model.Threshold(value=value, color=color) for value, color in steps])
    )


def big_number(title: str, description: str, expr: str, steps: tuple[tuple[float | None, str], ...]) -> stat.Panel:
    return (
        stat.Panel()
        .title(title)
        .description(description)
        .datasource(DATASOURCE)
        .height(4)
        .span(4)
        .with_target(query(expr))
        .thresholds(thresholds(*steps))
        .color_mode(common.BigValueColorMode.BACKGROUND)
        .graph_mode(common.BigValueGraphMode.NONE)
        .reduce_options(common_builders.ReduceDataOptions().calcs(["lastNotNull"]).values(False))
    )


def graph(
    title: str,
    description: str,
    *targets: prometheus.Dataquery,
    unit: str = "short",
    stacked: bool = False,
    span: int = 12,
) -> timeseries.Panel:
    panel = (
        timeseries.Panel()
        .title(title)
        .description(description)
        .datasource(DATASOURCE)
        .height(8)
        .span(span)
        .unit(unit)
        .min(0)
        .fill_opacity(10 if not stacked else 40)
        .legend(
            common_builders.VizLegendOptions()
            .display_mode(common.LegendDisplayMode.TABLE)
            .placement(common.LegendPlacement.RIGHT)
            .show_legend(True)
            .calcs(["lastNotNull", "max"])
        )
    )
    if stacked:
        panel = panel.stacking(common_builders.StackingConfig().mode(common.StackingMode.NORMAL))
    for target in targets:
        panel = panel.with_target(target)
    return panel


def overview() -> list[Panel]:
    good, bad = "green", "red"
    return [
        big_number(
            "Acting leader",
            "Operator processes that act on objects (modelarts_leader): 1 is right; "
            "0 means nobody reconciles (alert ModelArtsOperatorNoLeader).",
            "sum(modelarts_leader)",
            ((None, bad), (1, good), (2, "orange")),
        ),
        big_number(
            "Operator processes",
            "Operator processes Prometheus scrapes (modelarts_operator_build_info); none: ModelArtsOperatorDown.",
            "count(modelarts_operator_build_info) or vector(0)",
            ((None, bad), (1, good)),
        ),
        big_number(
            "Pools",
            "ModelArtsPool objects that have a pool in ModelArts.",
            f"sum(modelarts_pools{{{NS}}})",
            ((None, "blue"),),
        ),
        big_number(
            "Abnormal pools",
            "Pools whose phase is Abnormal or Error (alert ModelArtsPoolAbnormal).",
            f'sum(modelarts_pools{{{NS}, phase=~"Abnormal|Error"}})',
            ((None, good), (1, bad)),
        ),
        big_number(
            "Deletions in progress",
            "Objects being deleted whose pool is not gone yet.",
            f"count(modelarts_pool_deletion_started_timestamp_seconds{{{NS}}}) or vector(0)",
            ((None, good), (1, "blue")),
        ),
        big_number(
            "Stalled deletions",
            "Deletions that show no progress or are refused (DeletionStalled): the "
            "pool may still be billed (alert ModelArtsPoolDeletionStalled).",
            f"sum(modelarts_pool_deletion_stalled{{{NS}}}) or vector(0)",
            ((None, good), (1, bad)),
        ),
    ]


def pools() -> list[Panel]:
    by_namespace = (
        table.Panel()
        .title("Pools by namespace and phase")
        .datasource(DATASOURCE)
        .height(8)
        .span(8)
        .description("Current count of pools per namespace and phase (zero rows hidden).")
        .with_target(query(f"sum by (namespace, phase) (modelarts_pools{{{NS}}}) > 0", instant=True))
        .with_transformation(
            model.DataTransformerConfig(
                id_val="organize", options={"excludeByName": {"Time": True}, "renameByName": {"Value": "Pools"}}
            )
        )
    )
    return [
        graph(
            "Pools by phase",
            "ModelArtsPool objects by the phase of their pool (Unknown: a phase ModelArts does not document).",
            query(f"sum by (phase) (modelarts_pools{{{NS}}})", "{{phase}}"),
            stacked=True,
            span=8,
        ),
        by_namespace,
        graph(
            "Nodes by state",
            "Nodes of the pools, summed over objects: creating, available, abnormal, deleting.",
            query(f"sum by (state) (modelarts_pool_nodes{{{NS}}})", "{{state}}"),
            stacked=True,
            span=8,
        ),
    ]


def deletions() -> list[Panel]:
    age = f"time() - max by (namespace, name) (modelarts_pool_deletion_started_timestamp_seconds{{{NS}}})"
    stalled = f"max by (namespace, name) (modelarts_pool_deletion_stalled{{{NS}}})"
    in_progress = (
        table.Panel()
        .title("Deletions in progress")
        .datasource(DATASOURCE)
        .height(8)
        .span(12)
        .description(
            "Objects being deleted: how long since `kubectl delete`, and whether the deletion is "
            "stalled (1). Look with `kubectl describe mapool -n NAMESPACE NAME`."
        )
        .with_target(query(age, ref="A", instant=True))
        .with_target(query(stalled, ref="B", instant=True))
        .with_transformation(model.DataTransformerConfig(id_val="merge", options={}))
        .with_transformation(
            model.DataTransformerConfig(
                id_val="organize",
                options={"excludeByName": {"Time": True}, "renameByName": {"Value #A": "Age", "Value #B": "Stalled"}},
            )
        )
        .override_by_name("Age", [model.DynamicConfigValue(id_val="unit", value="s")])
    )
    return [
        in_progress,
        graph(
            "Deletion age",
            "Seconds since each object still being deleted was deleted.",
            query(age, "{{namespace}}/{{name}}"),
            unit="s",
        ),
        graph(
            "Stalled deletions",
            "Objects whose deletion is stalled or refused (the Deleting condition's reason is DeletionStalled).",
            query(f"{stalled} == 1", "{{namespace}}/{{name}}"),
        ),
        graph(
            "Pool deletion duration",
            "From `kubectl delete` to the pool being gone in ModelArts, over the "
            "deletions that finished in the last hour.",
            query(
                "histogram_quantile(0.5, sum by (le) (increase(modelarts_pool_deletion_duration_seconds_bucket[1h])))",
                "p50",
            ),
            query(
                "histogram_quantile(0.9, sum by (le) (increase(modelarts_pool_deletion_duration_seconds_bucket[1h])))",
                "p90",
                ref="B",
            ),
            unit="s",
        ),
    ]


def modelarts_api() -> list[Panel]:
    latency = f"sum by (operation, le) (rate(modelarts_request_duration_seconds_bucket[{RATE}]))"
    return [
        graph(
            "ModelArts requests by operation",
            "Attempts per second (retries included).",
            query(f"sum by (operation) (rate(modelarts_requests_total[{RATE}]))", "{{operation}}"),
            unit="reqps",
        ),
        graph(
            "ModelArts latency by operation",
            "One attempt, p50 and p99.",
            query(f"histogram_quantile(0.5, {latency})", "{{operation}} p50"),
            query(f"histogram_quantile(0.99, {latency})", "{{operation}} p99", ref="B"),
            unit="s",
        ),
        graph(
            "ModelArts errors by operation and code",
            "Answers other than 2xx (404 is how a finished deletion shows; transport_error: no answer).",
            query(
                f'sum by (operation, code) (rate(modelarts_requests_total{{code!~"2.."}}[{RATE}]))',
                "{{operation}} {{code}}",
            ),
            unit="reqps",
        ),
        graph(
            "ModelArts throttling (429) by operation",
            "Requests ModelArts refused with 429; the operator "
            "retries them after Retry-After (alert ModelArtsThrottled).",
            query(f'sum by (operation) (rate(modelarts_requests_total{{code="429"}}[{RATE}]))', "{{operation}}"),
            unit="reqps",
        ),
    ]


def operator() -> list[Panel]:
    wait = f"rate(modelarts_limiter_wait_seconds_{{}}[{RATE}])"
    return [
        graph(
            "Reconcile errors by reason",
            "Failed reconciliations per second.",
            query(f"sum by (reason) (rate(modelarts_reconcile_errors_total[{RATE}]))", "{{reason}}"),
            unit="ops",
            span=8,
        ),
        graph(
            "Rate-limiter waits",
            "How long ModelArts calls wait for a token of the shared limiter (rate "
            "limit and burst: MODELARTS_RATE_LIMIT, MODELARTS_RATE_BURST).",
            query(f"histogram_quantile(0.9, sum by (le) ({wait.format('bucket')}))", "p90"),
            query(f"sum({wait.format('sum')}) / sum({wait.format('count')})", "mean", ref="B"),
            unit="s",
            span=8,
        ),
        graph(
            "Leader",
            "1 for the operator process that acts on objects.",
            query("modelarts_leader", "{{instance}}"),
            span=8,
        ),
        graph(
            "ModelArtsProjects ready",
            "1 while a ModelArtsProject's credentials are accepted by ModelArts (its Ready condition), 0 otherwise.",
            query("max by (project) (modelarts_project_ready)", "{{project}}"),
            span=12,
        ),
        graph(
            "Refused credentials",
            "Credential sets ModelArts answered 401: the operator does not use them "
            "until the gateway's lockout window has passed (alert ModelArtsCredentialsRefused).",
            query("max by (instance) (modelarts_credentials_refused)", "{{instance}}"),
            span=12,
        ),
    ]


def build() -> dashboard_builders.Dashboard:
    builder = (
        dashboard_builders.Dashboard("ModelArts pool operator")
        .uid(UID)
        .description("ModelArtsPool objects, their pools and deletions, the operator's calls to ModelArts.")
        .tags(["modelarts", "operator"])
        .time("now-3h", "now")
        .refresh("30s")
        .timezone("browser")
        .tooltip(model.DashboardCursorSync.CROSSHAIR)
        .editable()
        .with_variable(dashboard_builders.DatasourceVariable("datasource").label("Data source").type("prometheus"))
        .with_variable(
            dashboard_builders.QueryVariable("namespace")
            .label("Namespace")
            .datasource(DATASOURCE)
            .query("label_values(modelarts_pools, namespace)")
            .definition("label_values(modelarts_pools, namespace)")
            .refresh(model.VariableRefresh.ON_TIME_RANGE_CHANGED)
            .sort(model.VariableSort.ALPHABETICAL_ASC)
            .multi(True)
            .include_all(True)
            .all_value(".*")
        )
    )
    ids = iter(range(1, 1000))  # Grafana wants panel ids unique within the dashboard
    for title, panels in (
        ("Overview", overview()),
        ("Pools", pools()),
        ("Deletions", deletions()),
        ("ModelArts API", modelarts_api()),
        ("Operator", operator()),
    ):
        builder = builder.with_row(dashboard_builders.Row(title).id(next(ids)))
        for panel in panels:
            builder = builder.with_panel(panel.id(next(ids)))
    return builder


def render() -> str:
    """The dashboard JSON exactly as committed."""
    return json.dumps(build().build(), cls=JSONEncoder, sort_keys=True, indent=2) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--stdout", action="store_true", help="print the JSON instead of writing the files")
    args = parser.parse_args(argv)
    text = render()
    if args.stdout:
        sys.stdout.write(text)
        return 0
    for path in OUTPUTS:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
        print(f"wrote {path.relative_to(REPO)}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
