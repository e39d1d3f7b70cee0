"""The emulator's side: its record of every ModelArts call (the ground truth for calls made, DELETE arrival times
and throttling), read through the emulator's own control client."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from modelarts_emulator.control_client import ControlClient


@dataclass(frozen=True)
class Call:
    at: float  # epoch seconds when the emulator received it
    method: str
    operation: str | None
    pool_name: str | None
    status: int | None
    fault: bool


class EmulatorControl(ControlClient):
    """The control client, plus the request log as ``Call`` records. Listing 400 000 entries takes a while."""

    def __init__(self, url: str) -> None:
        super().__init__(url, timeout=120.0)

    def calls(self) -> list[Call]:
        return [
            Call(
                at=datetime.fromisoformat(e["time"]).timestamp(),
                method=e["method"],
                operation=e["operation"],
                pool_name=e["pool_name"],
                status=e["status"],
                fault=e["fault"] is not None,
            )
            for e in self.requests()
        ]

    def clear_calls(self) -> None:
        self.clear_requests()
