"""The list API's ``labelSelector``: undocumented syntax; this is Kubernetes' equality subset."""

from __future__ import annotations

from modelarts_emulator.errors import bad_request

Term = tuple[str, str, str | None]


def selector_matches(labels: dict[str, str], key: str, operator: str, value: str | None) -> bool:
    if operator == "exists":
        return key in labels
    if operator == "!=":
        return labels.get(key) != value
    return labels.get(key) == value


def parse_label_selector(text: str | None) -> list[Term]:
    """``key=value[,key!=value][,key]``: the syntax is undocumented; this is Kubernetes' equality subset."""
    terms: list[Term] = []
    for raw in (text or "").split(","):
        term = raw.strip()
        if not term:
            continue
        for operator in ("!=", "==", "="):
            if operator in term:
                key, value = (part.strip() for part in term.split(operator, 1))
                if not key:
                    raise bad_request(f"Invalid labelSelector term {term!r}.")
                terms.append((key, "!=" if operator == "!=" else "=", value))
                break
        else:
            terms.append((term, "exists", None))
    return terms
