"""The pool phase machine, as pure functions of a pool record and a time.

A record is the pool's wire document (``metadata`` + ``spec``) plus internals: node batches that each finish
at an absolute time, scope and driver states with their own finish times, an optional forced phase, and the
deletion in progress. Nothing here reads a clock: callers pass ``now``, so a fake clock drives every
transition in tests, and the same record persisted to the state file carries on after a restart.

Record keys (all JSON):
- ``pool``: ``{"apiVersion", "kind", "metadata", "spec"}`` as the API shows them;
- ``createdAt``, ``readyAt``: when the pool was created and when its creation completes (epoch seconds);
- ``nodes``: batches ``{"flavor", "count", "state": creating|available|deleting, "until": float|None}``;
- ``scope``: ``{"scopeType", "state": Enabling|Enabled|Disabling, "until"}``;
- ``driver``: ``{"gpu"|"npu": {"version", "state": Creating|Upgrading|Running, "until"}}``;
- ``forcedPhase``, ``message``: set through the control API (``Abnormal``, ``Error``, ...);
- ``deletion``: ``None`` or ``{"startedAt", "duration", "nodes": {flavor: count}, "stalledSince"}``;
- ``deletionMode``: ``{"mode": normal|fail|stall, "status", "error_code", "error_msg"}``;
- ``visibleAt``: before this time GET answers 404 and list leaves the pool out (read-after-create lag);
- ``creationFailed``: ``None`` or ``{"at", "message"}``: the creation failed; the pool has left GET and is listed
  only under ``status=failed`` until ``at`` + the retention (3 days).

Older state files lack the last two keys: readers use ``.get``.
"""

from __future__ import annotations

import math
from typing import Any

JSON = dict[str, Any]

NODE_STATES = ("creating", "available", "abnormal", "deleting", "creationFailed")
# status=... filter of the list API: which phases each value selects.
CREATING_PHASES = frozenset({"Creating", "Waiting"})
FAILED_PHASES = frozenset({"CreationFailed", "Error"})


def _done(until: float | None, now: float) -> bool:
    return until is not None and until <= now


def settle(record: JSON, now: float) -> bool:
    """Fold every transition finished by ``now`` into the record; ``True`` when anything changed.

    Settling is only bookkeeping: ``render`` gives the same answer before and after it, so the lazy path (each
    request) and the background ticker can both call it.
    """
    due = [entry["until"] for entry in (*record["nodes"], *record["scope"], *record["driver"].values())]
    if not any(_done(until, now) for until in due):
        return False  # the common case, kept cheap: the ticker settles every pool every tick
    changed = False
    batches: list[JSON] = []
    for batch in record["nodes"]:
        if batch["state"] == "creating" and _done(batch["until"], now):
            batch = {**batch, "state": "available", "until": None}
            changed = True
        if batch["state"] == "deleting" and _done(batch["until"], now):
            changed = True
            continue
        batches.append(batch)
    merged = _merge_available(batches)
    changed = changed or len(merged) != len(record["nodes"])
    record["nodes"] = merged

    scope: list[JSON] = []
    for entry in record["scope"]:
        if _done(entry["until"], now):
            changed = True
            if entry["state"] == "Disabling":
                continue
            entry = {**entry, "state": "Enabled", "until": None}
        scope.append(entry)
    record["scope"] = scope

    for key, entry in list(record["driver"].items()):
        if _done(entry["until"], now):
            record["driver"][key] = {**entry, "state": "Running", "until": None}
            changed = True
    return changed


def _merge_available(batches: list[JSON]) -> list[JSON]:
    """One ``available`` batch per flavor, so records do not grow with every scale-out."""
    result: list[JSON] = []
    available: dict[str, JSON] = {}
    for batch in batches:
        if batch["state"] == "available":
            if batch["flavor"] in available:
                available[batch["flavor"]]["count"] += batch["count"]
                continue
            batch = dict(batch)
            available[batch["flavor"]] = batch
        result.append(batch)
    return result


def deletion_finished(record: JSON, now: float) -> bool:
    deletion = record["deletion"]
    return bool(deletion) and deletion["stalledSince"] is None and deletion["startedAt"] + deletion["duration"] <= now


def deletion_progress(deletion: JSON, now: float) -> float:
    """From 0 (just started) to 1 (gone); frozen while the deletion is stalled."""
    if deletion["duration"] <= 0:
        return 1.0
    moment = float(deletion["stalledSince"] if deletion["stalledSince"] is not None else now)
    return min(1.0, max(0.0, (moment - float(deletion["startedAt"])) / float(deletion["duration"])))


