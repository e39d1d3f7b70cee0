"""The shared rate limiter, on fake time: rate bound, FIFO per key, round-robin across keys, 429 pauses."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from modelarts_operator.limiter import (
    LimiterRegistry,
    TokenBucket,
    before_request_hook,
    bucket_key,
    throttle_observer,
)

EPSILON = 1e-6


class FakeTime:
    """A clock that only moves when the limiter sleeps (its dispatcher is the only sleeper), so every test
    runs instantly and the same way each time. ``sleeps`` records what was asked for."""

    def __init__(self) -> None:
        self.now = 1000.0
        self.sleeps: list[float] = []

    def clock(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += max(0.0, seconds)
        await asyncio.sleep(0)


@pytest.fixture
def fake_time() -> FakeTime:
    return FakeTime()


def make_bucket(fake_time: FakeTime, rate: float = 10.0, burst: int = 5, **kwargs: float) -> TokenBucket:
    return TokenBucket(rate, burst, clock=fake_time.clock, sleep=fake_time.sleep, **kwargs)


class Grants:
    """Records (grant time, key, label) in the order acquire() returned."""

    def __init__(self, bucket: TokenBucket, fake_time: FakeTime) -> None:
        self.bucket = bucket
        self.fake_time = fake_time
        self.log: list[tuple[float, str | None, object]] = []

    async def one(self, key: str | None, label: object = None) -> None:
        started = self.fake_time.clock()
        waited = await self.bucket.acquire(key)
        self.log.append((started + waited, key, label))

    def spawn(self, key: str | None, count: int, label_from: int = 0) -> list[asyncio.Task[None]]:
        return [asyncio.create_task(self.one(key, label_from + i)) for i in range(count)]

    @property
    def times(self) -> list[float]:
        return [time for time, _, _ in self.log]

    @property
    def keys(self) -> list[str | None]:
        return [key for _, key, _ in self.log]


def assert_rate_bound(times: Sequence[float], rate: float, burst: int) -> None:
    """No window [t_i, t_j] holds more than burst + rate * (t_j - t_i) grants."""
    ordered = sorted(times)
    for i in range(len(ordered)):
        for j in range(i, len(ordered)):
            allowed = burst + rate * (ordered[j] - ordered[i]) + EPSILON
            assert j - i + 1 <= allowed, f"{j - i + 1} grants in [{ordered[i]}, {ordered[j]}], allowed {allowed}"


# --- basics --------------------------------------------------------------------------------------


async def test_burst_is_granted_at_once_then_the_rate_applies(fake_time: FakeTime) -> None:
    bucket = make_bucket(fake_time, rate=4.0, burst=3)
    grants = Grants(bucket, fake_time)
    await asyncio.gather(*grants.spawn("a", 7))
    start = 1000.0
    assert grants.times == pytest.approx([start, start, start, start + 0.25, start + 0.5, start + 0.75, start + 1])
    assert bucket.grants_total == 7
    assert bucket.wait_seconds_total == pytest.approx(0.25 + 0.5 + 0.75 + 1.0)
    assert bucket.last_wait_seconds == pytest.approx(1.0)
    assert bucket.queued == 0


async def test_tokens_accrue_while_idle_up_to_burst(fake_time: FakeTime) -> None:
    bucket = make_bucket(fake_time, rate=2.0, burst=3)
    grants = Grants(bucket, fake_time)
    await asyncio.gather(*grants.spawn("a", 3))  # empties the bucket
    fake_time.now += 100.0  # idle for long: refills to burst, not to 200
    grants.log.clear()
    await asyncio.gather(*grants.spawn("a", 5))
    assert grants.times == pytest.approx([1100.0, 1100.0, 1100.0, 1100.5, 1101.0])


def test_settings_are_checked() -> None:
    with pytest.raises(ValueError, match="rate"):
        TokenBucket(0, 1)
    with pytest.raises(ValueError, match="burst"):
        TokenBucket(1.0, 0)
    with pytest.raises(ValueError, match="rate"):
        LimiterRegistry(-1.0, 5)


# --- the rate bound ------------------------------------------------------------------------------


@settings(max_examples=60, deadline=None)
@given(
    rate=st.floats(min_value=0.5, max_value=50.0),
    burst=st.integers(min_value=1, max_value=10),
    batches=st.lists(
        st.tuples(
            st.floats(min_value=0.0, max_value=3.0),  # time jump before the batch
            st.sampled_from(["a", "b", "c", None]),
            st.integers(min_value=1, max_value=15),
            st.booleans(),  # a 429 before the batch
        ),
        min_size=1,
        max_size=8,
    ),
)
def test_never_more_than_burst_plus_rate_times_window(
    rate: float, burst: int, batches: list[tuple[float, str | None, int, bool]]
) -> None:
    fake_time = FakeTime()

    async def scenario() -> list[float]:
        bucket = make_bucket(fake_time, rate=rate, burst=burst)
        grants = Grants(bucket, fake_time)
        tasks: list[asyncio.Task[None]] = []
        for jump, key, count, throttled in batches:
            fake_time.now += jump
            if throttled:
                bucket.penalize(0.5)
            tasks += grants.spawn(key, count)
            await asyncio.sleep(0)
        await asyncio.wait_for(asyncio.gather(*tasks), timeout=10)
        assert len(grants.log) == sum(count for _, _, count, _ in batches)
        return grants.times

    times = asyncio.run(scenario())
    assert_rate_bound(times, rate, burst)


async def test_rate_bound_checker_catches_a_bucket_that_cheats(fake_time: FakeTime) -> None:
    """The property above can fail: a bucket that ignores its rate breaks it."""
    with pytest.raises(AssertionError):
        assert_rate_bound([0.0] * 6, rate=10.0, burst=5)
    assert_rate_bound([0.0] * 5 + [0.1], rate=10.0, burst=5)


# --- fairness ------------------------------------------------------------------------------------


async def test_fifo_within_a_key(fake_time: FakeTime) -> None:
    bucket = make_bucket(fake_time, rate=5.0, burst=1)
    grants = Grants(bucket, fake_time)
    await asyncio.gather(*grants.spawn("ns/one", 20))
    assert [label for _, _, label in grants.log] == list(range(20))


async def test_a_quiet_key_is_not_starved_by_a_noisy_one(fake_time: FakeTime) -> None:
    bucket = make_bucket(fake_time, rate=10.0, burst=1)
    grants = Grants(bucket, fake_time)
    noisy = grants.spawn("ns/noisy", 100)
    await asyncio.sleep(0)  # the noisy object's 100 calls are queued first
    assert bucket.queued == 99  # one took the burst token
    quiet = grants.spawn("ns/quiet", 1)
    await asyncio.wait_for(asyncio.gather(*noisy, *quiet), timeout=10)
    position = grants.keys.index("ns/quiet")
    assert position <= 2, f"quiet key served only at grant {position}"
    assert grants.times[position] - 1000.0 <= 0.2 + EPSILON


async def test_round_robin_across_keys(fake_time: FakeTime) -> None:
    bucket = make_bucket(fake_time, rate=10.0, burst=1)
    grants = Grants(bucket, fake_time)
    await bucket.acquire("drain")
    tasks = grants.spawn("a", 4) + grants.spawn("b", 2) + grants.spawn("c", 1)
    await asyncio.gather(*tasks)
    assert grants.keys == ["a", "b", "c", "a", "b", "a", "a"]
    assert [label for _, key, label in grants.log if key == "a"] == [0, 1, 2, 3]


async def test_a_call_for_everybody_goes_first_in_the_round(fake_time: FakeTime) -> None:
    """The shared pool list answers for every object: it does not wait one turn of each of them."""
    bucket = make_bucket(fake_time, rate=10.0, burst=1)
    grants = Grants(bucket, fake_time)
    await bucket.acquire("drain")
    objects = [task for i in range(50) for task in grants.spawn(f"ns/pool-{i}", 1)]
    await asyncio.sleep(0)  # fifty objects queued, one call each

    async def listing() -> None:
        started = fake_time.clock()
        waited = await bucket.acquire("list:project", first=True)
        grants.log.append((started + waited, "list:project", None))

    await asyncio.gather(*objects, listing())
    assert grants.keys.index("list:project") == 0
    assert grants.keys[1:] == [f"ns/pool-{i}" for i in range(50)]  # the others keep their order


async def test_a_cancelled_waiter_does_not_hold_up_others(fake_time: FakeTime) -> None:
    bucket = make_bucket(fake_time, rate=1.0, burst=1)
    grants = Grants(bucket, fake_time)
    await bucket.acquire("drain")
    doomed = grants.spawn("a", 1)
    kept = grants.spawn("b", 1)
    await asyncio.sleep(0)
    doomed[0].cancel()
    await asyncio.gather(*kept)
    assert grants.keys == ["b"]
    assert grants.times == pytest.approx([1001.0])  # the first token after drain, not the second
    assert bucket.queued == 0


# --- 429 pauses ----------------------------------------------------------------------------------


async def test_penalize_blocks_every_key_until_the_pause_ends(fake_time: FakeTime) -> None:
    bucket = make_bucket(fake_time, rate=10.0, burst=5)
    bucket.penalize(3.0)
    assert bucket.paused_until == pytest.approx(1003.0)
    grants = Grants(bucket, fake_time)
    await asyncio.gather(*grants.spawn("a", 3), *grants.spawn("b", 3), *grants.spawn(None, 1))
    assert min(grants.times) >= 1003.0
    # After the pause the bucket restarts empty: no burst into a gateway that just said 429.
    assert_rate_bound(grants.times, rate=10.0, burst=1)
    assert bucket.penalties_total == 1


async def test_penalize_while_callers_wait(fake_time: FakeTime) -> None:
    bucket = make_bucket(fake_time, rate=1.0, burst=1)
    grants = Grants(bucket, fake_time)
    await bucket.acquire("drain")
    first = grants.spawn("a", 1)
    await asyncio.sleep(0)
    bucket.penalize(10.0)  # while the dispatcher waits for the next token
    await asyncio.gather(*first, *grants.spawn("b", 1))
    assert min(grants.times) >= 1010.0


async def test_penalties_do_not_add_up_and_are_clamped(fake_time: FakeTime) -> None:
    bucket = make_bucket(fake_time, default_pause=2.0, max_pause=30.0)
    bucket.penalize(5.0)
    bucket.penalize(1.0)
    assert bucket.paused_until == pytest.approx(1005.0)
    bucket.penalize(None)
    assert bucket.paused_until == pytest.approx(1005.0)
    bucket.penalize(3600.0)
    assert bucket.paused_until == pytest.approx(1030.0)
    fake_time.now = 1040.0
    bucket.penalize(None)
    assert bucket.paused_until == pytest.approx(1042.0)


# --- registry ------------------------------------------------------------------------------------


async def test_registry_shares_a_bucket_per_endpoint_and_project(fake_time: FakeTime) -> None:
    registry = LimiterRegistry(1.0, 1, clock=fake_time.clock, sleep=fake_time.sleep)
    one = registry.bucket_for("https://modelarts.r1.example.com", "p1")
    assert registry.bucket_for("https://ModelArts.R1.example.com/", "p1") is one
    other_project = registry.bucket_for("https://modelarts.r1.example.com", "p2")
    other_endpoint = registry.bucket_for("https://modelarts.r2.example.com", "p1")
    assert len({id(one), id(other_project), id(other_endpoint)}) == 3
    assert await one.acquire("x") == 0.0
    # `one` is empty now; the others are untouched.
    assert await other_project.acquire("x") == 0.0
    assert await other_endpoint.acquire("x") == 0.0
    one.penalize(10.0)
    assert await other_project.acquire("y") == pytest.approx(1.0)  # its own rate, not one's pause
    assert set(registry.buckets()) == {
        bucket_key("https://modelarts.r1.example.com", "p1"),
        bucket_key("https://modelarts.r1.example.com", "p2"),
        bucket_key("https://modelarts.r2.example.com", "p1"),
    }


def test_bucket_key_normalizes_only_what_the_gateway_ignores() -> None:
    assert bucket_key("https://ModelArts.X.com/", "p") == ("https://modelarts.x.com", "p")
    assert bucket_key("http://127.0.0.1:8443", "p") != bucket_key("http://127.0.0.1:8444", "p")
    assert bucket_key("https://a.com", "P") != bucket_key("https://a.com", "p")


async def test_close_cancels_waiters(fake_time: FakeTime) -> None:
    registry = LimiterRegistry(1.0, 1, clock=fake_time.clock, sleep=fake_time.sleep)
    bucket = registry.bucket_for("https://a.com", "p")
    await bucket.acquire("drain")
    waiting = asyncio.create_task(bucket.acquire("a"))
    await asyncio.sleep(0)
    registry.close()
    with pytest.raises(asyncio.CancelledError):
        await asyncio.wait_for(waiting, timeout=5)


# --- glue to the ModelArts client ----------------------------------------------------------------


class RecordedWaits:
    def __init__(self) -> None:
        self.waits: list[float] = []

    def observe_limiter_wait(self, seconds: float) -> None:
        self.waits.append(seconds)


async def test_before_request_hook_acquires_and_reports_the_wait(fake_time: FakeTime) -> None:
    bucket = make_bucket(fake_time, rate=2.0, burst=1)
    recorder = RecordedWaits()
    hook = before_request_hook(bucket, "ns/pool", recorder)
    await hook("get")
    await hook("patch")
    assert recorder.waits == pytest.approx([0.0, 0.5])
    assert bucket.grants_total == 2
    await before_request_hook(bucket, "ns/pool")("delete")  # no metrics: still limited
    assert bucket.grants_total == 3


async def test_throttle_observer_pauses_on_429_only(fake_time: FakeTime) -> None:
    bucket = make_bucket(fake_time, default_pause=4.0)
    seen: list[tuple[str, str, float]] = []
    observer = throttle_observer(bucket, lambda op, code, secs: seen.append((op, code, secs)))
    observer("get", "200", 0.1)
    observer("get", "503", 0.1)
    observer("get", "transport_error", 0.1)
    assert bucket.penalties_total == 0
    observer("list", "429", 0.2)
    assert bucket.penalties_total == 1
    assert bucket.paused_until == pytest.approx(1004.0)
    assert seen == [("get", "200", 0.1), ("get", "503", 0.1), ("get", "transport_error", 0.1), ("list", "429", 0.2)]
