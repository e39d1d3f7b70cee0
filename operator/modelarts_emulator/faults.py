"""Fault rules for tests: match ``/v2`` requests by method and path regex, then answer differently.

A rule may answer with a status and a Huawei-style error body (optionally with ``Retry-After``), delay the
answer (with or without replacing it), answer a raw ``body`` (a proxy's HTML page, a broken 200), or drop the
connection without any answer; ``times`` limits how often it fires (``None`` = forever). ``probability``
(default 1) makes a rule fire on only that share of the requests it matches, drawn from its own
``random.Random(seed)`` so that a chaos run with a fixed seed and the same request order draws the same faults;
a request the draw spares goes on to the next rule. Rules are checked in the order they were added; the first
one that fires wins.
"""

from __future__ import annotations

import itertools
import random
import re
from dataclasses import asdict, dataclass, field
from typing import Any

from modelarts_emulator.errors import bad_request, default_error_code, default_error_msg


@dataclass
class Fault:
    id: str
    method: str | None
    path_regex: str
    status: int | None
    error_code: str | None
    error_msg: str | None
    retry_after: str | None
    delay_seconds: float
    times: int | None
    drop_connection: bool
    # A raw answer body instead of the Huawei JSON error (e.g. a proxy's HTML page, or a broken 200).
    body: str | None = None
    content_type: str | None = None
    probability: float = 1.0
    seed: int | None = None
    hits: int = 0
    pattern: re.Pattern[str] = field(repr=False, compare=False, default=re.compile(""))
    rng: random.Random = field(repr=False, compare=False, default_factory=random.Random)

    def matches(self, method: str, path: str) -> bool:
        return (self.method is None or self.method == method.upper()) and self.pattern.search(path) is not None

    def fires(self) -> bool:
        """The draw for one matching request (always true at probability 1)."""
        return self.probability >= 1.0 or self.rng.random() < self.probability

    def error_body(self) -> dict[str, str]:
        status = self.status or 500
        return {
            "error_code": self.error_code or default_error_code(status),
            "error_msg": self.error_msg or default_error_msg(status),
        }

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        data.pop("pattern")
        data.pop("rng")
        return data


def _optional(spec: dict[str, Any], key: str, kind: type | tuple[type, ...]) -> Any:
    value = spec.get(key)
    if value is not None and (not isinstance(value, kind) or (isinstance(value, bool) and kind is not bool)):
        raise bad_request(f"{key} has the wrong type.")
    return value


class FaultBook:
    def __init__(self) -> None:
        self._faults: list[Fault] = []
        self._ids = itertools.count(1)

    def add(self, spec: Any) -> Fault:
        if not isinstance(spec, dict):
            raise bad_request("The fault must be a JSON object.")
        path_regex = _optional(spec, "path_regex", str) or ""
        try:
            pattern = re.compile(path_regex)
        except re.error as error:
            raise bad_request(f"path_regex is not a valid regular expression: {error}") from None
        status = _optional(spec, "status", int)
        times = _optional(spec, "times", int)
        retry_after = spec.get("retry_after")
        drop = bool(spec.get("drop_connection", False))
        delay = float(_optional(spec, "delay_seconds", (int, float)) or 0)
        if status is None and not drop and delay <= 0:
            raise bad_request("A fault needs a status, a delay_seconds or drop_connection.")
        if status is not None and not 100 <= status <= 599:
            raise bad_request("status must be an HTTP status code.")
        method = _optional(spec, "method", str)
        probability = _optional(spec, "probability", (int, float))
        probability = 1.0 if probability is None else float(probability)
        if not 0.0 < probability <= 1.0:
            raise bad_request("probability must be in (0, 1].")
        seed = _optional(spec, "seed", int)
        fault = Fault(
            id=str(next(self._ids)),
            method=method.upper() if method else None,
            path_regex=path_regex,
            status=status,
            error_code=_optional(spec, "error_code", str),
            error_msg=_optional(spec, "error_msg", str),
            retry_after=None if retry_after is None else str(retry_after),
            delay_seconds=delay,
            times=times,
            drop_connection=drop,
            body=_optional(spec, "body", str),
            content_type=_optional(spec, "content_type", str),
            probability=probability,
            seed=seed,
            pattern=pattern,
            rng=random.Random(seed),
        )
        self._faults.append(fault)
        return fault

    def take(self, method: str, path: str) -> Fault | None:
        """The first matching rule that fires, counted (and forgotten once its ``times`` are used up)."""
        for fault in self._faults:
            if fault.matches(method, path) and fault.fires():
                fault.hits += 1
                if fault.times is not None:
                    fault.times -= 1
                    if fault.times <= 0:
                        self._faults.remove(fault)
                return fault
        return None

    def list(self) -> list[dict[str, Any]]:
        return [fault.to_json() for fault in self._faults]

    def remove(self, fault_id: str) -> bool:
        before = len(self._faults)
        self._faults = [fault for fault in self._faults if fault.id != fault_id]
        return len(self._faults) != before

    def clear(self) -> None:
        self._faults.clear()
