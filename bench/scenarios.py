"""The measured scenarios of issues 6 and 12: deletion, creation, restart, steady. Each returns a JSON-ready dict.

Sources of truth: the emulator's request log for every ModelArts call (time, method, pool, status, and whether it
was a pool list), a cluster-wide watch for every write to the objects (status changes and deletions, timestamped
on arrival), /proc for the operator's CPU and memory, and the operator's own ``modelarts_pools`` gauge for "every
object has been looked at" after a restart (a restart that changes nothing writes nothing, so no write can say it).
"""

from __future__ import annotations

import dataclasses
import itertools
import json
import math
import re
import time
from collections import Counter, defaultdict
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from emulog import Call, EmulatorControl
from kubeapi import Kube, WriteLog
from procstat import cpu_seconds, memory_mb
from stats import distribution, max_in_window

from stack import EmulatorProcess, OperatorProcess

# Terraform's huaweicloud provider waits for a pool deletion with Delay 30 s and then polls every 10 s.
TERRAFORM_DELAY_SECONDS = 30.0
TERRAFORM_POLL_SECONDS = 10.0
# One series per namespace: modelarts_pools{namespace="...",phase="Running"} 1000.0
RUNNING_GAUGE = re.compile(r'^modelarts_pools\{[^}]*\bphase="Running"[^}]*\} (\S+)$', re.MULTILINE)


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
    group: str  # the namespace label value the group's ModelArtsProject selects
    timelines: Path | None = None  # where deletion runs leave their raw calls and writes (``--timelines``)
    # The other processes on the machine's cores (kube-apiserver, etcd, ...; the emulator): their CPU seconds
    # during a deletion say whose CPU the operator was waiting for.
    neighbours: dict[str, int] = dataclasses.field(default_factory=dict)


def alive(stack: Stack, condition: Callable[[], bool]) -> Callable[[], bool]:
    """``condition``, failing at once if the operator process has exited (rather than waiting out a timeout)."""

    def check() -> bool:
        process = stack.operator.process
        if process is not None and process.poll() is not None:
            raise RuntimeError(f"the operator exited with {process.returncode} (see {stack.operator.log})")
        return condition()

    return check


def _running(statuses: list[dict[str, Any]]) -> int:
    return sum(1 for s in statuses if s.get("phase") == "Running" and (s.get("nodes") or {}).get("available") == 1)


def running(stack: Stack, namespace: str, count: int) -> Callable[[], bool]:
    """All ``count`` objects Running with their node: judged from the watch (listing a thousand objects every two
    seconds would load the API server the operator shares the cores with), confirmed by one list at the end."""

    def check() -> bool:
        if _running(stack.writes.statuses(namespace)) < count:
            return False
        return _running([i.get("status") or {} for i in stack.kube.pools(namespace)]) == count

    return check


def rate_check(calls: list[Call], rate: float, burst: float) -> dict[str, Any]:
    """The busiest 1 s and 10 s of ModelArts calls against what the limiter allows (burst + rate * window)."""
    times = [c.at for c in calls]
    one, ten = max_in_window(times, 1.0), max_in_window(times, 10.0)
    return {
        "max_calls_in_1s": one,
        "allowed_in_1s": burst + rate,
        "max_calls_in_10s": ten,
        "allowed_in_10s": burst + rate * 10,
        "within_limit": one <= burst + rate and ten <= burst + rate * 10,
    }


def is_list(call: Call) -> bool:
    return call.operation == "list"


def populate(stack: Stack, namespace: str, n: int) -> float:
    """``n`` pools in a new namespace of the group, all Running; the seconds until they were."""
    names = [f"pool-{i:04d}" for i in range(n)]
    stack.kube.namespace(namespace, stack.group)
    started = time.monotonic()
    stack.kube.create_pools(namespace, names)
    stack.log(f"  {n} objects created in {time.monotonic() - started:.1f}s; waiting for Running")
    stack.kube.wait(
        alive(stack, running(stack, namespace, n)), timeout=600 + n, what=f"{n} pools Running", interval=1.0
    )
    took = time.monotonic() - started
    stack.log(f"  {n} pools Running after {took:.0f}s")
    return took


