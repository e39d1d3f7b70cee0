"""Finding the pool an earlier, unanswered create made: shared by the create path and the deletion path."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta

from modelarts_operator.modelarts.client import ModelArtsClient
from modelarts_operator.modelarts.models import LABEL_DISPLAY_NAME, Pool
from modelarts_operator.reconcile.view import parse_timestamp

# A pool created up to this long before our recorded intent still counts as ours: the operator's and the
# cloud's clocks differ. Small, because a pool that old with the same display name is most likely somebody else's.
CLOCK_SKEW_ALLOWANCE = timedelta(seconds=120)


async def find_pool_created_since(
    client: ModelArtsClient,
    display_name: str,
    intent: datetime,
    *,
    workspace_id: str | None,
    managed_elsewhere: Callable[[str], bool],
) -> Pool | None:
    """A pool with this display name, created since the create intent, that no other object manages."""
    pools = await client.list_pools(label_selector=f"{LABEL_DISPLAY_NAME}={display_name}", workspace_id=workspace_id)
    for pool in pools:
        if pool.metadata.display_name != display_name or not pool.name or managed_elsewhere(pool.name):
            continue
        created = parse_timestamp(pool.metadata.creation_timestamp)
        if created is not None and created >= intent - CLOCK_SKEW_ALLOWANCE:
            return pool
    return None
