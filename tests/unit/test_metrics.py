"""The Prometheus metrics: values observed come back from a real scrape of /metrics."""

from __future__ import annotations

import urllib.request
from collections.abc import Iterator
from importlib import metadata

import pytest
from prometheus_client.parser import text_string_to_metric_families

from modelarts_operator.limiter import TokenBucket, before_request_hook
from modelarts_operator.metrics import (
    NODE_STATES,
    POOL_PHASES,
    UNKNOWN_PHASE,
    Metrics,
    MetricsServer,
    NodeCounts,
    PoolReport,
    bounded_phase,
)

Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]


def parse(text: str) -> Samples:
    return {
        (sample.name, frozenset(sample.labels.items())): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def value(samples: Samples, metric: str, /, **labels: str) -> float | None:
    return samples.get((metric, frozenset(labels.items())))


def series(samples: Samples, metric: str) -> list[frozenset[tuple[str, str]]]:
    return [labels for sample_name, labels in samples if sample_name == metric]


def scrape(server: MetricsServer) -> Samples:
    with urllib.request.urlopen(f"http://127.0.0.1:{server.port}/metrics", timeout=10) as response:
        assert response.status == 200
        assert response.headers["Content-Type"].startswith("text/plain")
        return parse(response.read().decode())


@pytest.fixture
def metrics() -> Metrics:
    return Metrics()


@pytest.fixture
def server(metrics: Metrics) -> Iterator[MetricsServer]:
    running = metrics.serve("127.0.0.1", 0)
    try:
        yield running
    finally:
        running.stop()


def test_scrape_returns_what_was_observed(metrics: Metrics, server: MetricsServer) -> None:
    assert server.port > 0
    metrics.observer("get", "200", 0.02)
    metrics.observer("get", "200", 0.3)
    metrics.observer("get", "429", 0.01)
    metrics.observer("create", "transport_error", 12.0)
    metrics.observe_pool_deletion(42.0)
    metrics.count_reconcile_error("Throttled")
    metrics.count_reconcile_error("Throttled")
    metrics.count_reconcile_error("InvalidRequest")
    metrics.observe_limiter_wait(0.0)
    metrics.observe_limiter_wait(0.7)

    samples = scrape(server)

    assert value(samples, "modelarts_requests_total", operation="get", code="200") == 2
    assert value(samples, "modelarts_requests_total", operation="get", code="429") == 1
    assert value(samples, "modelarts_requests_total", operation="create", code="transport_error") == 1
    assert value(samples, "modelarts_requests_total", operation="list", code="200") is None
    assert value(samples, "modelarts_request_duration_seconds_count", operation="get") == 3
    assert value(samples, "modelarts_request_duration_seconds_sum", operation="get") == pytest.approx(0.33)
    assert value(samples, "modelarts_request_duration_seconds_bucket", operation="get", le="0.025") == 2
    assert value(samples, "modelarts_request_duration_seconds_bucket", operation="create", le="10.0") == 0
    assert value(samples, "modelarts_request_duration_seconds_bucket", operation="create", le="30.0") == 1
    assert value(samples, "modelarts_pool_deletion_duration_seconds_count") == 1
    assert value(samples, "modelarts_pool_deletion_duration_seconds_sum") == 42.0
    assert value(samples, "modelarts_pool_deletion_duration_seconds_bucket", le="30.0") == 0
    assert value(samples, "modelarts_pool_deletion_duration_seconds_bucket", le="60.0") == 1
    assert value(samples, "modelarts_reconcile_errors_total", reason="Throttled") == 2
    assert value(samples, "modelarts_reconcile_errors_total", reason="InvalidRequest") == 1
    assert value(samples, "modelarts_limiter_wait_seconds_count") == 2
    assert value(samples, "modelarts_limiter_wait_seconds_bucket", le="0.0") == 1
    assert value(samples, "modelarts_limiter_wait_seconds_sum") == pytest.approx(0.7)


def test_pools_by_namespace_and_phase_follow_objects(metrics: Metrics, server: MetricsServer) -> None:
    metrics.report_pool("ns1", "a", PoolReport(phase="Creating"))
    metrics.report_pool("ns1", "b", PoolReport(phase="Creating"))
    metrics.report_pool("ns2", "a", PoolReport(phase="Running"))
    samples = scrape(server)
    assert value(samples, "modelarts_pools", namespace="ns1", phase="Creating") == 2
    assert value(samples, "modelarts_pools", namespace="ns2", phase="Running") == 1
    # Every documented phase (and Unknown) is reported for a namespace with objects, zeros included.
    assert value(samples, "modelarts_pools", namespace="ns1", phase="Running") == 0
    assert value(samples, "modelarts_pools", namespace="ns2", phase="Unknown") == 0
    assert len(series(samples, "modelarts_pools")) == 2 * (len(POOL_PHASES) + 1)

    metrics.report_pool("ns1", "a", PoolReport(phase="Running"))
    metrics.report_pool("ns1", "a", PoolReport(phase="Running"))  # told twice: still one object
    metrics.report_pool("ns1", "b", PoolReport(phase="Deleting"))
    samples = scrape(server)
    assert value(samples, "modelarts_pools", namespace="ns1", phase="Creating") == 0  # 0, not left stale
    assert value(samples, "modelarts_pools", namespace="ns1", phase="Running") == 1
    assert value(samples, "modelarts_pools", namespace="ns1", phase="Deleting") == 1

    metrics.report_pool("ns1", "b", PoolReport(phase=None))  # no pool (yet): not counted by phase
    metrics.forget_pool("ns2", "a")
    metrics.forget_pool("ns9", "never-seen")  # forgetting the unknown is harmless
    samples = scrape(server)
    assert value(samples, "modelarts_pools", namespace="ns1", phase="Deleting") == 0
    assert value(samples, "modelarts_pools", namespace="ns1", phase="Running") == 1
    # The namespace's last object is gone: so are its series.
    assert not [labels for labels in series(samples, "modelarts_pools") if ("namespace", "ns2") in labels]


def test_unknown_phases_are_bounded_to_one_series(metrics: Metrics) -> None:
    """A hostile or buggy endpoint answering a new phase on every poll must not grow a series per value."""
    for poll in range(5000):
        metrics.report_pool("ns1", "a", PoolReport(phase=f"Phase{poll:05d}"))
    for other in range(5000):
        metrics.report_pool("ns1", f"other-{other}", PoolReport(phase=f"Invented{other}"))
    text = metrics.render().decode()
    samples = parse(text)
    pools = series(samples, "modelarts_pools")
    assert len(pools) == len(POOL_PHASES) + 1
    assert value(samples, "modelarts_pools", namespace="ns1", phase="Unknown") == 5001
    assert "Phase0" not in text and "Invented" not in text
    assert bounded_phase("Running") == "Running" and bounded_phase("running") == UNKNOWN_PHASE


def test_nodes_by_state_are_summed_over_objects(metrics: Metrics, server: MetricsServer) -> None:
    metrics.report_pool("ns1", "a", PoolReport(phase="Running", nodes=NodeCounts(available=3, abnormal=1)))
    metrics.report_pool("ns1", "b", PoolReport(phase="Creating", nodes=NodeCounts(creating=2, available=1)))
    metrics.report_pool("ns2", "c", PoolReport(phase="Deleting", nodes=NodeCounts(deleting=4)))
    samples = scrape(server)
    assert value(samples, "modelarts_pool_nodes", namespace="ns1", state="available") == 4
    assert value(samples, "modelarts_pool_nodes", namespace="ns1", state="creating") == 2
    assert value(samples, "modelarts_pool_nodes", namespace="ns1", state="abnormal") == 1
    assert value(samples, "modelarts_pool_nodes", namespace="ns1", state="deleting") == 0
    assert value(samples, "modelarts_pool_nodes", namespace="ns2", state="deleting") == 4
    assert {dict(labels)["state"] for labels in series(samples, "modelarts_pool_nodes")} == set(NODE_STATES)


def test_deletion_series_exist_only_while_an_object_is_deleted(metrics: Metrics, server: MetricsServer) -> None:
    metrics.report_pool("ns1", "a", PoolReport(phase="Running"))
    samples = scrape(server)
    assert series(samples, "modelarts_pool_deletion_started_timestamp_seconds") == []
    assert series(samples, "modelarts_pool_deletion_stalled") == []

    metrics.report_pool("ns1", "a", PoolReport(phase="Deleting", deletion_started=1_700_000_000.0))
    metrics.report_pool("ns1", "b", PoolReport(phase=None, deletion_started=1_700_000_100.0, deletion_stalled=True))
    samples = scrape(server)
    assert value(samples, "modelarts_pool_deletion_started_timestamp_seconds", namespace="ns1", name="a") == (
        1_700_000_000.0
    )
    assert value(samples, "modelarts_pool_deletion_stalled", namespace="ns1", name="a") == 0
    assert value(samples, "modelarts_pool_deletion_stalled", namespace="ns1", name="b") == 1

    metrics.forget_pool("ns1", "a")
    samples = scrape(server)
    assert value(samples, "modelarts_pool_deletion_stalled", namespace="ns1", name="a") is None
    assert value(samples, "modelarts_pool_deletion_started_timestamp_seconds", namespace="ns1", name="a") is None
    assert value(samples, "modelarts_pool_deletion_stalled", namespace="ns1", name="b") == 1
    assert set(metrics.pool_reports()) == {("ns1", "b")}


def test_leader_project_readiness_and_build_info(metrics: Metrics, server: MetricsServer) -> None:
    samples = scrape(server)
    assert value(samples, "modelarts_leader") == 0  # until the operator says it acts
    assert series(samples, "modelarts_project_ready") == []
    (build,) = series(samples, "modelarts_operator_build_info")
    assert dict(build)["version"] == metadata.version("modelarts-pool-operator")

    metrics.set_leader(True)
    metrics.set_project_ready("team-a", True)
    metrics.set_project_ready("team-b", False)
    samples = scrape(server)
    assert value(samples, "modelarts_leader") == 1
    assert value(samples, "modelarts_project_ready", project="team-a") == 1
    assert value(samples, "modelarts_project_ready", project="team-b") == 0

    metrics.set_leader(False)
    metrics.forget_project("team-a")
    samples = scrape(server)
    assert value(samples, "modelarts_leader") == 0
    assert value(samples, "modelarts_project_ready", project="team-a") is None


def test_registries_are_independent() -> None:
    first, second = Metrics(), Metrics()
    first.observer("delete", "200", 0.1)
    first.report_pool("ns", "a", PoolReport(phase="Running"))
    first.set_leader(True)
    samples = parse(second.render().decode())
    assert value(samples, "modelarts_requests_total", operation="delete", code="200") is None
    assert value(samples, "modelarts_pools", namespace="ns", phase="Running") is None
    assert value(samples, "modelarts_leader") == 0
    assert value(parse(first.render().decode()), "modelarts_pools", namespace="ns", phase="Running") == 1


def test_render_lists_every_metric_family(metrics: Metrics) -> None:
    text = metrics.render().decode()
    for name in (
        "modelarts_requests_total",
        "modelarts_request_duration_seconds",
        "modelarts_pools",
        "modelarts_pool_nodes",
        "modelarts_pool_deletion_started_timestamp_seconds",
        "modelarts_pool_deletion_stalled",
        "modelarts_pool_deletion_duration_seconds",
        "modelarts_reconcile_errors_total",
        "modelarts_limiter_wait_seconds",
        "modelarts_leader",
        "modelarts_project_ready",
        "modelarts_operator_build_info",
    ):
        assert f"# HELP {name} " in text, name


def test_stop_releases_the_port(metrics: Metrics) -> None:
    running = metrics.serve("127.0.0.1", 0)
    url = f"http://127.0.0.1:{running.port}/metrics"
    with urllib.request.urlopen(url, timeout=10) as response:
        assert response.status == 200
    running.stop()
    with pytest.raises(OSError):
        urllib.request.urlopen(url, timeout=10)


async def test_limiter_waits_reach_the_histogram(metrics: Metrics) -> None:
    now = [0.0]

    async def fake_sleep(seconds: float) -> None:
        now[0] += seconds

    bucket = TokenBucket(4.0, 1, clock=lambda: now[0], sleep=fake_sleep)
    hook = before_request_hook(bucket, "ns/a", metrics)
    await hook("get")
    await hook("get")
    samples = parse(metrics.render().decode())
    assert value(samples, "modelarts_limiter_wait_seconds_count") == 2
    assert value(samples, "modelarts_limiter_wait_seconds_sum") == pytest.approx(0.25)
