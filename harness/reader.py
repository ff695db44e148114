"""Read the newest records of a topic without joining or committing to any group.

:func:`read_tail` is what the smoke suite's ``--read-only`` mode does on a production
cluster: it assigns the partitions itself (no group join, no rebalance of anybody's
consumers), starts each one a bounded number of records before its end, and never commits
or stores an offset. librdkafka insists on a ``group.id`` even for assigned partitions; the
one given here is never joined and nothing is committed to it (a principal without rights
on that group id can still read: the coordinator lookup's refusal is ignored).
"""

from __future__ import annotations

import math
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Final

from confluent_kafka import Consumer, KafkaError, KafkaException, TopicPartition

from harness.admin import ClientErrors
from harness.errors import HarnessError

#: Settings under which nothing is ever committed or stored for the group id.
NO_COMMIT: Final[Mapping[str, Any]] = {
    "enable.auto.commit": False,
    "enable.auto.offset.store": False,
    "enable.partition.eof": True,
}


class ReadError(HarnessError):
    """A topic could not be read (absent, unauthorized, or not to its end in time)."""


@dataclass(frozen=True)
class ReadRecord:
    """One record read: where it was and its key and value bytes."""

    partition: int
    offset: int
    key: bytes | None
    value: bytes | None


@dataclass(frozen=True)
class TailRead:
    """What :func:`read_tail` read from one topic."""

    topic: str
    partitions: int
    expected: int  # records between the start positions and the end offsets at the start
    records: tuple[ReadRecord, ...]

    def summary(self) -> str:
        """``topic: N record(s) from P partition(s)`` for reports."""
        return f"{self.topic}: {len(self.records)} record(s) from {self.partitions} partition(s)"


def read_tail(
    bootstrap_servers: str,
    topic: str,
    *,
    max_records: int,
    group_id: str,
    config: Mapping[str, Any] | None = None,
    timeout_s: float = 30.0,
) -> TailRead:
    """Read at most ``max_records`` of the newest records of ``topic`` (spread over its
    partitions), without committing. Raises :class:`ReadError`."""
    if max_records < 1:
        raise ReadError(f"max_records must be >= 1, got {max_records}")
    errors = ClientErrors()
    consumer = Consumer(
        {
            **(config or {}),
            **NO_COMMIT,
            "bootstrap.servers": bootstrap_servers,
            "group.id": group_id,
            "error_cb": errors,
        }
    )
    try:
        return _read(consumer, topic, max_records, timeout_s, errors)
    except KafkaException as error:
        raise ReadError(f"cannot read {topic!r}: {error.args[0]}") from error
    finally:
        consumer.close()


def _read(
    consumer: Consumer, topic: str, max_records: int, timeout_s: float, errors: ClientErrors
) -> TailRead:
    deadline = time.monotonic() + timeout_s
    metadata = consumer.list_topics(topic, timeout=timeout_s).topics.get(topic)
    if metadata is None or metadata.error is not None:
        why = (
            "the topic does not exist"
            if metadata is None
            else f"{metadata.error.str()} ({metadata.error.name()})"
        )
        raise ReadError(f"cannot read {topic!r}: {why}")
    partitions = sorted(metadata.partitions)
    per_partition = math.ceil(max_records / max(1, len(partitions)))
    starts: list[TopicPartition] = []
    ends: dict[int, int] = {}
    for partition in partitions:
        low, high = consumer.get_watermark_offsets(
            TopicPartition(topic, partition), timeout=max(0.1, deadline - time.monotonic())
        )
        start = max(low, high - per_partition)
        if high > start:
            starts.append(TopicPartition(topic, partition, start))
            ends[partition] = high
    expected = min(max_records, sum(ends[tp.partition] - tp.offset for tp in starts))
    records: list[ReadRecord] = []
    if starts:
        consumer.assign(starts)
    open_partitions = set(ends)
    while open_partitions and len(records) < expected:
        if time.monotonic() >= deadline:
            raise ReadError(
                f"read {len(records)} of {expected} record(s) of {topic!r} within "
                f"{timeout_s:.0f} s; partitions {sorted(open_partitions)} not read to the end"
                + (f"; last client error: {errors.last()}" if errors.last() else ""),
                hint="is every partition's leader available, and may this principal read "
                "the topic?",
            )
        message = consumer.poll(0.5)
        if message is None:
            continue
        error = message.error()
        if error is not None:
            if error.code() == KafkaError._PARTITION_EOF:
                open_partitions.discard(message.partition() or 0)
                continue
            if error.code() == KafkaError.GROUP_AUTHORIZATION_FAILED:
                continue  # the coordinator lookup for the unused group id: not needed here
            raise ReadError(f"cannot read {topic!r}: {error.str()} ({error.name()})")
        partition, offset = message.partition() or 0, message.offset() or 0
        records.append(ReadRecord(partition, offset, message.key(), message.value()))
        if offset + 1 >= ends.get(partition, 0):
            open_partitions.discard(partition)
    return TailRead(topic, len(partitions), expected, tuple(records[:max_records]))
