"""The Prometheus metrics: values observed come back from a real scrape of /metrics."""

from __future__ import annotations

import urllib.request
from collections.abc import Iterator

import pytest
from prometheus_client.parser import text_string_to_metric_families

from modelarts_operator.limiter import TokenBucket, before_request_hook
from modelarts_operator.metrics import Metrics, MetricsServer, object_key

Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]


def parse(text: str) -> Samples:
    return {
        (sample.name, frozenset(sample.labels.items())): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def value(samples: Samples, name: str, **labels: str) -> float | None:
    return samples.get((name, frozenset(labels.items())))


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


def test_pool_phase_gauge_follows_objects(metrics: Metrics, server: MetricsServer) -> None:
    a, b, c = object_key("ns1", "a"), object_key("ns1", "b"), object_key("ns2", "a")
    assert len({a, b, c}) == 3
    metrics.set_pool_phase(a, "Creating")
    metrics.set_pool_phase(b, "Creating")
    metrics.set_pool_phase(c, "Running")
    samples = scrape(server)
    assert value(samples, "modelarts_pools", phase="Creating") == 2
    assert value(samples, "modelarts_pools", phase="Running") == 1

    metrics.set_pool_phase(a, "Running")
    metrics.set_pool_phase(a, "Running")  # told twice: still one object
    metrics.set_pool_phase(b, "Deleting")
    samples = scrape(server)
    assert value(samples, "modelarts_pools", phase="Creating") == 0  # reported as 0, not left stale
    assert value(samples, "modelarts_pools", phase="Running") == 2
    assert value(samples, "modelarts_pools", phase="Deleting") == 1

    metrics.set_pool_phase(b, None)
    metrics.set_pool_phase(c, None)
    metrics.set_pool_phase(object_key("ns9", "never-seen"), None)  # forgetting the unknown is harmless
    samples = scrape(server)
    assert value(samples, "modelarts_pools", phase="Running") == 1
    assert value(samples, "modelarts_pools", phase="Deleting") == 0
    assert metrics.pool_phase_counts() == {"Creating": 0, "Deleting": 0, "Running": 1}


def test_registries_are_independent() -> None:
    first, second = Metrics(), Metrics()
    first.observer("delete", "200", 0.1)
    first.set_pool_phase("ns/a", "Running")
    samples = parse(second.render().decode())
    assert value(samples, "modelarts_requests_total", operation="delete", code="200") is None
    assert value(samples, "modelarts_pools", phase="Running") is None
    assert value(parse(first.render().decode()), "modelarts_pools", phase="Running") == 1


def test_render_lists_every_metric_family(metrics: Metrics) -> None:
    text = metrics.render().decode()
    for name in (
        "modelarts_requests_total",
        "modelarts_request_duration_seconds",
        "modelarts_pools",
        "modelarts_pool_deletion_duration_seconds",
        "modelarts_reconcile_errors_total",
        "modelarts_limiter_wait_seconds",
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
