"""What a run of the retrying consumer did, and the hooks it calls along the way."""

from __future__ import annotations

from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Final

from confluent_kafka import Message

from harness.checkpoints import CheckpointHook, no_checkpoint

#: How many dead-lettered sources :attr:`RunStats.dlq_sources` keeps (the latest).
DLQ_SOURCES_KEPT: Final = 1000

#: A handler gets the decoded JSON value and the raw ``confluent_kafka.Message``. Returning
#: means success; raising means failure (see :class:`~harness.retry.RetryPolicy`).
Handler = Callable[[Any, Message], object]
#: Called before each retry backoff: (message, failed attempt number, backoff ms, error).
RetryHook = Callable[[Message, int, float, BaseException], object]
#: Called after a record's DLQ copy was acknowledged: (message, error, attempts).
DeadLetterHook = Callable[[Message, BaseException, int], object]
#: Called after a DLQ write failed: (message, failed writes so far, the delivery error).
DlqWriteFailureHook = Callable[[Message, int, BaseException], object]


@dataclass(frozen=True)
class Hooks:
    """The callbacks of one run (all optional)."""

    on_retry: RetryHook | None = None
    on_dead_letter: DeadLetterHook | None = None
    on_dlq_write_failure: DlqWriteFailureHook | None = None
    on_checkpoint: CheckpointHook = no_checkpoint


@dataclass
class RunStats:
    """What one :meth:`~harness.consumer.RetryingConsumer.run` did.

    ``processed`` counts handler successes, ``dlq`` records dead-lettered (both had their
    offsets stored); ``retries`` counts scheduled handler re-attempts; ``abandoned`` counts
    waiting records left unstored because the consumer stopped or lost their partition.
    ``dlq_sources`` keeps the latest :data:`DLQ_SOURCES_KEPT` dead-lettered
    ``(topic, partition, offset)``, so a long run stays within bounded memory.
    """

    processed: int = 0
    dlq: int = 0
    retries: int = 0
    dlq_write_failures: int = 0
    received: int = 0
    abandoned: int = 0
    stop_reason: str = ""
    dlq_sources: deque[tuple[str, int, int]] = field(
        default_factory=lambda: deque(maxlen=DLQ_SOURCES_KEPT)
    )

    @property
    def finished(self) -> int:
        """Records done with for good: processed or dead-lettered."""
        return self.processed + self.dlq
