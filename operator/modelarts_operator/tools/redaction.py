"""Account identifiers and secrets out of recorded answers, replaced by stable placeholders.

What ``probe --record`` writes is meant to be attached to a public bug report and replayed as a test fixture, so:

- the project id, the domain id, the access key and any security token are replaced wherever they occur (inside
  pool names too: ModelArts names pools ``<display name>-<project id>``);
- so is everything shaped like an identifier: UUIDs (resource ids, networks, orders), 32-digit hex ids (projects,
  domains, workspaces) and access-key-shaped tokens;
- the same value always gets the same placeholder, and a placeholder keeps the shape of what it replaces (a
  32-character id stays 32 lowercase characters, a UUID stays a UUID), so a pool name still matches the pattern
  ModelArts gives it, a recorded GET path still names a pool of the recorded list, and the files replay as they
  were recorded.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any

from modelarts_operator.modelarts import models as wire

_UUID = re.compile(r"\b[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}\b")
_HEX32 = re.compile(r"(?<![0-9a-zA-Z])[0-9a-fA-F]{32}(?![0-9a-zA-Z])")
_AK_SHAPED = re.compile(r"\b[A-Z0-9]{20}\b")
_HEX32_EXACT = re.compile(r"^[0-9a-fA-F]{32}$")

# Labels whose values say which account a pool belongs to.
_LABEL_CATEGORIES = {
    wire.LABEL_TENANT_PROJECT_ID: "project",
    wire.LABEL_TENANT_DOMAIN_ID: "domain",
    wire.LABEL_RESOURCE_ID: "resource",
}


class Redactor:
    """Replaces identifiers and secrets; one instance per recording, so placeholders are stable within it."""

    def __init__(
        self, *, project_id: str | None = None, access_key: str | None = None, secrets: Iterable[str] = ()
    ) -> None:
        self._mapping: dict[str, str] = {}
        self._placeholders: set[str] = set()
        self._counters: dict[str, int] = {}
        if project_id:
            self._remember(project_id, "project")
        if access_key:
            self._remember(access_key, "accesskey")
        for secret in secrets:
            if secret:
                self._remember(secret, "secret")

    @property
    def mapping_size(self) -> int:
        return len(self._mapping)

    def _remember(self, value: str, category: str) -> str:
        if value in self._placeholders:
            return value
        known = self._mapping.get(value)
        if known is not None:
            return known
        number = self._counters.get(category, 0) + 1
        self._counters[category] = number
        placeholder = _placeholder(value, category, number)
        self._mapping[value] = placeholder
        self._placeholders.add(placeholder)
        return placeholder

    def learn(self, data: Any) -> None:
        """Name what labels say about the account (``tenant.domain.id`` → a ``domain…`` placeholder) before the
        generic patterns would call it just an id."""
        if isinstance(data, dict):
            labels = data.get("labels")
            if isinstance(labels, dict):
                for key, category in _LABEL_CATEGORIES.items():
                    value = labels.get(key)
                    if isinstance(value, str) and value:
                        self._remember(value, category)
            for value in data.values():
                self.learn(value)
        elif isinstance(data, list):
            for item in data:
                self.learn(item)

    def text(self, text: str) -> str:
        """``text`` with every known value and every identifier-shaped token replaced."""
        for value in sorted(self._mapping, key=len, reverse=True):
            if value in text:
                text = text.replace(value, self._mapping[value])
        text = _UUID.sub(lambda match: self._remember(match.group(0), "uuid"), text)
        text = _HEX32.sub(lambda match: self._remember(match.group(0), "id"), text)
        return _AK_SHAPED.sub(lambda match: self._remember(match.group(0), "key"), text)

    def json(self, data: Any) -> Any:
        """A copy of a JSON value with :meth:`text` applied to every string, keys included."""
        self.learn(data)
        return self._walk(data)

    def _walk(self, data: Any) -> Any:
        if isinstance(data, str):
            return self.text(data)
        if isinstance(data, dict):
            return {self.text(str(key)): self._walk(value) for key, value in data.items()}
        if isinstance(data, list):
            return [self._walk(item) for item in data]
        return data


def _placeholder(value: str, category: str, number: int) -> str:
    """A stand-in with the shape of ``value``: a UUID for a UUID, 32 lowercase characters for a hex id, 20
    upper-case ones for an access key, a readable tag otherwise."""
    if _UUID.fullmatch(value):
        return f"00000000-0000-4000-8000-{number:012d}"
    if _HEX32_EXACT.match(value):
        return f"{category}{number:0{32 - len(category)}d}"
    if _AK_SHAPED.fullmatch(value):
        tag = category.upper()[:10]
        return f"{tag}{number:0{20 - len(tag)}d}"
    return f"redacted-{category}-{number}"
