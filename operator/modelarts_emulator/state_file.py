"""Persistence of the pools across emulator restarts: one JSON file, replaced atomically on every change."""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path
from typing import Any


class StateFileError(Exception):
    """The state file exists but cannot be used; the emulator refuses to start rather than lose it."""


def load(path: Path) -> dict[str, Any] | None:
    """The saved state, or ``None`` when there is no file yet."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return None
    except OSError as error:
        raise StateFileError(f"cannot read {path}: {error}") from None
    try:
        data = json.loads(text)
    except ValueError as error:
        raise StateFileError(f"{path} is not JSON: {error}") from None
    if not isinstance(data, dict) or not isinstance(data.get("pools", {}), dict):
        raise StateFileError(f"{path} does not hold an emulator state object")
    return data


def save(path: Path, state: dict[str, Any]) -> None:
    """Write a temporary file in the same directory, then rename it over the old one.

    Readers (and a crash) see either the old state or the new one, never half a file.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            json.dump(state, handle, indent=1, sort_keys=True)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
