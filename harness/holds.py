"""Per-partition holds: a record waiting out its backoff, and the records queued behind it.

A failed record holds back only its own partition: the loop keeps polling, records of every
other partition go on, and records of the held partition that arrive meanwhile are queued
behind the waiting one, in order. Nothing is paused for a short backoff, so nothing is
refetched: librdkafka drops what it prefetched for a partition the moment it is paused (and
fetches it again after the resume), which would make every backoff cost a fetch round trip.

Memory stays bounded: once a held partition has ``backlog_limit`` records queued, it is
paused, and resumed when its queue is down to half of that. librdkafka drops the prefetched
records of a paused partition and, on resume, fetches from the position after the last
record it handed out, which is the last queued one: nothing is lost and nothing is handed
out twice.

librdkafka keeps an application pause across a revoke and a later re-assignment (it clears
only its own pause flag when a partition leaves the assignment, and its fetcher skips paused
partitions), so :meth:`PartitionHolds.drop` resumes every partition it paused before it forgets
it: a partition revoked during a backoff and assigned back later is fetched again.
"""

from __future__ import annotations

import logging
from collections import deque
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from confluent_kafka import Consumer, KafkaException, Message, TopicPartition

from harness.errors import ConfigurationError

if TYPE_CHECKING:
    from harness.dlq_writer import DeadLetter

log = logging.getLogger(__name__)

#: A partition as ``(topic, partition)``.
Partition = tuple[str, int]


def partition_of(message: Message) -> Partition:
    """The ``(topic, partition)`` of a consumed record."""
    return (message.topic() or "", message.partition() or 0)


@dataclass
class Hold:
    """A record waiting for its next attempt, and the records of its partition behind it.

    ``attempts`` counts handler calls so far; ``dlq_failures`` counts failed DLQ writes (a
    hold with a ``letter`` waits to write that DLQ copy again, not to call the handler).
    ``due_at`` is a ``time.monotonic()`` instant. Once the waiting record is done with, the
    hold *drains*: ``message`` is ``None`` and the queued records are handled from the front,
    in place (the partition stays paused if it was), until one fails and waits in its turn
    or the queue is empty and the hold ends.
    """

    message: Message | None
    value: Any
    attempts: int
    error: BaseException | None
    due_at: float
    letter: DeadLetter | None = None
    dlq_failures: int = 0
    queued: deque[Message] = field(default_factory=deque)
    paused: bool = False
    partition: Partition = field(init=False)

    def __post_init__(self) -> None:
        assert self.message is not None, "a hold begins with a waiting record"
        self.partition = partition_of(self.message)

    def wait_on(self, message: Message, value: Any) -> None:
        """A queued record of a draining hold failed: it is the one waiting now."""
        self.message, self.value, self.attempts = message, value, 1
        self.letter, self.dlq_failures = None, 0

    def done_waiting(self) -> None:
        """The waiting record was done with: the hold drains its queue."""
        self.message, self.value, self.error, self.letter = None, None, None, None


class PartitionHolds:
    """The held partitions of one consumer, at most one waiting record each."""

    def __init__(self, consumer: Consumer, *, backlog_limit: int) -> None:
        if backlog_limit < 0:
            raise ConfigurationError(f"backlog_limit must be >= 0, got {backlog_limit}")
        self._consumer = consumer
        self._backlog_limit = backlog_limit
        #: The holds by partition. The loop's fast path reads it directly.
        self.held: dict[Partition, Hold] = {}
        self.pauses = 0

    def __contains__(self, partition: object) -> bool:
        return partition in self.held

    def __len__(self) -> int:
        return len(self.held)

    def __bool__(self) -> bool:
        return bool(self.held)

    def __iter__(self) -> Iterator[Hold]:
        return iter(list(self.held.values()))

    def hold(self, hold: Hold) -> None:
        """Hold ``hold.partition`` until ``hold.due_at``; the partition must not be held."""
        partition = hold.partition
        if partition in self.held:
            raise AssertionError(f"{partition} is already held")  # a bug of the loop
        self.held[partition] = hold
        if hold.queued:
            self._bound(hold)

    def queue(self, message: Message, partition: Partition) -> None:
        """Queue ``message`` of ``partition`` behind the record the partition waits on."""
        hold = self.held[partition]
        hold.queued.append(message)
        self._bound(hold)

    def due(self, now: float) -> Hold | None:
        """The hold that has waited longest past its due time, or ``None``."""
        ready = [h for h in self.held.values() if h.message is not None and h.due_at <= now]
        return min(ready, key=lambda hold: hold.due_at) if ready else None

    def next_due_in_s(self, now: float) -> float | None:
        """Seconds until the next waiting record is due (0 when one is), ``None`` if none."""
        waiting = [h.due_at for h in self.held.values() if h.message is not None]
        return max(0.0, min(waiting) - now) if waiting else None

    def ease(self, hold: Hold) -> None:
        """Resume a paused draining hold once its queue is down to half the limit.

        librdkafka then fetches while the rest of the queue is handled, so the partition is
        not left idle for a fetch round trip when the queue runs out; what it fetches queues
        behind the rest, in order.
        """
        if hold.paused and len(hold.queued) <= self._backlog_limit // 2:
            hold.paused = False
            self._resume([hold.partition])

    def draining(self) -> list[Hold]:
        """Holds whose waiting record was done with and whose queue is to be handled."""
        return [hold for hold in self.held.values() if hold.message is None]

    def release(self, partition: Partition) -> None:
        """End the hold of ``partition`` (its queue is empty).

        A paused partition is resumed: librdkafka fetches it again from after the last
        queued record.
        """
        hold = self.held.pop(partition)
        assert not hold.queued, "a hold ends only when its queue is handled"
        if hold.paused:
            self._resume([partition])

    def drop(self, partitions: Iterable[Partition]) -> list[Hold]:
        """Forget the holds of ``partitions`` (revoked or lost) and resume what was paused.

        Returns the dropped holds: their records are not stored, so whoever owns the
        partition next gets them again from the committed offset.
        """
        dropped = [self.held.pop(p) for p in list(partitions) if p in self.held]
        paused = [hold.partition for hold in dropped if hold.paused]
        if paused:
            self._resume(paused)
        return dropped

    def drop_all(self) -> list[Hold]:
        """Forget every hold (the consumer stops), resuming what was paused."""
        return self.drop(list(self.held))

    def queued_records(self) -> int:
        """Records queued behind waiting ones, over every held partition."""
        return sum(len(hold.queued) for hold in self.held.values())

    def _bound(self, hold: Hold) -> None:
        if hold.paused or len(hold.queued) < self._backlog_limit:
            return
        topic, number = hold.partition
        try:
            self._consumer.pause([TopicPartition(topic, number)])
        except KafkaException as exc:  # not assigned any more: the revoke drops the hold
            log.debug("cannot pause %s[%d]: %s", topic, number, exc.args[0])
            return
        hold.paused = True
        self.pauses += 1
        log.debug("%s[%d] paused with %d record(s) queued", topic, number, len(hold.queued))

    def _resume(self, partitions: list[Partition]) -> None:
        try:
            self._consumer.resume([TopicPartition(t, p) for t, p in partitions])
        except KafkaException as exc:  # only a closed client refuses; it fetches nothing then
            log.warning("cannot resume %s: %s", partitions, exc.args[0])
