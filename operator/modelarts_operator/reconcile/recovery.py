"""Finding a pool an earlier, unanswered create made, and a creation that failed in the cloud."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

from modelarts_operator.modelarts.client import ModelArtsClient
from modelarts_operator.modelarts.models import LABEL_DISPLAY_NAME, Pool
from modelarts_operator.reconcile.ownership import CLOCK_SKEW_ALLOWANCE
from modelarts_operator.reconcile.view import parse_timestamp

LIST_STATUS_FAILED = "failed"


async def find_pool_created_since(
    client: ModelArtsClient,
    display_name: str,
    intent: datetime,
    *,
    workspace_id: str | None,
    managed_elsewhere: Callable[[str], bool],
) -> Pool | None:
    """A pool with this display name, created since the create intent, that no other object manages.

    ``intent`` is never earlier than the object (``PoolObject.create_requested_at``), so a pool that existed
    before the object is never taken, whatever the annotation says."""
    pools = await client.list_pools(label_selector=f"{LABEL_DISPLAY_NAME}={display_name}", workspace_id=workspace_id)
    for pool in pools:
        if pool.metadata.display_name != display_name or not pool.name or managed_elsewhere(pool.name):
            continue
        created = parse_timestamp(pool.metadata.creation_timestamp)
        if created is not None and created >= intent - CLOCK_SKEW_ALLOWANCE:
            return pool
    return None


async def find_listed(
    client: ModelArtsClient, display_name: str, pool_name: str, *, workspace_id: str | None
) -> Pool | None:
    """The pool, if the list by display name shows it (a GET may lag behind the list, or the other way round)."""
    pools = await client.list_pools(label_selector=f"{LABEL_DISPLAY_NAME}={display_name}", workspace_id=workspace_id)
    return next((pool for pool in pools if pool.name == pool_name), None)