def deletion(stack: Stack, namespace: str, n: int, delete_seconds: float) -> dict[str, Any]:
    stack.log(f"deletion: n={n}, emulator delete_seconds={delete_seconds:g}")
    populate(stack, namespace, n)
    pool_of = {f"{namespace}/{i['metadata']['name']}": i["status"]["poolName"] for i in stack.kube.pools(namespace)}
    time.sleep(2)  # let in-flight polls finish, so that the request log starts with the deletion
    stack.control.clear_calls()
    assert stack.operator.process is not None
    pid = stack.operator.process.pid
    cpu_before = cpu_seconds(pid)
    neighbours_before = {name: cpu_seconds(other) for name, other in stack.neighbours.items()}
    sent = stack.kube.delete_all(namespace)
    took = stack.kube.wait(
        alive(stack, lambda: not stack.kube.any_pools(namespace)),
        timeout=3 * delete_seconds + 2 * n + 300,
        what=f"{n} objects gone",
        interval=1.0,
    )
    cpu = cpu_seconds(pid) - cpu_before
    neighbours_cpu = {
        name: round(cpu_seconds(other) - neighbours_before[name], 2) for name, other in stack.neighbours.items()
    }
    time.sleep(1)  # the watch delivers the last DELETED events
    calls = [c for c in stack.control.calls() if c.at >= sent]
    writes = stack.writes.since(sent)
    gone_at = {w.key: w.at for w in writes if w.kind == "DELETED"}
    marked_at: dict[str, float] = {}  # when the watch showed the object's deletionTimestamp first
    for write in writes:
        if write.deleting:
            marked_at.setdefault(write.key, write.at)
    status_writes_of: Counter[str] = Counter(w.key for w in writes if w.status_changed)
    by_pool: dict[str | None, list[Call]] = defaultdict(list)
    for call in calls:
        by_pool[call.pool_name].append(call)
    # Pool lists serve every pool of the project at once: counted apart, and shared out evenly in reads_per_pool.
    lists = [c for c in calls if is_list(c)]

    reaction, reaction_marked, lag, per_pool_calls, per_pool_gets, reads = [], [], [], [], [], []
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
        gets = sum(1 for c in mine if c.method == "GET")
        per_pool_gets.append(gets)
        reads.append(gets + len(lists) / n)
    if stack.timelines is not None:
        # The raw material of the numbers below, seconds from the delete call: to see where a run's time went.
        stack.timelines.mkdir(parents=True, exist_ok=True)
        timeline = {
            "sent_at": sent,
            "delete_seconds": delete_seconds,
            "pool_of": pool_of,
            "calls": [{**dataclasses.asdict(c), "at": round(c.at - sent, 4)} for c in calls],
            "writes": [{**dataclasses.asdict(w), "at": round(w.at - sent, 4)} for w in writes],
        }
        (stack.timelines / f"{namespace}.json").write_text(json.dumps(timeline))
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
        # GET /pools/{name} of each pool (the 404 confirmation, reads after the operator's own writes).
        "gets_per_pool": distribution(per_pool_gets),
        # Every page of every pool list (GET /pools) of the project while these pools were deleted.
        "list_calls": len(lists),
        # A pool's own GETs plus its share of the list calls (list calls / n): every ModelArts read on its behalf.
        "reads_per_pool": distribution(reads),
        "terraform_gets_per_pool": terraform_gets(delete_seconds),
        "throttled": statuses.get("429", 0),
        "calls_total": len(calls),
        "calls_by_status": dict(sorted(statuses.items())),
        "calls_by_operation": dict(Counter(f"{c.operation or c.method} {c.status}" for c in calls)),
        "status_writes": sum(status_writes_of.values()),
        "status_writes_per_pool": distribution(status_writes_of.get(key, 0) for key in pool_of),
        "object_writes": sum(1 for w in writes if w.kind == "MODIFIED"),
        "operator_cpu_seconds": round(cpu, 2),
        "other_cpu_seconds": neighbours_cpu,
        "rate": rate_check(calls, stack.settings["rate_limit"], stack.settings["rate_burst"]),
        "unmeasured_objects": missing,
    }
    stack.log(
        f"  reaction p95 {result['reaction_seconds'].get('p95')}s (from mark "
        f"{result['reaction_from_mark_seconds'].get('p95')}s), lag p95 "
        f"{result['completion_lag_seconds'].get('p95')}s, GETs/pool p95 {result['gets_per_pool'].get('p95')}, "
        f"{len(lists)} list calls (Terraform {result['terraform_gets_per_pool']}), operator CPU {cpu:.1f}s, "
        f"wall {took:.0f}s"
    )
    return result


