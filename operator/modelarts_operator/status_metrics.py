"""What a ModelArtsPool object's status says for the gauges: one pure function, so the handlers report the same
thing wherever they learn an object's state (after a status write, at each turn of the observe loop)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from modelarts_operator.metrics import NodeCounts, PoolReport
from modelarts_operator.reconcile import conditions as c
from modelarts_operator.reconcile.view import parse_timestamp
from modelarts_operator.resource.status import ConditionStatus, ConditionType


def _count(value: Any) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) and value > 0 else 0


def pool_report(status: Mapping[str, Any], deletion_timestamp: str | None) -> PoolReport:
    """``status`` is the object's (our last write, or the streamed one); ``deletion_timestamp`` its
    ``metadata.deletionTimestamp``.

    An object without a recorded pool is not counted by phase or nodes (there is nothing in the cloud yet); an
    object being deleted reports when its deletion began and whether it is stalled, pool or not, until the
    operator releases it.
    """
    has_pool = bool(status.get("poolName"))
    phase = status.get("phase") if has_pool else None
    nodes = status.get("nodes") if has_pool else None
    counts = (
        NodeCounts(**{state: _count(nodes.get(state)) for state in NodeCounts._fields})
        if isinstance(nodes, Mapping)
        else NodeCounts()
    )
    started = parse_timestamp(deletion_timestamp)
    deleting = next(
        (
            cond
            for cond in status.get("conditions") or []
            if isinstance(cond, Mapping) and cond.get("type") == ConditionType.DELETING
        ),
        None,
    )
    stalled = bool(
        deleting and deleting.get("status") == ConditionStatus.TRUE and deleting.get("reason") == c.DELETION_STALLED
    )
    return PoolReport(
        phase=str(phase) if phase else None,
        nodes=counts,
        deletion_started=started.timestamp() if started is not None else None,
        deletion_stalled=stalled and started is not None,
    )
