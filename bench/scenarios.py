"""The three measured scenarios of issue 6: deletion, restart, steady. Each returns a JSON-ready dict.

Sources of truth: the emulator's request log for every ModelArts call (time, method, pool, status), a cluster-wide
watch for every write to the objects (status changes and deletions, timestamped on arrival), and /proc for the
operator's CPU and memory.
"""

from __future__ import annotations

import itertools
import math
import time
from collections import Counter, defaultdict
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from emulog import Call, EmulatorControl
from kubeapi import Kube, WriteLog
from procstat import cpu_seconds, memory_mb
from stats import distribution, max_in_window

from stack import EmulatorProcess, OperatorProcess

# Terraform's huaweicloud provider waits for a pool deletion with Delay 30 s and then polls every 10 s.
TERRAFORM_DELAY_SECONDS = 30.0
TERRAFORM_POLL_SECONDS = 10.0


def terraform_gets(delete_seconds: float) -> int:
    """GETs Terraform spends on a deletion that takes ``delete_seconds``: one at 30 s, then one per 10 s until 404."""
    return 1 + max(0, math.ceil((delete_seconds - TERRAFORM_DELAY_SECONDS) / TERRAFORM_POLL_SECONDS))


@dataclass
class Stack:
    kube: Kube
    writes: WriteLog
    emulator: EmulatorProcess
    control: EmulatorControl
    operator: OperatorProcess
    settings: dict[str, float]  # transition_poll_seconds, stable_poll_seconds, rate_limit, rate_burst
    log: Callable[[str], None]


def running(kube: Kube, namespace: str, count: int) -> Callable[[], bool]:
    def check() -> bool:
        items = kube.pools(namespace)
        ready = [i for i in items if (i.get("status") or {}).get("phase") == "Running"
                 and ((i.get("status") or {}).get("nodes") or {}).get("available") == 1]
        return len(ready) == count

    return check


def rate_check(calls: list[Call], rate: float, burst: float) -> dict[str, Any]:
    """The busiest 1 s and 10 s of ModelArts calls against what the limiter allows (burst + rate * window)."""
    times = [c.at for c in calls]
    one, ten = max_in_window(times, 1.0), max_in_window(times, 10.0)
    return {"max_calls_in_1s": one, "allowed_in_1s": burst + rate, "max_calls_in_10s": ten,
            "allowed_in_10s": burst + rate * 10, "within_limit": one <= burst + rate and ten <= burst + rate * 10}


def populate(stack: Stack, namespace: str, n: int) -> list[str]:
    names = [f"pool-{i:04d}" for i in range(n)]
    stack.kube.namespace(namespace, stack.emulator.access_key, stack.emulator.secret_key)
    started = time.monotonic()
    stack.kube.create_pools(namespace, names)
    stack.log(f"  {n} objects created in {time.monotonic() - started:.1f}s; waiting for Running")
    took = stack.kube.wait(running(stack.kube, namespace, n), timeout=600 + n, what=f"{n} pools Running")
    stack.log(f"  {n} pools Running after {took:.0f}s")
    return names


