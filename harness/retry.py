"""Retry policy: bounded exponential backoff with jitter, and error classification.

Everything here is pure (no Kafka, no clock): :meth:`RetryPolicy.backoff_ms` takes the random
source as an argument, so tests can pin it. How the consumer *waits* for a backoff (holding
back only the record's partition while it keeps polling the others, so the group session
and ``max.poll.interval.ms`` are respected) lives in :mod:`harness.holds`.
"""

from __future__ import annotations

import json
import random
from dataclasses import dataclass

from harness.errors import ConfigurationError, NonRetryableError, RetryableError

#: Exceptions that no retry can fix, whatever the policy says: undecodable payloads.
ALWAYS_NON_RETRYABLE: tuple[type[BaseException], ...] = (
    NonRetryableError,
    json.JSONDecodeError,
    UnicodeDecodeError,
)


@dataclass(frozen=True)
class RetryPolicy:
    """How often and how patiently a failing record is retried before it goes to the DLQ.

    ``max_attempts`` counts every call of the handler, the first included: with 3, a record
    is tried, retried twice, then dead-lettered. The wait before attempt ``n + 1`` is
    ``min(max_backoff_ms, initial_backoff_ms * multiplier ** (n - 1))``, scaled by a random
    factor in ``[1 - jitter, 1 + jitter]`` and capped at ``max_backoff_ms`` again.

    ``non_retryable`` lists exception classes (and their subclasses) that go to the DLQ on
    the first failure. :data:`ALWAYS_NON_RETRYABLE` is added to it. An exception that is a
    :class:`~harness.errors.RetryableError` is retried even if it also matches a
    ``non_retryable`` class; every other exception is retried.
    """

    max_attempts: int = 3
    initial_backoff_ms: float = 100.0
    max_backoff_ms: float = 2_000.0
    multiplier: float = 2.0
    jitter: float = 0.2
    non_retryable: tuple[type[BaseException], ...] = ()

    def __post_init__(self) -> None:
        problems: list[str] = []
        if self.max_attempts < 1:
            problems.append(f"max_attempts must be >= 1, got {self.max_attempts}")
        if self.initial_backoff_ms < 0:
            problems.append(f"initial_backoff_ms must be >= 0, got {self.initial_backoff_ms}")
        if self.max_backoff_ms < self.initial_backoff_ms:
            problems.append(
                f"max_backoff_ms ({self.max_backoff_ms}) must be >= initial_backoff_ms "
                f"({self.initial_backoff_ms})"
            )
        if self.multiplier < 1:
            problems.append(f"multiplier must be >= 1, got {self.multiplier}")
        if not 0 <= self.jitter <= 1:
            problems.append(f"jitter must be within [0, 1], got {self.jitter}")
        for cls in self.non_retryable:
            if not (isinstance(cls, type) and issubclass(cls, BaseException)):
                problems.append(f"non_retryable entries must be exception classes, got {cls!r}")
        if problems:
            raise ConfigurationError(
                "invalid RetryPolicy: " + "; ".join(problems),
                hint="e.g. RetryPolicy(max_attempts=3, initial_backoff_ms=100, "
                "max_backoff_ms=2000, multiplier=2.0, jitter=0.2)",
            )

    def base_backoff_ms(self, attempt: int) -> float:
        """The un-jittered wait after failed attempt ``attempt`` (1-based), capped."""
        if attempt < 1:
            raise ConfigurationError(f"attempt numbers start at 1, got {attempt}")
        try:
            raw = self.initial_backoff_ms * self.multiplier ** (attempt - 1)
        except OverflowError:
            return self.max_backoff_ms
        return min(self.max_backoff_ms, raw)

    def backoff_ms(self, attempt: int, rng: random.Random | None = None) -> float:
        """The jittered wait, in ms, after failed attempt ``attempt`` (1-based).

        Always within ``[base * (1 - jitter), min(max_backoff_ms, base * (1 + jitter))]``
        where ``base`` is :meth:`base_backoff_ms`; never above ``max_backoff_ms``.
        """
        base = self.base_backoff_ms(attempt)
        source = rng if rng is not None else random
        factor = 1.0 + source.uniform(-self.jitter, self.jitter)
        return max(0.0, min(self.max_backoff_ms, base * factor))

    def is_retryable(self, error: BaseException) -> bool:
        """Whether ``error`` is worth another attempt (ignoring the attempt budget)."""
        if isinstance(error, RetryableError):
            return True
        return not isinstance(error, ALWAYS_NON_RETRYABLE + self.non_retryable)

    def should_retry(self, error: BaseException, attempts: int) -> bool:
        """Whether to try again after ``attempts`` failed attempts ending in ``error``."""
        return attempts < self.max_attempts and self.is_retryable(error)

    def worst_case_wait_ms(self) -> float:
        """Upper bound of the total backoff one record can spend before it is dead-lettered."""
        return sum(
            min(self.max_backoff_ms, self.base_backoff_ms(n) * (1 + self.jitter))
            for n in range(1, self.max_attempts)
        )
