"""Helpers for talking to the emulator over real HTTP: a raw signed client (the control API has its own client,
``modelarts_emulator.control_client``).

The signed client builds every request byte by byte (exact query string, exact body) and signs it with the
project's ``signer``, so tests can also break one thing at a time (a wrong key, a tampered body, an old date).
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any, TypeVar
from urllib.parse import urlsplit

import httpx

from modelarts_operator.modelarts import signer

T = TypeVar("T")


class SignedClient:
    def __init__(self, http: httpx.AsyncClient, *, url: str, project_id: str, access_key: str, secret_key: str) -> None:
        self.http = http
        self.url = url
        self.project_id = project_id
        self.access_key = access_key
        self.secret_key = secret_key

    def pools_path(self, name: str | None = None) -> str:
        base = f"/v2/{self.project_id}/pools"
        return base if name is None else f"{base}/{name}"

    async def request(
        self,
        method: str,
        path: str,
        *,
        query: Sequence[tuple[str, str]] = (),
        json_body: Any = None,
        content: bytes | None = None,
        content_type: str | None = "application/json",
        extra_headers: Mapping[str, str] | None = None,
        sdk_date: datetime | None = None,
        secret_key: str | None = None,
        access_key: str | None = None,
        drop_signed: Sequence[str] = (),
        send_body: bytes | None = None,
    ) -> httpx.Response:
        """Sign and send. ``drop_signed`` leaves headers out of SignedHeaders (but still sends them);
        ``send_body`` sends other bytes than the ones signed (tampering)."""
        body = content if content is not None else (b"" if json_body is None else json.dumps(json_body).encode())
        host = urlsplit(self.url).netloc
        headers: dict[str, str] = {"Host": host, "X-Sdk-Date": signer.format_sdk_date(sdk_date)}
        if content_type is not None:
            headers["Content-Type"] = content_type
        headers.update(extra_headers or {})
        signed = {name: value for name, value in headers.items() if name.lower() not in drop_signed}
        authorization = signer.sign(
            access_key=access_key or self.access_key,
            secret_key=secret_key or self.secret_key,
            method=method,
            path=path,
            query_pairs=query,
            headers=signed,
            body=body,
        )
        query_string = signer.canonical_query(query)
        target = self.url + path + (f"?{query_string}" if query_string else "")
        return await self.http.request(
            method,
            target,
            headers={**headers, "Authorization": authorization},
            content=send_body if send_body is not None else body,
        )

    async def create(self, body: Any) -> httpx.Response:
        return await self.request("POST", self.pools_path(), json_body=body)

    async def get(self, name: str) -> httpx.Response:
        return await self.request("GET", self.pools_path(name))

    async def list(self, query: Sequence[tuple[str, str]] = ()) -> httpx.Response:
        return await self.request("GET", self.pools_path(), query=query)

    async def patch(self, name: str, patch: Any, content_type: str = "application/merge-patch+json") -> httpx.Response:
        return await self.request("PATCH", self.pools_path(name), json_body=patch, content_type=content_type)

    async def delete(self, name: str) -> httpx.Response:
        return await self.request("DELETE", self.pools_path(name))


def pool_body(
    display_name: str = "pool-demo",
    *,
    count: int = 2,
    pool_type: str = "Dedicate",
    flavor: str = "modelarts.vm.cpu.8ud",
    **spec: Any,
) -> dict[str, Any]:
    """A valid create body (modelarts-api.md section 3)."""
    body: dict[str, Any] = {
        "apiVersion": "v2",
        "kind": "Pool",
        "metadata": {
            "labels": {"os.modelarts/name": display_name},
            "annotations": {"os.modelarts/description": "made by a test"},
        },
        "spec": {"type": pool_type, "scope": ["Train"], "resources": [{"flavor": flavor, "count": count}]},
    }
    if pool_type == "Dedicate":
        body["spec"]["network"] = {"name": "network-test"}
    body["spec"].update(spec)
    return body


async def eventually(
    probe: Callable[[], Awaitable[T]],
    condition: Callable[[T], bool],
    *,
    within: float = 10.0,
    interval: float = 0.05,
) -> T:
    """Poll ``probe`` until ``condition`` holds on its result; fail with the last result after ``timeout``."""
    deadline = time.monotonic() + within
    while True:
        value = await probe()
        if condition(value):
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"condition not met within {within}s; last value: {value!r}")
        await asyncio.sleep(interval)


def utc_now() -> datetime:
    return datetime.now(UTC)
