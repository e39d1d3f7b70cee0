"""Probabilistic fault rules (used by the chaos test): a share of matching requests, reproducible by seed."""

from __future__ import annotations

import pytest

from modelarts_emulator.errors import ApiError
from modelarts_emulator.faults import FaultBook


def fired(book: FaultBook, requests: int) -> list[bool]:
    return [book.take("GET", "/v2/p/pools") is not None for _ in range(requests)]


def test_fires_on_about_the_given_share() -> None:
    book = FaultBook()
    book.add({"method": "GET", "status": 503, "probability": 0.1, "seed": 7})
    hits = sum(fired(book, 5000))
    assert 400 <= hits <= 600  # 10% of 5000, well inside the binomial spread
    (listed,) = book.list()
    assert listed["hits"] == hits and listed["probability"] == 0.1 and listed["seed"] == 7
    assert "rng" not in listed


def test_same_seed_same_draws() -> None:
    first, second = FaultBook(), FaultBook()
    for book in (first, second):
        book.add({"status": 500, "probability": 0.3, "seed": 42})
    assert fired(first, 200) == fired(second, 200)


def test_a_spared_request_goes_on_to_the_next_rule() -> None:
    book = FaultBook()
    book.add({"status": 503, "probability": 0.5, "seed": 1})
    book.add({"status": 429})
    statuses = [fault.status for fault in (book.take("GET", "/v2/p/pools") for _ in range(100)) if fault]
    assert len(statuses) == 100
    assert 30 <= statuses.count(503) <= 70 and statuses.count(503) + statuses.count(429) == 100


def test_times_counts_only_requests_that_fired() -> None:
    book = FaultBook()
    book.add({"status": 503, "probability": 0.2, "seed": 3, "times": 5})
    assert sum(fired(book, 500)) == 5
    assert book.list() == []


def test_default_is_every_request() -> None:
    book = FaultBook()
    book.add({"status": 503})
    assert all(fired(book, 20))


@pytest.mark.parametrize("probability", [0, -0.1, 1.5, "half", True])
def test_bad_probability_is_refused(probability: object) -> None:
    with pytest.raises(ApiError):
        FaultBook().add({"status": 503, "probability": probability})
