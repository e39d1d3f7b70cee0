"""Whether this object may change or delete a pool: never on the word of tenant-writable state alone.

``status.poolName`` (a tenant with status write can set it), annotations and spec values say which pool an object
means; before every PATCH and DELETE the pool itself is checked against what cannot be forged: a pool the object
created carries its display name and was created after the object (``metadata.creationTimestamp`` is the API
server's); a pool it adopted is the one ``spec.poolName`` names, under a project whose adoption policy is Full;
and no other object manages it.
"""

from __future__ import annotations

from datetime import timedelta

from modelarts_operator.modelarts.models import Pool
from modelarts_operator.reconcile import desired
from modelarts_operator.reconcile.binding import Binding
from modelarts_operator.reconcile.view import Claims, PoolObject, parse_timestamp
from modelarts_operator.resource.project import Adoption
from modelarts_operator.resource.spec import ManagementPolicy

# The cloud's clock and the API server's differ; a pool created this much before the object still counts as its.
CLOCK_SKEW_ALLOWANCE = timedelta(seconds=120)


def managed_elsewhere(obj: PoolObject, claims: Claims, pool_name: str) -> set[str]:
    return claims.pool_owners(pool_name) - {obj.key}


def created_for(obj: PoolObject, pool: Pool) -> bool:
    """The pool has this object's display name and is not older than the object."""
    if pool.metadata.display_name != desired.display_name(obj.spec, obj.name):
        return False
    created = parse_timestamp(pool.metadata.creation_timestamp)
    if created is None or obj.creation_timestamp is None:
        return True  # nothing to compare; the display name and the claims still hold
    return created >= obj.creation_timestamp - CLOCK_SKEW_ALLOWANCE


def refusal(obj: PoolObject, pool: Pool, claims: Claims, binding: Binding, *, action: str) -> str | None:
    """Why this object may not ``action`` (update, delete) the pool, or ``None`` when it may."""
    name = pool.name or "?"
    others = managed_elsewhere(obj, claims, name)
    if others:
        return f"pool {name} is managed by ModelArtsPool {', '.join(sorted(others))}; not going to {action} it"
    if obj.spec.pool_name is not None:
        if pool.name != obj.spec.pool_name:
            return f"pool {name} is not spec.poolName {obj.spec.pool_name}; not going to {action} it"
        if obj.spec.effective_management_policy != ManagementPolicy.FULL:
            return f"pool {name} is adopted with managementPolicy ObserveOnly; not going to {action} it"
        if binding.adoption != Adoption.FULL:
            return (
                f"{binding.origin} allows adopted pools to be observed only (adoption {binding.adoption}); "
                f"not going to {action} pool {name}"
            )
        return None
    if not created_for(obj, pool):
        return (
            f"pool {name} (display name {pool.metadata.display_name}, created "
            f"{pool.metadata.creation_timestamp}) was not created for this object; not going to {action} it"
        )
    return None
