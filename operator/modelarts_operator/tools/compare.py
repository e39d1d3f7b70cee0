"""One ModelArts answer, read twice: as the operator reads it (``modelarts.models``) and as the notes describe it
(``tools.strict``). Every disagreement becomes a :class:`Finding` that says where, what, and what the operator
does about it.

Severities: ``incompatible`` — the operator cannot read the answer at all (it would stop mirroring the pool);
``difference`` — it reads it, but something is not what the notes say (an ignored field, an unknown phase, the
documented object shape of a bucket, a missing field); ``info`` — worth knowing, nothing to fix (an error code
the notes know, answered where it was expected).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from pydantic import BaseModel, ValidationError

from modelarts_operator.modelarts import models as wire
from modelarts_operator.tools import strict

MAX_ERRORS_PER_ANSWER = 200


class Severity(StrEnum):
    INCOMPATIBLE = "incompatible"
    DIFFERENCE = "difference"
    INFO = "info"


SEVERITY_ORDER = {Severity.INCOMPATIBLE: 0, Severity.DIFFERENCE: 1, Severity.INFO: 2}


class AnswerKind(StrEnum):
    LIST = "list"
    GET = "get"


@dataclass(frozen=True)
class Finding:
    severity: Severity
    kind: str  # unreadable, unknown-field, unknown-value, shape, missing-field, format, type, error-code, ...
    answer: str  # which call answered: "list", "list status=failed", "get"
    field: str  # JSON path, list positions as [*]
    detail: str


@dataclass(frozen=True)
class CountedFinding:
    """A finding and how many times it was seen (a field missing from 40 pools is one row, counted 40)."""

    finding: Finding
    count: int


def field_path(loc: Sequence[int | str]) -> str:
    path = ""
    for part in loc:
        if isinstance(part, int):
            path += "[*]"
        else:
            path += f".{part}" if path else str(part)
    return path or "<body>"


# What the operator does with what it does not know, by field (the longest matching prefix wins).
_CONSEQUENCES = (
    ("status.resources.", "the operator does not count these nodes in the pool's totals"),
    ("status.phase", "the operator shows it as is and treats it as a transition (never as terminal)"),
    ("status.", "the operator does not mirror it into the object's status"),
    ("status", "the operator mirrors nothing of the pool's state (no phase, no nodes)"),
    ("metadata.labels", "the operator cannot find a half-created pool by its display name"),
    ("spec.", "the operator neither mirrors nor compares it (no drift detection for it)"),
    ("metadata", "the operator ignores it"),
)


def consequence(path: str) -> str:
    bare = path.removeprefix("items[*].")
    for prefix, text in _CONSEQUENCES:
        if bare.startswith(prefix):
            return text
    return "the operator ignores it"


def _json_type(value: Any) -> str:
    if isinstance(value, dict):
        return "an object"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int | float):
        return "a number"
    if isinstance(value, str):
        return "a string"
    return "null" if value is None else type(value).__name__


def _strict_finding(error: Any, answer: str) -> Finding:
    """One strict-model error, classified (``error`` is pydantic's error dict)."""
    kind_of_error = error["type"]
    path = field_path(error["loc"])
    value = error.get("input")
    if kind_of_error == "extra_forbidden":
        return Finding(
            Severity.DIFFERENCE,
            "unknown-field",
            answer,
            path,
            f"not in the notes ({_json_type(value)}): {consequence(path)}",
        )
    if kind_of_error == "literal_error":
        expected = error.get("ctx", {}).get("expected", "")
        return Finding(
            Severity.DIFFERENCE,
            "unknown-value",
            answer,
            path,
            f"{value!r} is not one of {expected}: {consequence(path)}",
        )
    if kind_of_error == "enum":
        return Finding(Severity.DIFFERENCE, "unknown-value", answer, path, str(error["msg"]))
    if kind_of_error in ("missing", "missing_label"):
        what = str(error["msg"]) if kind_of_error == "missing_label" else "documented but absent"
        return Finding(Severity.DIFFERENCE, "missing-field", answer, path, f"{what}: {consequence(path)}")
    if kind_of_error == "list_type" and isinstance(value, dict):
        return Finding(
            Severity.DIFFERENCE,
            "shape",
            answer,
            path,
            "one object where the real cloud sends a list (the documented shape, modelarts-api.md §10): "
            "the operator reads it as a one-element list",
        )
    if kind_of_error == "string_pattern_mismatch":
        pattern = error.get("ctx", {}).get("pattern", "")
        return Finding(Severity.DIFFERENCE, "format", answer, path, f"{value!r} does not match {pattern}")
    if kind_of_error.endswith("_type") or kind_of_error in ("model_attributes_type", "dict_type"):
        return Finding(
            Severity.DIFFERENCE, "type", answer, path, f"{_json_type(value)} where the notes say: {error['msg']}"
        )
    return Finding(Severity.DIFFERENCE, "constraint", answer, path, f"{value!r}: {error['msg']}")


def _validate(model: type[BaseModel], data: Any) -> list[Any]:
    try:
        model.model_validate(data)
    except ValidationError as exc:
        return list(exc.errors(include_url=False))[:MAX_ERRORS_PER_ANSWER]
    except RecursionError:
        return [{"type": "recursion", "loc": (), "msg": "nested too deeply", "input": None}]
    return []


def compare_pool_answer(kind: AnswerKind, data: Any, answer: str) -> list[Finding]:
    """A 2xx answer of list or get: what the operator cannot read, and where it differs from the notes."""
    if not isinstance(data, dict):
        return [
            Finding(
                Severity.INCOMPATIBLE,
                "unreadable",
                answer,
                "<body>",
                f"{_json_type(data)}, not a JSON object: the operator refuses the answer",
            )
        ]
    tolerant = wire.PoolList if kind == AnswerKind.LIST else wire.Pool
    exact = strict.StrictPoolList if kind == AnswerKind.LIST else strict.StrictPool
    findings = [
        Finding(
            Severity.INCOMPATIBLE,
            "unreadable",
            answer,
            field_path(error["loc"]),
            f"{error['msg']}: the operator refuses the whole answer (MalformedResponse)",
        )
        for error in _validate(tolerant, data)
    ]
    findings += [_strict_finding(error, answer) for error in _validate(exact, data)]
    return findings


def compare_error_answer(status: int, data: Any, answer: str, text: str = "") -> list[Finding]:
    """A non-2xx answer: is its body ModelArts' error shape, and is its code one the notes know?"""
    if not isinstance(data, dict):
        shown = " ".join(text.split())[:120]
        return [
            Finding(
                Severity.DIFFERENCE,
                "error-body",
                answer,
                "<body>",
                f"HTTP {status} without a ModelArts error body ({shown or 'empty'}): the operator reports "
                "it as a malformed answer, never as 'pool not found'",
            )
        ]
    findings = [_strict_finding(error, answer) for error in _validate(strict.StrictError, data)]
    code = data.get("error_code")
    message = data.get("error_msg")
    where = f"HTTP {status} {code}: {message}"
    if not isinstance(code, str) or code not in strict.KNOWN_ERROR_CODES:
        findings.append(
            Finding(Severity.DIFFERENCE, "error-code", answer, "error_code", f"{where} — a code the notes do not know")
        )
    elif strict.ERROR_CODE_STATUS[code] != status:
        findings.append(
            Finding(
                Severity.DIFFERENCE,
                "error-code",
                answer,
                "error_code",
                f"{where} — the notes pair {code} with HTTP {strict.ERROR_CODE_STATUS[code]}",
            )
        )
    else:
        findings.append(Finding(Severity.INFO, "error-code", answer, "error_code", where))
    return findings


def count(findings: Iterable[Finding]) -> list[CountedFinding]:
    """Identical findings merged and counted, the worst first."""
    counted = Counter(findings)
    ordered = sorted(
        counted.items(),
        key=lambda item: (
            SEVERITY_ORDER[item[0].severity],
            item[0].answer,
            item[0].kind,
            item[0].field,
            item[0].detail,
        ),
    )
    return [CountedFinding(finding, number) for finding, number in ordered]
