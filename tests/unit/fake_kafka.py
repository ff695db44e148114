"""An in-memory stand-in for ``confluent_kafka.Consumer`` that keeps librdkafka's rules.

The rules modelled, each as librdkafka has it (src/rdkafka_partition.c, rdkafka_assignment.c,
rdkafka_offset.c, rdkafka_queue.c):

* a partition object (toppar) outlives its assignment: an **application pause** set by
  ``pause()`` stays when the partition is revoked and when it is assigned again (librdkafka
  clears only its own library pause flag on removal and on start), and the fetcher skips a
  paused partition;
* ``pause()`` drops what was prefetched and not handed out, and fetching resumes after the
  last record handed to the application;
* a newly assigned partition starts at its committed offset;
* ``store_offsets()`` refuses a partition that is not assigned; the call raises only when
  every partition was refused;
* a commit includes only partitions whose stored offset is past the committed one, and
  raises ``_NO_OFFSET`` when there is none;
* auto-commit commits the stored offsets of a partition when it is revoked;
* ``consume(n, timeout)`` blocks until ``n`` records or the timeout.

Rebalances are driven by the test: :meth:`FakeConsumer.assign` and
:meth:`FakeConsumer.revoke` run the rebalance callbacks as librdkafka does; ``during_poll``
holds steps run one per ``consume()`` call.
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, ClassVar

from confluent_kafka import (
    TIMESTAMP_CREATE_TIME,
    KafkaError,
    KafkaException,
    Message,
    TopicPartition,
)

Partition = tuple[str, int]


@dataclass
class Toppar:
    """librdkafka's per-partition state that survives a revoke."""

    app_paused: bool = False
    position: int = 0  # the next offset to hand out
    handed_out: bool = False  # since the partition was assigned (else no position yet)
    stored: int | None = None
    committed: int | None = None


@dataclass
class TopicInfo:
    """Just the ``error`` attribute of a topic's metadata."""

    error: KafkaError | None = None
    partitions: dict[int, object] = field(default_factory=dict)


@dataclass
class Metadata:
    """Just the ``topics`` attribute of ``list_topics()``'s answer."""

    topics: dict[str, TopicInfo]


def record(
    topic: str, partition: int, offset: int, value: bytes | None, key: bytes | None = None
) -> Message:
    """A consumed record as the client hands it out."""
    return Message(
        topic=topic,
        partition=partition,
        offset=offset,
        key=key,
        value=value,
        headers=[("trace", b"\x00\xff")],
        timestamp=(TIMESTAMP_CREATE_TIME, 1_700_000_000_000),
    )


