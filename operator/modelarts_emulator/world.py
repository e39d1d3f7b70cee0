"""The emulated ModelArts project: its pools and every change the API and the control API make to them.

Single event loop, synchronous methods: no method awaits between reading and writing the pools, so no lock is
needed. Times come from an injectable clock (epoch seconds), so unit tests drive the phase machine with a fake
one.
"""

from __future__ import annotations

import copy
import hashlib
import time
import uuid
from collections.abc import Callable, Iterable
from datetime import UTC, datetime
from typing import Any

from modelarts_emulator import machine, paging, updates
from modelarts_emulator.config import Behaviour, Timings
from modelarts_emulator.errors import (
    BEING_DELETED_MSG,
    DELETION_REFUSED,
    POOL_ALREADY_EXISTS,
    PREPAID_DELETE_MSG,
    ApiError,
    bad_request,
    pool_not_found,
)
from modelarts_emulator.labels import Term, selector_matches
from modelarts_emulator.merge_patch import apply_merge_patch
from modelarts_emulator.validation import (
    ANNOTATION_BILLING_MODE,
    LABEL_NAME,
    LABEL_WORKSPACE,
    validate_pool_document,
)

JSON = dict[str, Any]
Clock = Callable[[], float]

MAX_POOL_NAME = 63
DELETION_MODES = ("normal", "fail", "stall")
CREATION_MODES = ("fail",)
PREPAID = "1"


