"""Helpers of the ModelArts client tests: a scripted fake server behind ``httpx.MockTransport``.

A module of its own (not ``conftest``) so that test files can import it by a name no other test tier uses.
"""

from __future__ import annotations

import json
from collections import deque
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import httpx

from modelarts_operator.modelarts.client import ModelArtsClient

PROJECT_ID = "6f5da086876d4cd084d36f8bd3346036"
ENDPOINT = "https://modelarts.cn-north-4.myhuaweicloud.com"
ACCESS_KEY = "AKTESTACCESSKEY0001"
SECRET_KEY = "sk-SUPER-secret-value-0123456789"
SECURITY_TOKEN = "st-TEMPORARY-security-token-abcdef"
FIXED_NOW = datetime(2024, 1, 1, 0, 0, 0, tzinfo=UTC)


def json_response(status: int, body: Any, headers: dict[str, str] | None = None) -> httpx.Response:
    return httpx.Response(
        status,
        content=json.dumps(body).encode(),
        headers={"Content-Type": "application/json", **(headers or {})},
    )


def pool_json(name: str = "pool-ae01-" + PROJECT_ID, phase: str | None = "Running", **extra: Any) -> dict[str, Any]:
    """A show-pool answer shaped like the published examples."""
    status: dict[str, Any] = {"resources": {"available": [{"flavor": "modelarts.vm.cpu.8ud", "count": 1}]}}
    if phase is not None:
        status["phase"] = phase
    return {
        "apiVersion": "v2",
        "kind": "Pool",
        "metadata": {
            "name": name,
            "creationTimestamp": "1700000000000",
            "labels": {"os.modelarts/name": "pool-ae01", "os.modelarts/workspace.id": "0"},
            "annotations": {"os.modelarts/billing.mode": "0"},
        },
        "spec": {
            "type": "Dedicate",
            "scope": ["Train"],
            "resources": [{"flavor": "modelarts.vm.cpu.8ud", "count": 1, "maxCount": 1}],
            "network": {"name": "net-01"},
        },
        "status": status,
        **extra,
    }


Reply = httpx.Response | Exception | Callable[[httpx.Request], httpx.Response]


class FakeModelArts:
    """Answers requests from a script, in order, and records every request it got (bodies read)."""

    def __init__(self) -> None:
        self.requests: list[httpx.Request] = []
        self._script: deque[Reply] = deque()

    def reply(self, *replies: Reply) -> FakeModelArts:
        self._script.extend(replies)
        return self

    def handler(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        if not self._script:
            raise AssertionError(f"unexpected request {request.method} {request.url}")
        reply = self._script.popleft()
        if isinstance(reply, Exception):
            raise reply
        if isinstance(reply, httpx.Response):
            return reply
        return reply(request)


class RecordingSleep:
    """An injected ``sleep`` that returns at once and remembers what it was asked to wait."""

    def __init__(self) -> None:
        self.delays: list[float] = []

    async def __call__(self, delay: float) -> None:
        self.delays.append(delay)


MakeClient = Callable[..., ModelArtsClient]