class FakeConsumer:
    """Partitions with logs, an assignment, and the rules of the module docstring."""

    instances: ClassVar[list[FakeConsumer]] = []
    #: Topics ``list_topics`` reports as absent.
    missing_topics: ClassVar[set[str]] = set()

    def __init__(self, config: dict[str, Any]) -> None:
        self.config = config
        self.auto_commit = str(config.get("enable.auto.commit", True)).lower() in ("true", "1")
        self.logs: dict[Partition, list[Message]] = {}
        self.toppars: dict[Partition, Toppar] = {}
        self.assigned: list[Partition] = []
        self.during_poll: deque[Callable[[], None]] = deque()
        self.pause_calls: list[list[Partition]] = []
        self.resume_calls: list[list[Partition]] = []
        self.poll_timeouts: list[float] = []
        self.events: list[str] = []
        self.closed = False
        FakeConsumer.instances.append(self)

    # -- test controls ---------------------------------------------------------------------

    def add(self, partition: Partition, *values: bytes | None) -> None:
        """Append records with ``values`` to ``partition``'s log (keys k<offset>)."""
        log = self.logs.setdefault(partition, [])
        for value in values:
            offset = len(log)
            log.append(record(partition[0], partition[1], offset, value, f"k{offset}".encode()))

    def assign(self, *partitions: Partition) -> None:
        """The group assigns ``partitions`` (incrementally): on_assign, then start fetching."""
        tps = [TopicPartition(t, p) for t, p in partitions]
        self.callbacks["on_assign"](self, tps)
        for partition in partitions:
            toppar = self.toppars.setdefault(partition, Toppar())
            toppar.position = toppar.committed or 0
            toppar.handed_out = False
            self.assigned.append(partition)

    def revoke(self, *partitions: Partition) -> None:
        """The group takes ``partitions`` away: on_revoke, auto-commit, stop fetching."""
        self.callbacks["on_revoke"](self, [TopicPartition(t, p) for t, p in partitions])
        for partition in partitions:
            toppar = self.toppars[partition]
            if self.auto_commit and toppar.stored is not None:
                toppar.committed = toppar.stored
            toppar.stored = None
            self.assigned.remove(partition)
            # The application pause stays (librdkafka resets only its library pause flag).

    def committed_offsets(self) -> dict[Partition, int]:
        """Committed offset per partition that has one."""
        return {p: t.committed for p, t in self.toppars.items() if t.committed is not None}

    def stored_offsets(self) -> dict[Partition, int]:
        """Stored offset per partition that has one."""
        return {p: t.stored for p, t in self.toppars.items() if t.stored is not None}

    # -- the client API --------------------------------------------------------------------

    def subscribe(self, topics: list[str], **callbacks: Any) -> None:
        self.topics = topics
        self.callbacks = callbacks

    def list_topics(self, topic: str | None = None, timeout: float = -1) -> Metadata:
        known = {} if topic is None or topic in self.missing_topics else {topic: TopicInfo()}
        return Metadata(known)

    def consumer_group_metadata(self) -> str:
        return f"metadata of {self.config.get('group.id')}"

    def consume(self, num_messages: int = 1, timeout: float = -1) -> list[Message]:
        self.poll_timeouts.append(timeout)
        if self.during_poll:
            self.during_poll.popleft()()
        batch: list[Message] = []
        for partition in list(self.assigned):
            toppar = self.toppars[partition]
            log = self.logs.get(partition, [])
            while (
                not toppar.app_paused and toppar.position < len(log) and (len(batch) < num_messages)
            ):
                batch.append(log[toppar.position])
                toppar.position += 1
                toppar.handed_out = True
        if not batch:
            time.sleep(max(0.0, timeout))  # a real consume blocks for its timeout
        return batch

    def position(self, partitions: list[TopicPartition]) -> list[TopicPartition]:
        """After the last record handed out; -1001 (invalid) before the first."""
        result = []
        for tp in partitions:
            toppar = self.toppars[(tp.topic, tp.partition)]
            offset = toppar.position if toppar.handed_out else -1001
            result.append(TopicPartition(tp.topic, tp.partition, offset))
        return result

    def assignment(self) -> list[TopicPartition]:
        return [TopicPartition(t, p) for t, p in self.assigned]

    def pause(self, partitions: list[TopicPartition]) -> None:
        names = [(tp.topic, tp.partition) for tp in partitions]
        self.pause_calls.append(names)
        for name in names:
            if name in self.toppars:
                self.toppars[name].app_paused = True

    def resume(self, partitions: list[TopicPartition]) -> None:
        names = [(tp.topic, tp.partition) for tp in partitions]
        self.resume_calls.append(names)
        for name in names:
            if name in self.toppars:
                self.toppars[name].app_paused = False

    def store_offsets(
        self, message: Message | None = None, offsets: list[TopicPartition] | None = None
    ) -> None:
        stored = 0
        for tp in offsets or []:
            if (tp.topic, tp.partition) in self.assigned:
                self.toppars[(tp.topic, tp.partition)].stored = tp.offset
                stored += 1
                self.events.append(f"store {tp.partition}@{tp.offset}")
        if offsets and not stored:
            raise KafkaException(KafkaError(KafkaError._STATE))

    def commit(
        self,
        message: Message | None = None,
        offsets: list[TopicPartition] | None = None,
        asynchronous: bool = True,
    ) -> list[TopicPartition]:
        moved = {
            p: t.stored
            for p, t in self.toppars.items()
            if t.stored is not None and (t.committed is None or t.stored > t.committed)
        }
        if not moved:
            raise KafkaException(KafkaError(KafkaError._NO_OFFSET))
        for partition, offset in moved.items():
            self.toppars[partition].committed = offset
        self.events.append("commit " + " ".join(f"{p}@{o}" for (_, p), o in sorted(moved.items())))
        return [TopicPartition(t, p, o) for (t, p), o in moved.items()]

    def committed(
        self, partitions: list[TopicPartition], timeout: float = -1
    ) -> list[TopicPartition]:
        return [
            TopicPartition(
                tp.topic,
                tp.partition,
                self.toppars.get((tp.topic, tp.partition), Toppar()).committed or -1001,
            )
            for tp in partitions
        ]

    def close(self) -> None:
        if self.auto_commit:
            for toppar in self.toppars.values():
                if toppar.stored is not None:
                    toppar.committed = toppar.stored
        self.closed = True


class FakeDlqWriter:
    """Stands in for a DLQ writer; fails the first ``failures`` writes."""

    instances: ClassVar[list[FakeDlqWriter]] = []
    failures = 0

    def __init__(self, exactly_once: bool) -> None:
        self.exactly_once = exactly_once
        self.written: list[Any] = []
        self.attempts = 0
        self.group_metadata: list[object] = []
        self.closed = False
        FakeDlqWriter.instances.append(self)

    def write(self, letter: Any, group_metadata: Callable[[], object]) -> None:
        from harness.errors import DeliveryError

        self.attempts += 1
        if FakeDlqWriter.failures > 0:
            FakeDlqWriter.failures -= 1
            raise DeliveryError("DLQ down", topic=letter.topic, error="Broker: Message too large")
        self.group_metadata.append(group_metadata())
        self.written.append(letter)

    def close(self) -> None:
        self.closed = True