def creation(stack: Stack, namespace: str, n: int) -> dict[str, Any]:
    """A fresh operator process creates ``n`` pools: its peak memory, CPU and calls while doing so."""
    stack.log(f"creation: a fresh operator process creates {n} pools")
    stack.operator.stop()
    stack.operator.start(ready_timeout=120)
    assert stack.operator.process is not None
    pid = stack.operator.process.pid
    idle = memory_mb(pid)
    stack.control.clear_calls()
    started, cpu_before = time.time(), cpu_seconds(pid)
    took = populate(stack, namespace, n)
    time.sleep(3 * stack.settings["transition_poll_seconds"])  # the last passes after Running
    ended, cpu_after = time.time(), cpu_seconds(pid)
    memory = memory_mb(pid)
    calls = [c for c in stack.control.calls() if started <= c.at <= ended]
    writes = stack.writes.since(started, ended)
    status_writes_of: Counter[str] = Counter(w.key for w in writes if w.status_changed and w.kind != "DELETED")
    result = {
        "n": n,
        "running_seconds": round(took, 1),
        "idle_rss_mb": idle["rss_mb"],
        "rss_mb": memory["rss_mb"],
        "peak_rss_mb": memory["peak_rss_mb"],
        "cpu_seconds": round(cpu_after - cpu_before, 2),
        "calls": len(calls),
        "calls_by_operation": dict(Counter(f"{c.operation or c.method} {c.status}" for c in calls)),
        "status_writes": sum(status_writes_of.values()),
        "status_writes_per_pool": distribution(status_writes_of.values()),
        "object_writes": sum(1 for w in writes if w.kind == "MODIFIED"),
        "rate": rate_check(calls, stack.settings["rate_limit"], stack.settings["rate_burst"]),
    }
    stack.log(
        f"  peak RSS {result['peak_rss_mb']} MiB (idle {idle['rss_mb']} MiB), CPU {result['cpu_seconds']}s, "
        f"{len(calls)} calls, {result['status_writes']} status writes"
    )
    return result


def running_gauge(operator: OperatorProcess) -> int:
    """The operator's own count of objects whose pool it has seen Running since it started (all namespaces)."""
    try:
        text = operator.metrics()
    except OSError:
        return 0
    return running_in(text)


def running_in(metrics: str) -> int:
    return sum(int(float(value)) for value in RUNNING_GAUGE.findall(metrics))


