"""Leader election on a ``coordination.k8s.io/v1`` Lease, with controller-runtime's defaults and semantics.

Only the holder of the Lease ``modelarts-operator`` runs the controller; the others wait, touching no object and
calling no cloud API. The holder renews every ``retry_period``; if it cannot renew for ``renew_deadline``
(shorter than ``lease_duration``), it must stop acting before anybody else can take the Lease — the runner then
exits at once (Kubernetes restarts it as a standby). Expiry is judged on this process's own clock, from the
moment it last saw the Lease record change (as client-go does), so clock skew between nodes cannot cut a term
short. On a clean shutdown the holder hands the Lease back (no holder, 1 s duration) so a standby takes over at
once instead of after a full lease duration.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from modelarts_operator.controller.kube import Conflict, KubeApi, KubeError, ObjectGone

logger = logging.getLogger(__name__)

LEASE_NAME = "modelarts-operator"


@dataclass(frozen=True)
class ElectionTiming:
    """controller-runtime's defaults: a 15 s lease, renewed within 10 s, tried every 2 s."""

    lease_duration: float = 15.0
    renew_deadline: float = 10.0
    retry_period: float = 2.0


def _micro_time(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


class LeaderElector:
    def __init__(
        self,
        kube: KubeApi,
        namespace: str,
        identity: str,
        timing: ElectionTiming = ElectionTiming(),
        *,
        clock: Callable[[], float] = time.monotonic,
        name: str = LEASE_NAME,
    ) -> None:
        self._kube = kube
        self._namespace = namespace
        self._identity = identity
        self._timing = timing
        self._clock = clock
        self._name = name
        self._observed: dict[str, Any] | None = None  # the lease spec last seen
        self._observed_at = 0.0
        self._renewed_at: float | None = None
        self._lease: dict[str, Any] | None = None

    @property
    def identity(self) -> str:
        return self._identity

    async def acquire(self) -> None:
        """Return once this process holds the Lease (waiting as a standby meanwhile).

        An API server that cannot be reached is waited out, not fatal: a standby that died with every outage
        would be restarted in CrashLoopBackOff, with back-off delays, just when it is needed.
        """
        announced = False
        failure = ""
        while True:
            try:
                if await self._try_acquire_or_renew():
                    break
            except KubeError as exc:
                if str(exc) != failure:  # once per kind of failure, not every retry period of an outage
                    logger.warning(
                        "standby: cannot read the Lease %s/%s (retrying): %s", self._namespace, self._name, exc
                    )
                failure = str(exc)
            else:
                failure = ""
                if not announced:
                    holder = (self._observed or {}).get("holderIdentity") or "nobody"
                    logger.info("standby: the Lease %s/%s is held by %s", self._namespace, self._name, holder)
                    announced = True
            await asyncio.sleep(self._timing.retry_period)
        logger.info("leading as %s (Lease %s/%s)", self._identity, self._namespace, self._name)

    async def keep(self) -> None:
        """Renew until the renew deadline passes without a renewal; then return (leadership is lost).

        Each attempt is cut off at the deadline (as client-go bounds its renewals with a context deadline): a
        request that hangs — a network partition answers nothing rather than refusing — must not keep this
        process leading past it, while a standby may already count down the lease.
        """
        while True:
            await asyncio.sleep(min(self._timing.retry_period, self._remaining()))
            remaining = self._remaining()
            if remaining > 0:
                with contextlib.suppress(KubeError, TimeoutError):
                    async with asyncio.timeout(remaining):
                        if await self._try_acquire_or_renew():
                            continue
            if self._remaining() <= 0:
                logger.error(
                    "could not renew the Lease %s/%s for %.0fs: leadership lost",
                    self._namespace,
                    self._name,
                    self._timing.renew_deadline,
                )
                return

    async def release(self) -> None:
        """Hand the Lease back if we hold it (clean shutdown): the next leader need not wait for it to expire."""
        if self._lease is None or (self._lease.get("spec") or {}).get("holderIdentity") != self._identity:
            return
        lease = dict(self._lease)
        spec = dict(lease.get("spec") or {})
        spec.update(holderIdentity="", leaseDurationSeconds=1, renewTime=_micro_time(datetime.now(UTC)))
        lease["spec"] = spec
        try:
            await self._kube.replace_lease(self._namespace, self._name, lease)
            logger.info("Lease %s/%s released", self._namespace, self._name)
        except KubeError as exc:
            logger.warning("could not release the Lease: %s", exc)

    def _remaining(self) -> float:
        """Seconds left before the renew deadline (0 when it has passed, or nothing was ever renewed)."""
        if self._renewed_at is None:
            return 0.0
        return max(0.0, self._renewed_at + self._timing.renew_deadline - self._clock())

    async def _try_acquire_or_renew(self) -> bool:
        now_wall = datetime.now(UTC)
        desired_spec = {
            "holderIdentity": self._identity,
            "leaseDurationSeconds": int(self._timing.lease_duration),
            "renewTime": _micro_time(now_wall),
        }
        try:
            lease = await self._kube.get_lease(self._namespace, self._name)
        except ObjectGone:
            body = {
                "apiVersion": "coordination.k8s.io/v1",
                "kind": "Lease",
                "metadata": {"name": self._name, "namespace": self._namespace},
                "spec": {**desired_spec, "acquireTime": _micro_time(now_wall), "leaseTransitions": 0},
            }
            try:
                self._lease = await self._kube.create_lease(self._namespace, body)
            except Conflict:
                return False
            self._renewed_at = self._clock()
            return True
        spec = dict(lease.get("spec") or {})
        observed = {k: spec.get(k) for k in ("holderIdentity", "leaseDurationSeconds", "renewTime")}
        if observed != self._observed:
            self._observed, self._observed_at = observed, self._clock()
        holder = spec.get("holderIdentity") or ""
        duration = float(spec.get("leaseDurationSeconds") or self._timing.lease_duration)
        if holder and holder != self._identity and self._clock() < self._observed_at + duration:
            return False  # somebody else holds a lease that has not expired (by our clock)
        new_spec = {**spec, **desired_spec}
        if holder != self._identity:
            new_spec["acquireTime"] = _micro_time(now_wall)
            new_spec["leaseTransitions"] = int(spec.get("leaseTransitions") or 0) + 1
        body = {**lease, "spec": new_spec}
        try:
            self._lease = await self._kube.replace_lease(self._namespace, self._name, body)
        except Conflict:
            return False
        self._renewed_at = self._clock()
        return True
