"""The emulator's side: its control API, and its record of every ModelArts call (the ground truth for calls made,
DELETE arrival times and throttling)."""

from __future__ import annotations

import json
import urllib.request
from dataclasses import dataclass
from datetime import datetime
from typing import Any


@dataclass(frozen=True)
class Call:
    at: float  # epoch seconds when the emulator received it
    method: str
    operation: str | None
    pool_name: str | None
    status: int | None
    fault: bool


class EmulatorControl:
    def __init__(self, url: str) -> None:
        self.url = url

    def _call(self, method: str, path: str, body: Any = None, timeout: float = 120.0) -> Any:
        request = urllib.request.Request(f"{self.url}/_emulator{path}", method=method,  # noqa: S310
                                         data=json.dumps(body).encode() if body is not None else None,
                                         headers={"Content-Type": "application/json"})
        with urllib.request.urlopen(request, timeout=timeout) as response:  # noqa: S310
            return json.loads(response.read() or b"null")

    def calls(self) -> list[Call]:
        entries = self._call("GET", "/requests")["requests"]
        return [Call(at=datetime.fromisoformat(e["time"]).timestamp(), method=e["method"], operation=e["operation"],
                     pool_name=e["pool_name"], status=e["status"], fault=e["fault"] is not None)
                for e in entries]

    def clear_calls(self) -> None:
        self._call("DELETE", "/requests")

    def pools(self) -> list[dict[str, Any]]:
        pools: list[dict[str, Any]] = self._call("GET", "/pools")["pools"]
        return pools
