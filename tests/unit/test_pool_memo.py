"""The shared list's memo (``client.PoolMemo``): unchanged items are not parsed again, and nothing else changes —
paging, the all-or-nothing rule for unreadable items, which pools are kept."""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest
from modelarts_fakes import ENDPOINT, PROJECT_ID, pool_json

from modelarts_operator.modelarts.auth import TokenAuth
from modelarts_operator.modelarts.client import ModelArtsClient, PoolMemo
from modelarts_operator.modelarts.errors import MalformedResponse
from modelarts_operator.resource.status import ModelArtsPoolStatus


class Pages:
    """Answers ``GET /pools`` page by page (``limit`` and ``continue``) from ``items``."""

    def __init__(self, items: list[dict[str, Any]]) -> None:
        self.items = items

    def __call__(self, request: httpx.Request) -> httpx.Response:
        limit = int(request.url.params.get("limit", "1000"))
        start = int(request.url.params.get("continue", "0"))
        page = self.items[start : start + limit]
        more = start + limit < len(self.items)
        body = {"kind": "PoolList", "metadata": {"continue": str(start + limit)} if more else {}, "items": page}
        return httpx.Response(200, content=json.dumps(body))


async def test_unchanged_items_reuse_the_parsed_pool_and_changed_ones_are_parsed_again() -> None:
    pages = Pages([pool_json(name=f"pool-{i}") for i in range(5)])
    async with httpx.AsyncClient(transport=httpx.MockTransport(pages)) as http:
        client = ModelArtsClient(http, endpoint=ENDPOINT, project_id=PROJECT_ID, auth=TokenAuth("t"))
        memo = PoolMemo()
        first = await client.list_pools(limit=2, memo=memo)  # three pages
        pages.items[3] = pool_json(name="pool-3", phase="Deleting")
        del pages.items[4]
        second = await client.list_pools(limit=2, memo=memo)
    assert [p.name for p in second] == ["pool-0", "pool-1", "pool-2", "pool-3"]
    assert all(second[i] is first[i] for i in range(3))  # not parsed again
    assert second[3] is not first[3] and second[3].status.phase == "Deleting"
    assert sorted(memo._pools) == ["pool-0", "pool-1", "pool-2", "pool-3"]  # pool-4 is no longer kept


async def test_an_unreadable_item_fails_the_whole_list_and_leaves_the_memo_as_it_was() -> None:
    pages = Pages([pool_json(name="pool-0"), pool_json(name="pool-1")])
    async with httpx.AsyncClient(transport=httpx.MockTransport(pages)) as http:
        client = ModelArtsClient(http, endpoint=ENDPOINT, project_id=PROJECT_ID, auth=TokenAuth("t"))
        memo = PoolMemo()
        await client.list_pools(limit=10, memo=memo)
        kept = dict(memo._pools)
        pages.items[1] = {**pool_json(name="pool-1"), "status": {"resources": "not an object"}}
        with pytest.raises(MalformedResponse) as raised:
            await client.list_pools(limit=10, memo=memo)
    assert "list item" in str(raised.value.error_msg or raised.value)
    assert memo._pools == kept


async def test_the_memo_gives_the_same_pools_as_a_plain_list() -> None:
    pages = Pages([pool_json(name=f"pool-{i}", phase=phase) for i, phase in enumerate(["Running", None, "Creating"])])
    async with httpx.AsyncClient(transport=httpx.MockTransport(pages)) as http:
        client = ModelArtsClient(http, endpoint=ENDPOINT, project_id=PROJECT_ID, auth=TokenAuth("t"))
        assert await client.list_pools(limit=2, memo=PoolMemo()) == await client.list_pools(limit=2)


def test_a_status_deep_copy_is_equal_and_independent() -> None:
    status = ModelArtsPoolStatus.model_validate(
        {
            "poolName": "p",
            "phase": "Deleting",
            "conditions": [
                {"type": "Ready", "status": "False", "reason": "Deleting", "message": "m", "lastTransitionTime": "t"}
            ],
            "deletion": {"requestedAt": "2026-11-29T00:00:00Z", "attempts": 1},
            "resources": {"available": [{"flavor": "f", "count": 1}]},
        }
    )
    copy = status.deep_copy()
    assert copy == status and copy.conditions and status.conditions
    assert copy.conditions[0] is not status.conditions[0]
    copy.conditions[0].message = "changed"
    assert status.conditions[0].message == "m"
