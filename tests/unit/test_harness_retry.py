"""RetryPolicy: bounded exponential backoff with jitter, and error classification."""

from __future__ import annotations

import json
import random

import pytest

from harness.errors import (
    ConfigurationError,
    DecodeError,
    HarnessError,
    NonRetryableError,
    RetryableError,
)
from harness.retry import RetryPolicy


class PermanentFailure(Exception):
    """A user's error class marked non-retryable."""


class PermanentSubclass(PermanentFailure):
    pass


def test_backoff_without_jitter_grows_exponentially_then_caps() -> None:
    policy = RetryPolicy(
        max_attempts=10, initial_backoff_ms=100, max_backoff_ms=1_000, multiplier=2, jitter=0
    )
    waits = [policy.backoff_ms(n, random.Random(1)) for n in range(1, 8)]
    assert waits == [100, 200, 400, 800, 1_000, 1_000, 1_000]


def test_base_backoff_is_monotone_and_never_exceeds_the_cap() -> None:
    policy = RetryPolicy(initial_backoff_ms=7, max_backoff_ms=5_000, multiplier=3.3)
    bases = [policy.base_backoff_ms(n) for n in range(1, 60)]
    assert bases == sorted(bases)
    assert max(bases) == 5_000


def test_huge_attempt_numbers_cap_instead_of_overflowing() -> None:
    policy = RetryPolicy(initial_backoff_ms=100, max_backoff_ms=2_000, multiplier=10)
    assert policy.base_backoff_ms(10_000) == 2_000
    assert policy.backoff_ms(10_000, random.Random(0)) <= 2_000


@pytest.mark.parametrize("attempt", [1, 2, 3, 4, 5, 6])
def test_jittered_backoff_stays_within_its_range(attempt: int) -> None:
    policy = RetryPolicy(initial_backoff_ms=100, max_backoff_ms=1_000, multiplier=2, jitter=0.25)
    base = policy.base_backoff_ms(attempt)
    low, high = base * 0.75, min(1_000, base * 1.25)
    rng = random.Random(attempt)
    samples = [policy.backoff_ms(attempt, rng) for _ in range(2_000)]
    assert all(low <= s <= high for s in samples)
    assert max(samples) <= policy.max_backoff_ms


def test_jitter_actually_spreads_the_waits() -> None:
    policy = RetryPolicy(initial_backoff_ms=100, max_backoff_ms=10_000, jitter=0.5)
    samples = [policy.backoff_ms(1, random.Random(seed)) for seed in range(200)]
    assert min(samples) < 70 and max(samples) > 130


def test_backoff_is_reproducible_with_a_seeded_rng() -> None:
    policy = RetryPolicy(jitter=0.3)
    first = [policy.backoff_ms(n, random.Random(42)) for n in range(1, 5)]
    second = [policy.backoff_ms(n, random.Random(42)) for n in range(1, 5)]
    assert first == second


def test_worst_case_wait_bounds_the_total_backoff_of_one_record() -> None:
    policy = RetryPolicy(max_attempts=4, initial_backoff_ms=100, max_backoff_ms=300, jitter=0.1)
    assert policy.worst_case_wait_ms() == pytest.approx(110 + 220 + 300)
    rng = random.Random(3)
    for _ in range(500):
        total = sum(policy.backoff_ms(n, rng) for n in range(1, policy.max_attempts))
        assert total <= policy.worst_case_wait_ms()


def test_plain_exceptions_are_retried_until_the_attempt_budget_is_spent() -> None:
    policy = RetryPolicy(max_attempts=3)
    error = TimeoutError("downstream slow")
    assert policy.is_retryable(error)
    assert [policy.should_retry(error, n) for n in (1, 2, 3, 4)] == [True, True, False, False]


@pytest.mark.parametrize(
    "error",
    [
        json.JSONDecodeError("Expecting value", "nope", 0),
        UnicodeDecodeError("utf-8", b"\xff", 0, 1, "invalid start byte"),
        DecodeError("not JSON"),
        NonRetryableError("bad record"),
    ],
)
def test_decode_errors_and_non_retryable_errors_are_never_retried(error: Exception) -> None:
    policy = RetryPolicy(max_attempts=5)
    assert not policy.is_retryable(error)
    assert not policy.should_retry(error, 1)


def test_user_marked_classes_and_their_subclasses_are_not_retried() -> None:
    policy = RetryPolicy(non_retryable=(PermanentFailure,))
    assert not policy.is_retryable(PermanentFailure())
    assert not policy.is_retryable(PermanentSubclass())
    assert policy.is_retryable(ValueError("something else"))


def test_retryable_error_wins_over_a_non_retryable_mark() -> None:
    class Flaky(RetryableError, PermanentFailure):
        pass

    policy = RetryPolicy(non_retryable=(PermanentFailure,))
    assert policy.is_retryable(Flaky("try again"))


@pytest.mark.parametrize(
    "kwargs",
    [
        {"max_attempts": 0},
        {"initial_backoff_ms": -1},
        {"initial_backoff_ms": 500, "max_backoff_ms": 100},
        {"multiplier": 0.5},
        {"jitter": 1.5},
        {"non_retryable": ("ValueError",)},
    ],
)
def test_invalid_policies_are_refused_with_a_hint(kwargs: dict[str, object]) -> None:
    with pytest.raises(ConfigurationError) as info:
        RetryPolicy(**kwargs)  # type: ignore[arg-type]
    assert isinstance(info.value, HarnessError)
    assert "Hint:" in str(info.value)


def test_attempt_numbers_start_at_one() -> None:
    with pytest.raises(ConfigurationError):
        RetryPolicy().backoff_ms(0)
