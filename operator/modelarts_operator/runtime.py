"""Per-object runtime state of the operator process: a lock, a wake-up, the last status written.

Kept in kopf's memo (no module-level state) and keyed by the object's uid in one place only.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from typing import Any


@dataclass
class ObjectRuntime:
    # Serialises the observe loop and the deletion handler of one object: they never call ModelArts at once.
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    # Set when the object's spec changes, so a pass starts now instead of at the next poll.
    wake: asyncio.Event = field(default_factory=asyncio.Event)
    # The status as the operator last wrote it; newer than the watch stream's copy right after a write.
    status: dict[str, Any] | None = None
    status_resource_version: str | None = None
    seen_generation: int | None = None
    failures: int = 0


class ObjectRuntimes:
    def __init__(self) -> None:
        self._objects: dict[str, ObjectRuntime] = {}

    def get(self, uid: str) -> ObjectRuntime:
        runtime = self._objects.get(uid)
        if runtime is None:
            runtime = self._objects[uid] = ObjectRuntime()
        return runtime

    def peek(self, uid: str) -> ObjectRuntime | None:
        return self._objects.get(uid)

    def forget(self, uid: str) -> None:
        self._objects.pop(uid, None)

    def __len__(self) -> int:
        return len(self._objects)