def restart(stack: Stack, namespace: str, n: int) -> dict[str, Any]:
    """SIGTERM and start again with ``n`` Running pools: how long until settled, and what it cost.

    Settled: the operator counts every object's pool Running (every object has been looked at), and after the
    last ModelArts call or object write nothing happens for ``quiet`` seconds."""
    stack.log(f"restart: operator restarted (SIGTERM, start) with {n} Running pools")
    total = len(stack.kube.pools(namespace))
    assert stack.operator.process is not None
    # The process being replaced created these pools: its peak memory (the creation scenario reports it too).
    before = memory_mb(stack.operator.process.pid)
    stack.operator.stop()
    stack.control.clear_calls()
    started = time.time()
    stack.operator.start(ready_timeout=120)
    ready = time.time() - started
    quiet = 3 * stack.settings["transition_poll_seconds"]
    counted_at: float | None = None
    deadline = time.monotonic() + 600
    while True:
        now = time.time()
        if counted_at is None and running_gauge(stack.operator) >= total:
            counted_at = now
        activity = [c.at for c in stack.control.calls() if c.at >= started]
        activity += [w.at for w in stack.writes.since(started) if w.kind == "MODIFIED"]
        last = max([*activity, counted_at or now])
        if counted_at is not None and now - last >= quiet:
            settled = last
            break
        if time.monotonic() > deadline:
            raise TimeoutError(f"not settled after 600s (gauge {running_gauge(stack.operator)}/{total})")
        time.sleep(0.25)
    calls = [c for c in stack.control.calls() if started <= c.at <= settled]
    writes = stack.writes.since(started, settled + 0.001)
    result = {
        "n": n,
        "settled_seconds": round(settled - started, 1),
        "all_counted_seconds": round((counted_at or settled) - started, 1),
        "healthy_seconds": round(ready, 1),
        "settled_definition": f"every object counted Running by the operator, then no ModelArts call and no "
        f"object write for {quiet:g}s",
        "calls": len(calls),
        "calls_by_operation": dict(Counter(f"{c.operation or c.method} {c.status}" for c in calls)),
        "first_read_seconds": distribution(c.at - started for c in calls[:1]),
        "status_writes": sum(1 for w in writes if w.status_changed),
        "object_writes": sum(1 for w in writes if w.kind == "MODIFIED"),
        "rate": rate_check(calls, stack.settings["rate_limit"], stack.settings["rate_burst"]),
        "replaced_process_peak_rss_mb": before["peak_rss_mb"],
    }
    stack.log(
        f"  settled in {result['settled_seconds']}s (all counted at {result['all_counted_seconds']}s), "
        f"{len(calls)} calls, {result['status_writes']} status writes"
    )
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
    lists = [c.at for c in calls if is_list(c)]
    stable = stack.settings["stable_poll_seconds"]
    result = {
        "n": n,
        "minutes": round(window / 60, 2),
        "stable_poll_seconds": stable,
        "calls_per_minute": round(len(calls) / window * 60, 1),
        "calls_by_operation": dict(Counter(f"{c.operation or c.method} {c.status}" for c in calls)),
        "list_calls_per_minute": round(len(lists) / window * 60, 2),
        "gets_per_pool": distribution(len(gets.get(p, [])) for p in pools),
        "gets_per_pool_per_interval": distribution(len(gets.get(p, [])) / (window / stable) for p in pools),
        "get_interval_seconds": distribution(intervals),
        "status_writes": sum(1 for w in writes if w.status_changed),
        "status_writes_per_minute": round(sum(1 for w in writes if w.status_changed) / window * 60, 2),
        "object_writes_per_minute": round(sum(1 for w in writes if w.kind == "MODIFIED") / window * 60, 2),
        "cpu_seconds": round(cpu_after - cpu_before, 2),
        "cpu_seconds_per_minute": round((cpu_after - cpu_before) / window * 60, 2),
        "rss_mb": distribution(rss_samples, digits=1),
        "peak_rss_mb": memory["peak_rss_mb"],
        "rate": rate_check(calls, stack.settings["rate_limit"], stack.settings["rate_burst"]),
    }
    stack.log(
        f"  {result['calls_per_minute']} calls/min, {result['status_writes_per_minute']} status writes/min, "
        f"CPU {result['cpu_seconds']}s, peak RSS {result['peak_rss_mb']} MiB"
    )
    return result
