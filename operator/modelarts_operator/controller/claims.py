"""kopf's indices (complete before any handler runs) and the read side the reconcile logic asks.

- ``pool_claims``: who manages which pool, wants which display name, and is served by which project;
- ``project_specs``: every ModelArtsProject's spec (invalid ones are left out);
- ``namespace_labels``: every namespace's labels (what ModelArtsProject selectors match on).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from pydantic import ValidationError

from modelarts_operator.reconcile.view import DisplayNameClaim, object_key
from modelarts_operator.resource.project import ModelArtsProjectSpec

POOL = "pool"
DISPLAY = "display"
PROJECT = "project"

Index = Mapping[Any, Iterable[Any]]


def pool_claims(
    namespace: str, name: str, spec: Mapping[str, Any], status: Mapping[str, Any], creation_timestamp: str | None
) -> dict[tuple[str, ...], Any]:
    """Keys ("pool", pool name) → object key, ("display", display name) → DisplayNameClaim, and
    ("project", ModelArtsProject) → object key."""
    key = object_key(namespace, name)
    claims: dict[tuple[str, ...], Any] = {}
    recorded = status.get("poolName")
    if recorded:
        claims[(POOL, str(recorded))] = key
    if not spec.get("poolName"):
        display = str(spec.get("displayName") or name)
        project_id = status.get("projectId") or spec.get("projectId")
        claims[(DISPLAY, display)] = DisplayNameClaim(
            key=key,
            creation_timestamp=creation_timestamp,
            has_pool=bool(recorded),
            project_id=str(project_id) if project_id else None,
        )
    project = status.get("project")
    if project:
        claims[(PROJECT, str(project))] = key
    return claims


def project_spec(name: str, spec: Mapping[str, Any]) -> dict[str, ModelArtsProjectSpec]:
    try:
        return {name: ModelArtsProjectSpec.model_validate(dict(spec))}
    except ValidationError:
        return {}  # the CRD schema refuses these; never serve a pool from a spec we cannot read


class IndexClaims:
    """The ``Claims`` port over the ``pool_claims`` index."""

    def __init__(self, index: Index) -> None:
        self._index = index

    def pool_owners(self, pool_name: str) -> set[str]:
        return set(self._index.get((POOL, pool_name), []))

    def display_name_owners(self, project_id: str, display_name: str) -> list[DisplayNameClaim]:
        claims: Iterable[DisplayNameClaim] = self._index.get((DISPLAY, display_name), [])
        return [claim for claim in claims if claim.project_id in (None, project_id)]

    def pools_of_project(self, project: str) -> int:
        return len(set(self._index.get((PROJECT, project), [])))
