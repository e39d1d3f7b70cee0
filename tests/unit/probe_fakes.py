"""Helpers of the probe tests: pool answers shaped as the notes describe them, and a fake ModelArts behind
``httpx.MockTransport`` that serves them."""

from __future__ import annotations

import copy
import json
from collections.abc import Callable
from typing import Any

import httpx

PROJECT_ID = "6f5da086876d4cd084d36f8bd3346036"
DOMAIN_ID = "8516ac99dc60603295de7bdb6a153530"
ENDPOINT = "https://modelarts.cn-north-4.myhuaweicloud.com"
ACCESS_KEY = "QTWAOYTTINDUT2QVKYUC"
SECRET_KEY = "MFyfvK41ba2giqM7Uio6PznpdUKGpownRZlmVmHc"
SECURITY_TOKEN = "st-TEMPORARY-security-token-abcdef"


def pool(
    display: str = "train-a",
    phase: str | None = "Running",
    *,
    count: int = 2,
    resource_id: str = "2a2af7e0-d3e4-4d23-81ab-d8d41aa5e256",
) -> dict[str, Any]:
    """A pool exactly as modelarts-api.md describes it (buckets as lists, every enum a documented value)."""
    status: dict[str, Any] = {
        "resources": {"available": [{"flavor": "modelarts.vm.cpu.8ud", "count": count, "maxCount": count}]},
        "scope": [{"scopeType": "Train", "state": "Enabled"}],
    }
    if phase is not None:
        status["phase"] = phase
    return {
        "apiVersion": "v2",
        "kind": "Pool",
        "metadata": {
            "name": f"{display}-{PROJECT_ID}",
            "creationTimestamp": "2024-01-01T00:00:00Z",
            "labels": {
                "os.modelarts/name": display,
                "os.modelarts/workspace.id": "0",
                "os.modelarts/resource.id": resource_id,
                "os.modelarts/tenant.domain.id": DOMAIN_ID,
                "os.modelarts/tenant.project.id": PROJECT_ID,
                "os.modelarts.pool/biz": "private",
            },
            "annotations": {"os.modelarts/billing.mode": "0"},
        },
        "spec": {
            "type": "Dedicate",
            "scope": ["Train"],
            "resources": [{"flavor": "modelarts.vm.cpu.8ud", "count": count, "maxCount": count}],
            "network": {"name": "network-a"},
        },
        "status": status,
    }


def pool_list(*pools: dict[str, Any]) -> dict[str, Any]:
    return {"apiVersion": "v2", "kind": "PoolList", "items": [copy.deepcopy(item) for item in pools]}


def json_response(status: int, body: Any) -> httpx.Response:
    return httpx.Response(status, content=json.dumps(body).encode(), headers={"Content-Type": "application/json"})


class FakeCloud:
    """Answers list (``?status=failed`` separately) and get from dicts; counts every request it saw."""

    def __init__(self, pools: list[dict[str, Any]], failed: list[dict[str, Any]] | None = None) -> None:
        self.pools = pools
        self.failed = failed or []
        self.requests: list[httpx.Request] = []
        self.override: Callable[[httpx.Request], httpx.Response | None] | None = None

    def handler(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        if self.override is not None:
            answer = self.override(request)
            if answer is not None:
                return answer
        base = f"/v2/{PROJECT_ID}/pools"
        if request.url.path == base:
            chosen = self.failed if request.url.params.get("status") == "failed" else self.pools
            return json_response(200, pool_list(*chosen))
        name = request.url.path.removeprefix(base + "/")
        for item in self.pools:
            if item["metadata"]["name"] == name:
                return json_response(200, item)
        return json_response(404, {"error_code": "ModelArts.50015001", "error_msg": "pool not found"})
