"""One shared look at the cloud per (endpoint, project, workspace, credentials): the pool list.

ModelArts throttles calls per project at its gateway, so what the operator pays for is calls per project, not
per pool. Each :class:`PoolListObserver` lists its pools (every page) on the fastest interval any object it
serves needs — the transition interval while something is creating, scaling or deleting, the stable interval
otherwise — and wakes exactly the objects whose pool looks different. An object asks a GET only when the list
cannot answer (:class:`ObservedReader`): its pool is missing from the list (to confirm a 404 before anything is
released), right after the operator's own PATCH, or while the list call itself fails.

The list answer is kept as raw dicts and parsed into models only for pools whose answer changed, so a thousand
stable pools cost one list call and almost no CPU per interval.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import statistics
import time
from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

from modelarts_operator.modelarts import errors
from modelarts_operator.modelarts.client import ModelArtsClient, PoolMemo
from modelarts_operator.modelarts.models import DEFAULT_WORKSPACE_ID, Pool
from modelarts_operator.reconcile import recovery
from modelarts_operator.reconcile.recovery import LIST_STATUS_FAILED
from modelarts_operator.reconcile.view import Sighting

logger = logging.getLogger(__name__)

# Never list more often than this, however many objects ask for a fresh answer at once.
MIN_LIST_GAP_SECONDS = 0.5
# After a failed list, the next one waits this long (at most; less if every interest is faster). Objects read their
# own pools meanwhile, so nothing waits on it.
LIST_RETRY_SECONDS = 5.0
# An observer nobody has needed for this long stops (its task ends, its snapshot is dropped).
IDLE_STOP_SECONDS = 120.0
# Pools deleted together end together: once a list shows some of them gone while others are still there, the
# next lists come this much sooner, until none or all of them are gone. A 404 is then seen about half an interval
# sooner, and each list finds half as many to confirm (each a GET within the limiter), for a few more list calls
# at the end of a mass deletion only.
ENDING_INTERVAL_FACTOR = 0.5
# Deletions in one project take similar times (same flavours, same region): the observer keeps how long its last
# ones took (first DELETE to confirmed 404), and while a deleting pool is near the end that predicts, lists come
# at the same shorter interval, so a batch that ends between two lists is not found all at once by the second.
DURATIONS_KEPT = 20

ObserverKey = tuple[str, str, str, str]  # endpoint, project id, workspace, credentials fingerprint


@dataclass
class _Interest:
    pool_name: str
    every: float
    wake: asyncio.Event
    delivered: Pool | None = None
    # Called (before the wake) when the pool disappears from the list: a deleting object then has a 404 to
    # confirm and a finalizer to release, which goes before status writes and Events (urgency.py).
    on_gone: Callable[[], None] | None = None
    # When its DELETE was first sent (this observer's clock), while the pool is being deleted.
    deleting_since: float | None = None


@dataclass
class Snapshot:
    """One complete list: pools by name, and when the list call was started (monotonic clock)."""

    pools: dict[str, Pool]
    started_at: float


@dataclass
class PoolListObserver:
    key: ObserverKey
    client: ModelArtsClient
    page_size: int
    clock: Callable[[], float] = time.monotonic
    interests: dict[str, _Interest] = field(default_factory=dict)
    snapshot: Snapshot | None = None
    last_error: errors.ModelArtsError | None = None
    last_success_at: float | None = None
    # When the last list call started, whatever its outcome: every wait is counted from here, so a failing list
    # (even one refused before any request, which returns without suspending) can never run in a tight loop.
    last_attempt_at: float | None = None
    _memo: PoolMemo = field(default_factory=PoolMemo)  # the last list's items: unchanged ones are not parsed again
    _changed: asyncio.Event = field(default_factory=asyncio.Event)
    _listed: asyncio.Condition = field(default_factory=asyncio.Condition)
    _wanted_after: float = -1.0
    _waiters: int = 0  # callers of fresh() waiting for a list right now
    _task: asyncio.Task[None] | None = None
    _idle_since: float | None = None
    _failed: tuple[float, dict[str, Pool]] | None = None
    _failed_lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    # The last list showed a deleting object's pool gone while another deleting object's pool was still there.
    _deletions_ending: bool = False
    _durations: deque[float] = field(default_factory=lambda: deque(maxlen=DURATIONS_KEPT))

    @property
    def workspace_id(self) -> str:
        return self.key[2]

    @property
    def healthy(self) -> bool:
        return self.snapshot is not None and self.last_error is None

    # --- what objects do ------------------------------------------------------------------------

    def subscribe(
        self,
        who: str,
        pool_name: str,
        every: float,
        wake: asyncio.Event,
        on_gone: Callable[[], None] | None = None,
        deleting_since: float | None = None,
    ) -> None:
        """``who`` wants to hear about ``pool_name`` at least every ``every`` seconds (``on_gone``,
        ``deleting_since``: see ``_Interest``)."""
        current = self.interests.get(who)
        if current is not None and current.pool_name == pool_name:
            faster = every < current.every
            current.every, current.wake, current.on_gone = every, wake, on_gone
            current.deleting_since = deleting_since
        else:
            delivered = self.snapshot.pools.get(pool_name) if self.snapshot else None
            self.interests[who] = _Interest(
                pool_name=pool_name,
                every=every,
                wake=wake,
                delivered=delivered,
                on_gone=on_gone,
                deleting_since=deleting_since,
            )
            faster = True
        self._idle_since = None
        if faster:
            self._changed.set()
        self._ensure_running()

    def deletion_took(self, seconds: float) -> None:
        """A pool of this list was confirmed gone ``seconds`` after its first DELETE."""
        self._durations.append(seconds)

    def unsubscribe(self, who: str) -> None:
        self.interests.pop(who, None)
        if not self.interests:
            self._idle_since = self.clock()

    async def fresh(self, after: float | None, wait_seconds: float) -> Snapshot | None:
        """A snapshot from a list started after ``after`` (any snapshot when ``None``), asking for one if needed;
        ``None`` when the list fails or does not come in time (the caller then GETs)."""
        if self._good(after):
            return self.snapshot
        if after is not None:
            self._wanted_after = max(self._wanted_after, after)
        self._changed.set()
        self._ensure_running()
        self._waiters += 1
        try:
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(wait_seconds), self._listed:
                    await self._listed.wait_for(lambda: self._good(after) or self.last_error is not None)
        finally:
            self._waiters -= 1
        return self.snapshot if self._good(after) else None

    async def failed(self, after: float) -> dict[str, Pool]:
        """The failed creations (``status=failed``), from one list call started after ``after``: the objects that
        need it at the same moment (many pools vanishing together) share it."""
        async with self._failed_lock:
            if self._failed is None or self._failed[0] <= after:
                started = self.clock()
                pools = await self.client.list_pools(
                    workspace_id=self.workspace_id, status=LIST_STATUS_FAILED, limit=self.page_size
                )
                self._failed = (started, {pool.name: pool for pool in pools if pool.name})
            return self._failed[1]

    def _good(self, after: float | None) -> bool:
        if self.snapshot is None or self.last_error is not None:
            return False
        return after is None or self.snapshot.started_at > after

    # --- the loop ---------------------------------------------------------------------------------

    def _ensure_running(self) -> None:
        if self._task is None or self._task.done():
            self._task = asyncio.get_running_loop().create_task(self._run(), name=f"observer {self.key[1]}")

    def _interval(self) -> float:
        interval = min((interest.every for interest in self.interests.values()), default=IDLE_STOP_SECONDS)
        if self._deletions_ending or self._end_expected(interval):
            return interval * ENDING_INTERVAL_FACTOR
        return interval

    def _end_expected(self, interval: float) -> bool:
        """A deleting pool is near the end the project's recent deletions predict. A recorded duration includes up
        to one interval of seeing the 404, so the end may come up to that much earlier than predicted."""
        if not self._durations:
            return False
        typical = statistics.median(self._durations)
        now = self.clock()
        return any(
            interest.deleting_since is not None
            and -2 * interval <= now - (interest.deleting_since + typical) <= interval
            for interest in self.interests.values()
        )

    def _due(self) -> float:
        last = self.last_attempt_at
        if last is None:
            return 0.0
        if self.last_error is not None:
            return max(0.0, last + min(self._interval(), LIST_RETRY_SECONDS) - self.clock())
        if self._wanted_after >= last:
            return max(0.0, last + MIN_LIST_GAP_SECONDS - self.clock())
        return max(0.0, last + self._interval() - self.clock())

    async def _run(self) -> None:
        while True:
            if (
                not self.interests
                and not self._waiters
                and self._idle_since is not None
                and (self.clock() - self._idle_since >= IDLE_STOP_SECONDS)
            ):
                return
            self._changed.clear()
            # Nobody needs the list (every object moved on, e.g. to a fixed Secret's credentials): no call at all,
            # least of all with credentials ModelArts refused, until someone asks again or the observer stops.
            wait = self._due() if self.interests or self._waiters else IDLE_STOP_SECONDS
            if wait > 0:
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(min(wait, IDLE_STOP_SECONDS)):
                        await self._changed.wait()
                continue
            await self._list_once()

    async def _list_once(self) -> None:
        started = self.last_attempt_at = self.clock()
        try:
            pools = await self.client.list_pools(workspace_id=self.workspace_id, limit=self.page_size, memo=self._memo)
        except errors.ModelArtsError as exc:
            first_failure = self.last_error is None
            self.last_error = exc
            if first_failure:
                logger.warning(
                    "listing pools of project %s failed (%s); objects read their pools one by one", self.key[1], exc
                )
                self._wake_all()
            async with self._listed:
                self._listed.notify_all()
            return
        self.last_error = None
        self.last_success_at = started
        current: dict[str, Pool] = {}
        for pool in pools:
            if pool.name:
                current[pool.name] = pool
        self.snapshot = Snapshot(pools=current, started_at=started)
        self._deliver(current)
        async with self._listed:
            self._listed.notify_all()

    def _deliver(self, pools: dict[str, Pool]) -> None:
        vanished = still_deleting = False
        for interest in self.interests.values():
            now = pools.get(interest.pool_name)
            if interest.on_gone is not None:  # a deleting object's pool
                still_deleting = still_deleting or now is not None
            if now != interest.delivered:
                if now is None and interest.on_gone is not None:
                    vanished = True
                    interest.on_gone()
                interest.wake.set()
            # Always the new object, equal or not: keeping the old one would keep the previous list alive too.
            interest.delivered = now
        self._deletions_ending = vanished and still_deleting

    def _wake_all(self) -> None:
        for interest in self.interests.values():
            interest.wake.set()

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task


class ObserverRegistry:
    """The observers, made on first use."""

    def __init__(self, page_size: int) -> None:
        self._page_size = page_size
        self._observers: dict[ObserverKey, PoolListObserver] = {}

    def get(self, key: ObserverKey, make_client: Callable[[], ModelArtsClient]) -> PoolListObserver:
        observer = self._observers.get(key)
        if observer is None or (observer._task is not None and observer._task.done() and not observer.interests):
            observer = PoolListObserver(key=key, client=make_client(), page_size=self._page_size)
            self._observers[key] = observer
        return observer

    def all(self) -> Iterable[PoolListObserver]:
        return list(self._observers.values())

    async def stop(self) -> None:
        for observer in self._observers.values():
            await observer.stop()


def workspace_of(spec_workspace: str | None, cloud_workspace: str | None) -> str:
    return spec_workspace or cloud_workspace or DEFAULT_WORKSPACE_ID


class ObservedReader:
    """``PoolReader`` for one object: the observer's list when it can answer, a GET otherwise."""

    def __init__(
        self,
        observer: PoolListObserver,
        client: ModelArtsClient,
        *,
        wait_seconds: float,
        writes: dict[str, tuple[float, bool]],
    ) -> None:
        self._observer = observer
        self._client = client
        self._wait = wait_seconds
        # pool name -> (when the operator last wrote it, read it back with a GET next), kept by the caller
        # across passes.
        self._writes = writes

    async def look(self, name: str) -> Sighting:
        written = self._writes.get(name)
        if written is not None and written[1]:
            self._writes[name] = (written[0], False)
            return Sighting(await self.confirm(name), confirmed=True)
        snapshot = await self._observer.fresh(written[0] if written else None, wait_seconds=self._wait)
        if snapshot is None:  # the list cannot answer: fall back to this pool alone
            return Sighting(await self.confirm(name), confirmed=True)
        if written is not None:
            self._writes.pop(name, None)
        return Sighting(snapshot.pools.get(name), confirmed=False)

    async def confirm(self, name: str) -> Pool | None:
        try:
            return await self._client.get_pool(name)
        except errors.PoolNotFound:
            return None

    async def failed(self, name: str) -> Pool | None:
        return (await self._observer.failed(after=self._asked_at())).get(name)

    async def listed(self, name: str, display_name: str) -> Pool | None:
        snapshot = await self._observer.fresh(self._asked_at(), wait_seconds=self._wait)
        if snapshot is not None:
            return snapshot.pools.get(name)
        return await recovery.find_listed(self._client, display_name, name, workspace_id=self._observer.workspace_id)

    def _asked_at(self) -> float:
        """Answers started a moment before this question still count (the failed list changes slowly)."""
        return self._observer.clock() - 1.0

    def wrote(self, name: str, *, read_back: bool) -> None:
        if name:
            self._writes[name] = (self._observer.clock(), read_back)