def phase(record: JSON, now: float) -> str:
    if record.get("forcedPhase"):
        return str(record["forcedPhase"])
    if record.get("creationFailed"):
        return "CreationFailed"
    if record["deletion"]:
        return "Deleting"
    if now < record["readyAt"]:
        return "Creating"
    return "Running"


def _node_counts(record: JSON, now: float) -> dict[str, dict[str, int]]:
    """``{state: {flavor: count}}`` at ``now``, computed from the batches' finish times."""
    counts: dict[str, dict[str, int]] = {state: {} for state in NODE_STATES}
    if record.get("creationFailed"):
        for item in record["pool"]["spec"]["resources"]:
            counts["creationFailed"][item["flavor"]] = item["count"]
        return counts
    deletion = record["deletion"]
    if deletion:
        # Linear drain: a poller sees the deleting count go down until the pool is gone.
        remaining = 1.0 - deletion_progress(deletion, now)
        for flavor, count in deletion["nodes"].items():
            left = math.ceil(count * remaining - 1e-9)
            if left > 0:
                counts["deleting"][flavor] = left
        return counts
    for batch in record["nodes"]:
        state = batch["state"]
        if state == "creating" and _done(batch["until"], now):
            state = "available"
        elif state == "deleting" and _done(batch["until"], now):
            continue
        bucket = counts[state]
        bucket[batch["flavor"]] = bucket.get(batch["flavor"], 0) + batch["count"]
    return counts


def _resources_status(record: JSON, now: float) -> JSON:
    spec_resources = {item["flavor"]: item for item in record["pool"]["spec"].get("resources", [])}
    order = list(spec_resources)
    result: JSON = {}
    for state, by_flavor in _node_counts(record, now).items():
        flavors = [f for f in order if f in by_flavor] + sorted(f for f in by_flavor if f not in spec_resources)
        entries = []
        for flavor in flavors:
            entry: JSON = {"flavor": flavor, "count": by_flavor[flavor]}
            if flavor in spec_resources:
                entry["maxCount"] = spec_resources[flavor].get("maxCount", spec_resources[flavor]["count"])
                if spec_resources[flavor].get("azs"):
                    entry["azs"] = split_over_azs(spec_resources[flavor]["azs"], by_flavor[flavor])
            entries.append(entry)
        if entries:
            result[state] = entries
    return result


def split_over_azs(azs: list[JSON], count: int) -> list[JSON]:
    """``count`` nodes spread over the spec's zones: each zone filled up to its own count in order, the rest in
    the last zone. The real split is the cloud's choice; this one is only deterministic."""
    result: list[JSON] = []
    left = count
    for index, zone in enumerate(azs):
        take = left if index == len(azs) - 1 else min(left, int(zone["count"]))
        if take > 0:
            result.append({"az": zone["az"], "count": take})
        left -= take
    return result


def shaped(resources: JSON, shape: str) -> JSON:
    """``object``: a bucket with one entry becomes that entry, the shape Huawei's API reference and SDKs
    describe; ``list`` (what the cloud answers) leaves them alone."""
    if shape != "object":
        return resources
    return {state: entries[0] if len(entries) == 1 else entries for state, entries in resources.items()}


def render_status(record: JSON, now: float) -> JSON:
    status: JSON = {"phase": phase(record, now), "resources": _resources_status(record, now)}
    failed = record.get("creationFailed")
    if record.get("message"):
        status["message"] = record["message"]
    elif failed and failed.get("message"):
        status["message"] = failed["message"]
    scope = []
    for entry in record["scope"]:
        state = entry["state"]
        if _done(entry["until"], now):
            if state == "Disabling":
                continue
            state = "Enabled"
        scope.append({"scopeType": entry["scopeType"], "state": state})
    status["scope"] = scope
    driver = {
        key: {
            "version": entry["version"],
            "state": "Running" if _done(entry["until"], now) else entry["state"],
        }
        for key, entry in record["driver"].items()
    }
    if driver:
        status["driver"] = driver
    return status


def list_status_matches(record: JSON, now: float, wanted: str) -> bool:
    """The list API's ``status`` filter: ``creating``, ``failed`` or ``created`` (everything else)."""
    current = phase(record, now)
    if wanted == "creating":
        return current in CREATING_PHASES
    if wanted == "failed":
        return current in FAILED_PHASES
    return current not in CREATING_PHASES | FAILED_PHASES
