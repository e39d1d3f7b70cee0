"""The client against a hostile "ModelArts" on a second loopback listener (what a tenant's endpoint, a broken
proxy or a man in the middle could send): every answer becomes a typed error, memory and time stay bounded,
nothing is followed elsewhere, and access keys in messages are masked.

A real aiohttp server on 127.0.0.1 answers, because ``httpx.MockTransport`` reads bodies whole before the
client sees them and so could not show that a gzip bomb is stopped while it streams.
"""

from __future__ import annotations

import asyncio
import functools
import json
import subprocess
import sys
import textwrap
import time
import zlib
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import httpx
import pytest
from aiohttp import web
from pydantic import SecretStr

from modelarts_operator.modelarts import errors
from modelarts_operator.modelarts.auth import AkSkAuth, Credentials
from modelarts_operator.modelarts.client import ModelArtsClient
from modelarts_operator.modelarts.retry import RetryPolicy

PROJECT = "0123456789abcdef0123456789abcdef"
ACCESS_KEY = "HOSTILETESTACCESSKEY"
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]

BOMB_DECODED_BYTES = 400 * 1024 * 1024


@functools.cache
def gzip_bomb() -> bytes:
    """400 MiB of zeros inside a valid JSON string, gzipped (streamed, never held whole) to under a megabyte."""
    head, tail = b'{"apiVersion":"v2","kind":"Pool","spec":{"type":"Logical"},"status":{"message":"', b'"}}'
    compressor = zlib.compressobj(9, zlib.DEFLATED, 16 + zlib.MAX_WBITS)
    parts = [compressor.compress(head)]
    chunk = b"0" * (1024 * 1024)
    for _ in range(BOMB_DECODED_BYTES // len(chunk)):
        parts.append(compressor.compress(chunk))
    parts += [compressor.compress(tail), compressor.flush()]
    return b"".join(parts)


class Hostile:
    """One listener whose answer the test chooses; records what it received."""

    def __init__(self) -> None:
        self.handler: Handler | None = None
        self.received: list[str] = []
        self.url = ""

    async def _serve(self, request: web.Request) -> web.StreamResponse:
        self.received.append(f"{request.method} {request.path}")
        assert self.handler is not None
        return await self.handler(request)


@pytest.fixture
async def hostile() -> AsyncIterator[Hostile]:
    server = Hostile()
    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", server._serve)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    server.url = f"http://127.0.0.1:{port}"
    try:
        yield server
    finally:
        await runner.cleanup()


def client_for(http: httpx.AsyncClient, url: str, **kwargs: Any) -> ModelArtsClient:
    auth = AkSkAuth(Credentials(access_key=ACCESS_KEY, secret_key=SecretStr("hostile-test-secret")))
    return ModelArtsClient(
        http, endpoint=url, project_id=PROJECT, auth=auth, retry=RetryPolicy.never(), redact=[ACCESS_KEY], **kwargs
    )


async def test_a_gzip_bomb_is_cut_at_the_cap(hostile: Hostile) -> None:
    bomb = gzip_bomb()

    async def serve(_: web.Request) -> web.Response:
        return web.Response(body=bomb, headers={"Content-Encoding": "gzip", "Content-Type": "application/json"})

    hostile.handler = serve
    async with httpx.AsyncClient() as http:
        client = client_for(http, hostile.url, max_response_bytes=1024 * 1024)
        with pytest.raises(errors.MalformedResponse, match="larger than 1048576 bytes"):
            await client.get_pool("any")


def test_a_gzip_bomb_leaves_memory_bounded(tmp_path: Any) -> None:
    """In a process of its own (peak RSS is per process): the bomb through the operator's default cap."""
    bomb_file = tmp_path / "bomb.gz"
    bomb_file.write_bytes(gzip_bomb())
    script = textwrap.dedent(f"""
        import asyncio, httpx, resource
        from aiohttp import web
        from pydantic import SecretStr
        from modelarts_operator.modelarts import errors
        from modelarts_operator.modelarts.auth import AkSkAuth, Credentials
        from modelarts_operator.modelarts.client import ModelArtsClient
        from modelarts_operator.modelarts.retry import RetryPolicy

        def peak_mib():
            return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024

        async def main():
            bomb = open({str(bomb_file)!r}, "rb").read()
            async def serve(_):
                return web.Response(body=bomb, headers={{"Content-Encoding": "gzip"}})
            app = web.Application(); app.router.add_get("/{{t:.*}}", serve)
            runner = web.AppRunner(app); await runner.setup()
            site = web.TCPSite(runner, "127.0.0.1", 0); await site.start()
            port = site._server.sockets[0].getsockname()[1]
            before = peak_mib()
            async with httpx.AsyncClient() as http:
                auth = AkSkAuth(Credentials(access_key="AK", secret_key=SecretStr("SK")))
                client = ModelArtsClient(http, endpoint=f"http://127.0.0.1:{{port}}", project_id="p", auth=auth,
                                         retry=RetryPolicy.never())
                try:
                    await client.get_pool("x")
                    print("NO ERROR")
                except errors.MalformedResponse as exc:
                    print("refused:", exc)
            print(f"PEAK_DELTA_MIB {{peak_mib() - before:.1f}}")
            await runner.cleanup()

        asyncio.run(main())
    """)
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120, check=True)
    assert "refused:" in result.stdout and "larger than" in result.stdout, result.stdout + result.stderr
    delta = float(result.stdout.rsplit("PEAK_DELTA_MIB", 1)[1])
    # The default cap is 16 MiB decoded; 400 MiB would have been inflated without it (1.26 GiB RSS measured).
    assert delta < 100, f"peak RSS grew by {delta} MiB"


