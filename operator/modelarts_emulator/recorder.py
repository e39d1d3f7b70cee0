"""The log of ``/v2`` requests the emulator answered, for tests to assert on (never holds credentials)."""

from __future__ import annotations

import re
from collections import deque
from typing import Any

from modelarts_emulator.errors import bad_request


class Recorder:
    def __init__(self, max_entries: int) -> None:
        self._entries: deque[dict[str, Any]] = deque(maxlen=max_entries)

    def add(self, entry: dict[str, Any]) -> None:
        self._entries.append(entry)

    def query(
        self, *, method: str | None = None, path_regex: str | None = None, operation: str | None = None
    ) -> list[dict[str, Any]]:
        try:
            pattern = re.compile(path_regex) if path_regex else None
        except re.error as error:
            raise bad_request(f"path_regex is not a valid regular expression: {error}") from None
        return [
            entry
            for entry in self._entries
            if (method is None or entry["method"] == method.upper())
            and (pattern is None or pattern.search(entry["path"]))
            and (operation is None or entry["operation"] == operation)
        ]

    def clear(self) -> None:
        self._entries.clear()