def deletion(stack: Stack, namespace: str, n: int, delete_seconds: float) -> dict[str, Any]:
    stack.log(f"deletion: n={n}, emulator delete_seconds={delete_seconds:g}")
    populate(stack, namespace, n)
    pool_of = {f"{namespace}/{i['metadata']['name']}": i["status"]["poolName"] for i in stack.kube.pools(namespace)}
    time.sleep(2)  # let in-flight polls finish, so that the request log starts with the deletion
    stack.control.clear_calls()
    sent = stack.kube.delete_all(namespace)
    took = stack.kube.wait(lambda: not stack.kube.pools(namespace), timeout=3 * delete_seconds + 2 * n + 300,
                           what=f"{n} objects gone", interval=1.0)
    time.sleep(1)  # the watch delivers the last DELETED events
    calls = [c for c in stack.control.calls() if c.at >= sent]
    writes = stack.writes.since(sent)
    gone_at = {w.key: w.at for w in writes if w.kind == "DELETED"}
    marked_at: dict[str, float] = {}  # when the watch showed the object's deletionTimestamp first
    for write in writes:
        if write.deleting:
            marked_at.setdefault(write.key, write.at)
    by_pool: dict[str | None, list[Call]] = defaultdict(list)
    for call in calls:
        by_pool[call.pool_name].append(call)

    reaction, reaction_marked, lag, per_pool_calls, per_pool_gets = [], [], [], [], []
    missing: list[str] = []
    for key, pool in pool_of.items():
        mine = by_pool.get(pool, [])
        deletes = [c for c in mine if c.method == "DELETE"]
        accepted = [c for c in deletes if c.status == 200]
        if not deletes or not accepted or key not in gone_at:
            missing.append(key)
            continue
        reaction.append(deletes[0].at - sent)
        if key in marked_at:
            reaction_marked.append(deletes[0].at - marked_at[key])
        vanished = accepted[0].at + delete_seconds  # the emulator answers 404 from this moment on
        lag.append(gone_at[key] - vanished)
        per_pool_calls.append(len(mine))
        per_pool_gets.append(sum(1 for c in mine if c.method == "GET"))
    statuses = Counter(str(c.status) for c in calls)
    result: dict[str, Any] = {
        "n": n,
        "delete_seconds": delete_seconds,
        "wall_seconds": round(took, 1),
        "reaction_seconds": distribution(reaction),
        # The same, from the moment the API server marked each object (what the operator can react to): the
        # difference is the API server's own time to mark n objects.
        "reaction_from_mark_seconds": distribution(reaction_marked),
        "api_server_mark_seconds": distribution(t - sent for t in marked_at.values()),
        "completion_lag_seconds": distribution(lag),
        "api_calls_per_pool": distribution(per_pool_calls),
        "gets_per_pool": distribution(per_pool_gets),
        "terraform_gets_per_pool": terraform_gets(delete_seconds),
        "throttled": statuses.get("429", 0),
        "calls_total": len(calls),
        "calls_by_status": dict(sorted(statuses.items())),
        "status_writes": sum(1 for w in writes if w.status_changed),
        "rate": rate_check(calls, stack.settings["rate_limit"], stack.settings["rate_burst"]),
        "unmeasured_objects": missing,
    }
    stack.log(f"  reaction p95 {result['reaction_seconds'].get('p95')}s, lag p95 "
              f"{result['completion_lag_seconds'].get('p95')}s, GETs/pool p50 {result['gets_per_pool'].get('p50')}"
              f" (Terraform {result['terraform_gets_per_pool']}), wall {took:.0f}s")
    return result


def wait_settled(stack: Stack, since: float, quiet: float, pools: set[str], timeout: float) -> float:
    """The moment (epoch) after which nothing more happened: no status write for ``quiet`` seconds, and every
    pool read at least once since ``since``."""
    deadline = time.monotonic() + timeout
    while True:
        now = time.time()
        status_writes = [w.at for w in stack.writes.since(since) if w.status_changed]
        last_write = max(status_writes, default=since)
        calls = [c for c in stack.control.calls() if c.at >= since]
        first_read: dict[str, float] = {}
        for call in calls:
            if call.method == "GET" and call.pool_name is not None and call.pool_name in pools:
                first_read.setdefault(call.pool_name, call.at)
        if len(first_read) == len(pools) and now - last_write >= quiet:
            return max(last_write, *first_read.values())
        if time.monotonic() > deadline:
            raise TimeoutError(f"not settled after {timeout:.0f}s ({len(first_read)}/{len(pools)} pools read)")
        time.sleep(2)