async def test_deeply_nested_json_is_a_malformed_response(hostile: Hostile) -> None:
    async def serve(_: web.Request) -> web.Response:
        return web.Response(body=b"[" * 100_000 + b"]" * 100_000, content_type="application/json")

    hostile.handler = serve
    async with httpx.AsyncClient() as http:
        with pytest.raises(errors.MalformedResponse, match="nested too deeply"):
            await client_for(http, hostile.url).get_pool("any")


async def test_deeply_nested_error_body_is_not_a_crash(hostile: Hostile) -> None:
    async def serve(_: web.Request) -> web.Response:
        return web.Response(status=400, body=b'{"a":' * 50_000 + b"1" + b"}" * 50_000, content_type="application/json")

    hostile.handler = serve
    async with httpx.AsyncClient() as http:
        with pytest.raises(errors.ModelArtsError):
            await client_for(http, hostile.url).get_pool("any")


async def test_a_trickling_server_is_cut_by_the_total_deadline(hostile: Hostile) -> None:
    """One byte at a time, each within the per-read timeout: only a deadline for the whole attempt ends it."""

    async def serve(request: web.Request) -> web.StreamResponse:
        response = web.StreamResponse(headers={"Content-Type": "application/json"})
        await response.prepare(request)
        for _ in range(600):
            await response.write(b" ")
            await asyncio.sleep(0.1)
        return response

    hostile.handler = serve
    async with httpx.AsyncClient() as http:
        client = client_for(http, hostile.url, timeout=1.0)
        started = time.monotonic()
        with pytest.raises(errors.TransportError, match="within 1s"):
            await client.get_pool("any")
        assert time.monotonic() - started < 10


async def test_redirects_are_not_followed(hostile: Hostile) -> None:
    async def serve(request: web.Request) -> web.Response:
        if request.path.startswith("/elsewhere"):
            return web.json_response({"error_code": "X", "error_msg": "should never be reached"})
        raise web.HTTPTemporaryRedirect(f"{hostile.url}/elsewhere")

    hostile.handler = serve
    async with httpx.AsyncClient() as http:
        with pytest.raises(errors.MalformedResponse, match="unexpected HTTP status 307"):
            await client_for(http, hostile.url).get_pool("any")
    assert not any("/elsewhere" in line for line in hostile.received)


async def test_unsupported_encodings_are_refused(hostile: Hostile) -> None:
    async def serve(_: web.Request) -> web.Response:
        return web.Response(body=b"whatever", headers={"Content-Encoding": "br"})

    hostile.handler = serve
    async with httpx.AsyncClient() as http:
        with pytest.raises(errors.MalformedResponse, match="Content-Encoding"):
            await client_for(http, hostile.url).get_pool("any")


async def test_access_keys_in_gateway_messages_are_masked(hostile: Hostile) -> None:
    async def serve(_: web.Request) -> web.Response:
        message = (
            "Incorrect IAM authentication information: Get secretKey failed,"
            f"ak:{ACCESS_KEY},err:ak not exist; other key QWERTYUIOPASDFGHJKLZ"
        )
        return web.json_response({"error_code": "APIGW.0301", "error_msg": message}, status=401)

    hostile.handler = serve
    async with httpx.AsyncClient() as http:
        with pytest.raises(errors.Unauthorized) as caught:
            await client_for(http, hostile.url).get_pool("any")
    text = str(caught.value) + repr(caught.value)
    assert ACCESS_KEY not in text and "QWERTYUIOPASDFGHJKLZ" not in text
    assert "ak:***" in text and "err:ak not exist" in text


async def test_gateway_throttling_code_is_throttled(hostile: Hostile) -> None:
    async def serve(_: web.Request) -> web.Response:
        message = "The throttling threshold has been reached: policy user over ratelimit,limit:5,time:1 minute"
        body = {"error_code": "APIGW.0308", "error_msg": message}
        return web.Response(
            status=429, body=json.dumps(body), content_type="application/json", headers={"Retry-After": "3"}
        )

    hostile.handler = serve
    async with httpx.AsyncClient() as http:
        with pytest.raises(errors.Throttled) as caught:
            await client_for(http, hostile.url).get_pool("any")
    assert caught.value.retry_after == 3.0 and caught.value.error_code == "APIGW.0308"


async def test_list_follows_continue_tokens(hostile: Hostile) -> None:
    pages = {None: (["a", "b"], "t1"), "t1": (["c"], None)}

    async def serve(request: web.Request) -> web.Response:
        names, token = pages[request.query.get("continue")]
        assert request.query.get("limit") == "2"
        items = [{"metadata": {"name": n}, "spec": {"type": "Logical"}} for n in names]
        return web.json_response(
            {"apiVersion": "v2", "kind": "PoolList", "metadata": {"continue": token}, "items": items}
        )

    hostile.handler = serve
    async with httpx.AsyncClient() as http:
        pools = await client_for(http, hostile.url).list_pools(limit=2)
    assert [p.name for p in pools] == ["a", "b", "c"]
    assert len(hostile.received) == 2
