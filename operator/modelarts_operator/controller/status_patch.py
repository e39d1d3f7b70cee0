"""The JSON merge-patch (RFC 7386) that turns one status into another: status writes send only what changed."""

from __future__ import annotations

from typing import Any


def diff_merge_patch(old: Any, new: Any) -> Any:
    """The merge-patch that turns ``old`` into ``new``; ``{}`` when they are equal.

    Objects are diffed key by key (a key missing from ``new`` becomes ``None``, i.e. "remove"); anything else,
    lists included, is replaced whole, which is what merge-patch can express.
    """
    if not isinstance(old, dict) or not isinstance(new, dict):
        return new
    patch: dict[str, Any] = {}
    for key in old.keys() - new.keys():
        patch[key] = None
    for key, value in new.items():
        if key not in old:
            patch[key] = value
        elif old[key] != value:
            if isinstance(old[key], dict) and isinstance(value, dict):
                patch[key] = diff_merge_patch(old[key], value)
            else:
                patch[key] = value
    return patch


def apply_merge_patch(target: Any, patch: Any) -> Any:
    """RFC 7386 apply: the result of ``patch`` on ``target`` (neither is modified). Test fakes use it to play the
    API server's part."""
    if not isinstance(patch, dict):
        return patch
    result = dict(target) if isinstance(target, dict) else {}
    for key, value in patch.items():
        if value is None:
            result.pop(key, None)
        else:
            result[key] = apply_merge_patch(result.get(key), value)
    return result