def restart(stack: Stack, namespace: str, n: int) -> dict[str, Any]:
    stack.log(f"restart: operator restarted (SIGTERM, start) with {n} Running pools")
    pools = {i["status"]["poolName"] for i in stack.kube.pools(namespace)}
    assert stack.operator.process is not None
    # The process being replaced created these pools (and ran the deletion scenarios before): its peak memory.
    before = memory_mb(stack.operator.process.pid)
    stack.operator.stop()
    stack.control.clear_calls()
    started = time.time()
    stack.operator.start(ready_timeout=120)
    ready = time.time() - started
    quiet = 3 * stack.settings["transition_poll_seconds"]
    settled = wait_settled(stack, started, quiet=quiet, pools=pools, timeout=600)
    calls = [c for c in stack.control.calls() if started <= c.at <= settled]
    writes = stack.writes.since(started, settled + 0.001)
    first_reads: dict[str, float] = {}
    for call in calls:
        if call.method == "GET" and call.pool_name is not None and call.pool_name in pools:
            first_reads.setdefault(call.pool_name, call.at - started)
    result = {
        "n": n,
        "settled_seconds": round(settled - started, 1),
        "healthy_seconds": round(ready, 1),
        "settled_definition": f"every pool read once and no status write for {quiet:g}s",
        "calls": len(calls),
        "calls_by_operation": dict(Counter(f"{c.method} {c.status}" for c in calls)),
        "first_read_seconds": distribution(first_reads.values()),
        "status_writes": sum(1 for w in writes if w.status_changed),
        "object_writes": sum(1 for w in writes if w.kind == "MODIFIED"),
        "rate": rate_check(calls, stack.settings["rate_limit"], stack.settings["rate_burst"]),
        "replaced_process_peak_rss_mb": before["peak_rss_mb"],
    }
    stack.log(f"  settled in {result['settled_seconds']}s, {len(calls)} calls, {result['status_writes']} status writes")
    return result


def steady(stack: Stack, namespace: str, n: int, minutes: float) -> dict[str, Any]:
    stack.log(f"steady: {n} Running pools for {minutes:g} min")
    pools = {i["status"]["poolName"] for i in stack.kube.pools(namespace)}
    assert stack.operator.process is not None
    pid = stack.operator.process.pid
    stack.control.clear_calls()
    started, cpu_before = time.time(), cpu_seconds(pid)
    rss_samples: list[float] = []
    while time.time() - started < minutes * 60:
        rss_samples.append(memory_mb(pid)["rss_mb"])
        time.sleep(5)
    ended, cpu_after = time.time(), cpu_seconds(pid)
    memory = memory_mb(pid)
    window = ended - started
    calls = [c for c in stack.control.calls() if started <= c.at < ended]
    writes = stack.writes.since(started, ended)
    gets: dict[str, list[float]] = defaultdict(list)
    for call in calls:
        if call.method == "GET" and call.pool_name is not None and call.pool_name in pools:
            gets[call.pool_name].append(call.at)
    intervals = [b - a for times in gets.values() for a, b in itertools.pairwise(times)]
    stable = stack.settings["stable_poll_seconds"]
    result = {
        "n": n,
        "minutes": round(window / 60, 2),
        "stable_poll_seconds": stable,
        "calls_per_minute": round(len(calls) / window * 60, 1),
        "calls_by_operation": dict(Counter(f"{c.method} {c.status}" for c in calls)),
        "gets_per_pool": distribution(len(gets.get(p, [])) for p in pools),
        "gets_per_pool_per_interval": distribution(len(gets.get(p, [])) / (window / stable) for p in pools),
        "get_interval_seconds": distribution(intervals),
        "status_writes_per_minute": round(sum(1 for w in writes if w.status_changed) / window * 60, 2),
        "object_writes_per_minute": round(sum(1 for w in writes if w.kind == "MODIFIED") / window * 60, 2),
        "cpu_seconds": round(cpu_after - cpu_before, 2),
        "cpu_seconds_per_minute": round((cpu_after - cpu_before) / window * 60, 2),
        "rss_mb": distribution(rss_samples, digits=1),
        "peak_rss_mb": memory["peak_rss_mb"],
        "rate": rate_check(calls, stack.settings["rate_limit"], stack.settings["rate_burst"]),
    }
    stack.log(f"  {result['calls_per_minute']} calls/min, {result['status_writes_per_minute']} status writes/min, "
              f"CPU {result['cpu_seconds']}s, peak RSS {result['peak_rss_mb']} MiB")
    return result