def timestamp(moment: float) -> str:
    """RFC 3339 UTC, the way Kubernetes-style APIs (ModelArts v2 among them) print times."""
    return datetime.fromtimestamp(moment, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def pool_name_for(display_name: str, project_id: str, taken: Iterable[str]) -> str:
    """``<display name>-<project id>`` as in every published example, kept within 63 characters.

    A long display name is cut; a name still held by another record (a cut that collides, or the failed creation
    of the same display name, kept for 3 days) gets a short hash, so the name stays unique, lowercase, starts
    with a letter and does not end with a hyphen.
    """
    suffix = f"-{project_id}"
    room = MAX_POOL_NAME - len(suffix)
    name = display_name[:room].rstrip("-") + suffix
    held = set(taken)
    attempt = 0
    while name in held:
        seed = display_name if attempt == 0 else f"{display_name}#{attempt}"
        digest = hashlib.sha256(seed.encode()).hexdigest()[:4]
        name = f"{display_name[: room - 5].rstrip('-')}-{digest}{suffix}"
        attempt += 1
    return name


def _default_deletion_mode() -> JSON:
    return {
        "mode": "normal",
        "status": 403,
        "error_code": DELETION_REFUSED,
        "error_msg": "The pool cannot be deleted: other resources depend on it.",
    }


class World:
    def __init__(
        self,
        *,
        project_id: str,
        timings: Timings,
        behaviour: Behaviour | None = None,
        clock: Clock = time.time,
        on_change: Callable[[], None] | None = None,
    ) -> None:
        self.project_id = project_id
        self.timings = timings
        self.behaviour = behaviour or Behaviour()
        self.clock = clock
        self.on_change = on_change
        self.pools: dict[str, JSON] = {}

    # ----- bookkeeping -----
    def _changed(self) -> None:
        if self.on_change is not None:
            self.on_change()

    def settle(self) -> bool:
        """Fold finished transitions in, drop pools whose deletion completed; ``True`` if anything changed."""
        now = self.clock()
        changed = False
        for name, record in list(self.pools.items()):
            if machine.deletion_finished(record, now) or self._failed_record_expired(record, now):
                del self.pools[name]
                changed = True
            elif machine.settle(record, now):
                changed = True
        if changed:
            self._changed()
        return changed

    def _failed_record_expired(self, record: JSON, now: float) -> bool:
        failed = record.get("creationFailed")
        return failed is not None and float(failed["at"]) + self.behaviour.failed_retention_seconds <= now

    @staticmethod
    def _visible(record: JSON, now: float) -> bool:
        """What GET and the default list see: not hidden by the read-after-create lag, not a failed creation."""
        return record.get("visibleAt", 0.0) <= now and not record.get("creationFailed")

    def _record(self, name: str, *, console: bool = False) -> JSON:
        """One pool, settled. Only this pool is settled: a GET must not cost O(pools) in a benchmark.

        The API (``console=False``) does not see a pool hidden by the read-after-create lag or one whose creation
        failed: 404, as the cloud answers; the control API (the console) sees every record still kept.
        """
        record = self.pools.get(name)
        if record is None:
            raise pool_not_found()
        now = self.clock()
        if machine.deletion_finished(record, now) or self._failed_record_expired(record, now):
            del self.pools[name]
            self._changed()
            raise pool_not_found()
        if not console and not self._visible(record, now):
            raise pool_not_found()
        if machine.settle(record, now):
            self._changed()
        return record

    def render(self, record: JSON, now: float | None = None) -> JSON:
        now = self.clock() if now is None else now
        pool: JSON = copy.deepcopy(record["pool"])
        status = machine.render_status(record, now)
        status["resources"] = machine.shaped(status["resources"], self.behaviour.resources_shape)
        pool["status"] = status
        return pool

    # ----- the /v2 API -----
    def create(self, body: Any, *, ready: bool = False, console: bool = False) -> JSON:
        """POST /pools. From the control API (``console``) a pool has no read-after-create lag, and ``ready``
        makes it Running at once."""
        document = validate_pool_document(body, creating=True)
        now = self.clock()
        metadata, spec = document["metadata"], document["spec"]
        display_name = metadata["labels"][LABEL_NAME]
        for other_name, other in list(self.pools.items()):
            if other["pool"]["metadata"]["labels"].get(LABEL_NAME) != display_name:
                continue
            if machine.deletion_finished(other, now):
                del self.pools[other_name]  # gone: its name is free again
            elif not other.get("creationFailed"):
                # Also while the other one is still hidden by the lag: the name is taken all the same.
                raise ApiError(409, POOL_ALREADY_EXISTS, "Pool already exists.")
        name = pool_name_for(display_name, self.project_id, self.pools)
        labels = metadata.setdefault("labels", {})
        labels.setdefault(LABEL_WORKSPACE, "0")
        labels.update(
            {
                "os.modelarts/resource.id": str(uuid.uuid4()),
                "os.modelarts/tenant.domain.id": hashlib.md5(
                    self.project_id.encode(), usedforsecurity=False
                ).hexdigest(),
                "os.modelarts/tenant.project.id": self.project_id,
                "os.modelarts.pool/biz": "private",
                "os.modelarts/create-from": "api",
            }
        )
        annotations = metadata.setdefault("annotations", {})
        annotations.setdefault(ANNOTATION_BILLING_MODE, "0")
        annotations["os.modelarts.pool/subpools.count"] = "0"
        annotations["os.modelarts/flavor.resource.ids"] = ""
        metadata["name"] = name
        metadata["creationTimestamp"] = timestamp(now)
        ready_at = now + (0.0 if ready else self.timings.create_seconds)
        record: JSON = {
            "pool": {"apiVersion": "v2", "kind": "Pool", "metadata": metadata, "spec": spec},
            "createdAt": now,
            "readyAt": ready_at,
            "nodes": [
                {"flavor": r["flavor"], "count": r["count"], "state": "creating", "until": ready_at}
                for r in spec["resources"]
            ],
            "scope": [{"scopeType": s, "state": "Enabling", "until": ready_at} for s in spec["scope"]],
            "driver": {},
            "forcedPhase": None,
            "message": None,
            "deletion": None,
            "deletionMode": _default_deletion_mode(),
            "visibleAt": now if console else now + self.behaviour.visibility_delay_seconds,
            "creationFailed": None,
        }
        updates.apply_driver(record, {}, spec, until=ready_at, initial=True)
        self.pools[name] = record
        self._changed()
        # The create answer carries no phase at all (modelarts-api.md section 3).
        return {**copy.deepcopy(record["pool"]), "status": {"resources": {}}}

    def get(self, name: str) -> JSON:
        return self.render(self._record(name))

    def list_pools(
        self,
        *,
        workspace_id: str,
        selector: list[Term],
        status: str | None,
        limit: int | None = None,
        continue_token: str | None = None,
    ) -> JSON:
        """GET /pools: without ``status``, the pools in effect (creating and created); ``status=failed`` also the
        failed creations kept for 3 days. In name order, a page at a time when ``limit`` is given."""
        self.settle()
        now = self.clock()
        matching = []
        for name, record in self.pools.items():
            if record.get("visibleAt", 0.0) > now:
                continue
            labels = record["pool"]["metadata"]["labels"]
            if labels.get(LABEL_WORKSPACE, "0") != workspace_id:
                continue
            if not all(selector_matches(labels, *term) for term in selector):
                continue
            if record.get("creationFailed") and status != "failed":
                continue
            if status is not None and not machine.list_status_matches(record, now, status):
                continue
            matching.append(name)
        query = paging.query_key(workspace_id, selector, status)
        shown = paging.page(sorted(matching), limit=limit, token=continue_token, query=query)
        result: JSON = {
            "apiVersion": "v2",
            "kind": "PoolList",
            "items": [self.render(self.pools[name], now) for name in shown.names],
        }
        if shown.continue_token is not None:
            result["metadata"] = {"continue": shown.continue_token}
        return result

    def patch(self, name: str, patch: Any, *, enforce_rules: bool = True) -> JSON:
        """Apply a merge patch of ``metadata.labels``, ``metadata.annotations`` and ``spec``.

        ``enforce_rules=False`` is the console changing the pool behind the operator's back (drift): the
        immutability and workspace rules are skipped, the result must still be a valid pool.
        """
        if not isinstance(patch, dict):
            raise bad_request("The request body must be a JSON object.")
        record = self._record(name, console=not enforce_rules)
        if record["deletion"]:
            raise bad_request("The pool is being deleted and cannot be updated.")
        if record.get("creationFailed"):
            raise bad_request("The creation of this pool failed; it cannot be updated.")
        old = record["pool"]
        relevant: JSON = {}
        if isinstance(patch.get("metadata"), dict):
            relevant["metadata"] = {k: v for k, v in patch["metadata"].items() if k in ("labels", "annotations")}
        if "spec" in patch:
            relevant["spec"] = patch["spec"]
        merged = apply_merge_patch({"metadata": old["metadata"], "spec": old["spec"]}, relevant)
        document = validate_pool_document(merged, creating=False)
        if enforce_rules:
            updates.check_update_rules(old, document)
        now = self.clock()
        until = now + self.timings.scale_seconds
        updates.apply_resources(record, document["spec"], until)
        updates.apply_scope(record, document["spec"], until)
        updates.apply_driver(record, old["spec"], document["spec"], until=until, initial=False)
        record["pool"] = {**old, "metadata": document["metadata"], "spec": document["spec"]}
        self._changed()
        return self.render(record, now)

    def delete(self, name: str) -> JSON:
        record = self._record(name)
        mode = record["deletionMode"]
        if mode["mode"] == "fail":
            raise ApiError(int(mode["status"]), str(mode["error_code"]), str(mode["error_msg"]))
        annotations = record["pool"]["metadata"].get("annotations", {})
        if annotations.get(ANNOTATION_BILLING_MODE) == PREPAID:
            # No public source names this answer; status, code and words are the emulator's (docs/emulator.md).
            raise ApiError(403, DELETION_REFUSED, PREPAID_DELETE_MSG)
        now = self.clock()
        if record["deletion"]:
            if self.behaviour.second_delete == "error":
                raise bad_request(BEING_DELETED_MSG)
            return self.render(record, now)  # idempotent: the pool is already going
        record["pool"]["metadata"]["deletionTimestamp"] = timestamp(now)
        # The answer is the pool as it was: phase may still be Running, nodes still available.
        snapshot = self.render(record, now)
        totals: dict[str, int] = {}
        for batch in record["nodes"]:
            totals[batch["flavor"]] = totals.get(batch["flavor"], 0) + batch["count"]
        record["deletion"] = {
            "startedAt": now,
            "duration": self.timings.delete_seconds,
            "nodes": totals,
            "stalledSince": now if mode["mode"] == "stall" else None,
        }
        record["nodes"] = []
        record["forcedPhase"] = None
        self._changed()
        return snapshot

    # ----- the control API -----
    def force_phase(self, name: str, phase: str | None, message: str | None) -> JSON:
        record = self._record(name, console=True)
        record["forcedPhase"] = phase or None
        record["message"] = message or None
        self._changed()
        return self.render(record)

    def set_deletion_mode(
        self,
        name: str,
        mode: str,
        *,
        status: int | None = None,
        error_code: str | None = None,
        error_msg: str | None = None,
    ) -> JSON:
        if mode not in DELETION_MODES:
            raise bad_request(f"mode must be one of {', '.join(DELETION_MODES)}.")
        record = self._record(name, console=True)
        now = self.clock()
        behaviour = {**_default_deletion_mode(), "mode": mode}
        for key, value in (("status", status), ("error_code", error_code), ("error_msg", error_msg)):
            if value is not None:
                behaviour[key] = value
        record["deletionMode"] = behaviour
        deletion = record["deletion"]
        if deletion and mode == "stall" and deletion["stalledSince"] is None:
            deletion["stalledSince"] = now
        elif deletion and mode != "stall" and deletion["stalledSince"] is not None:
            # Resume where it stopped: shift the start by the time spent stalled.
            deletion["startedAt"] += now - deletion["stalledSince"]
            deletion["stalledSince"] = None
        self._changed()
        return self.render(record, now)

    def set_creation_mode(self, name: str, mode: str, message: str | None) -> JSON:
        """``fail``: the creation fails now. The pool leaves GET (404) and stays listed only under
        ``status=failed`` for 3 days, with phase ``CreationFailed``, the message and its nodes in the
        ``creationFailed`` bucket. Only a pool still being created can fail its creation."""
        if mode not in CREATION_MODES:
            raise bad_request(f"mode must be one of {', '.join(CREATION_MODES)}.")
        record = self._record(name, console=True)
        now = self.clock()
        if record["deletion"] or record.get("creationFailed") or now >= record["readyAt"]:
            raise bad_request("Only a pool still being created can fail its creation.")
        record["creationFailed"] = {"at": now, "message": message or "Failed to create the resource pool."}
        record["nodes"] = []
        record["scope"] = []
        record["driver"] = {}
        record["forcedPhase"] = None
        self._changed()
        return self.render(record, now)

    def remove(self, name: str) -> None:
        self._record(name, console=True)
        del self.pools[name]
        self._changed()

    def reset(self) -> None:
        self.pools.clear()
        self._changed()

    def dump(self) -> list[JSON]:
        """Every pool with its internals and its current view, for tests and debugging."""
        self.settle()
        now = self.clock()
        return [
            {"name": name, "view": self.render(record, now), "internal": copy.deepcopy(record)}
            for name, record in self.pools.items()
        ]

    def to_state(self) -> JSON:
        return {"version": 1, "projectId": self.project_id, "pools": copy.deepcopy(self.pools)}

    def load_state(self, state: JSON) -> None:
        self.pools = copy.deepcopy(state.get("pools", {}))
