"""The offset store of the retrying consumer: store after the work, commit what is stored.

The rule the consumer keeps (at-least-once): the offset after a record is *stored* only once
the record was handled or dead-lettered, and only stored offsets are ever committed
(``enable.auto.offset.store`` is off). :class:`OffsetStore` collects the records done with
since the last :meth:`OffsetStore.flush` (the last one per partition is enough: records of a
partition are done with in order) and stores them in one call before the loop polls again,
so no rebalance callback ever runs while a finished record is still unstored.

With ``enable.auto.commit`` on, librdkafka commits what is stored (on its timer, on a
revoke and on close); with it off, :meth:`OffsetStore.flush` commits synchronously after
each store.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable

from confluent_kafka import Consumer, KafkaError, KafkaException, Message, TopicPartition

from harness.checkpoints import Checkpoint, CheckpointHook, no_checkpoint
from harness.holds import Partition, partition_of

log = logging.getLogger(__name__)


class OffsetStore:
    """Offsets of the records done with, stored in batches and committed."""

    def __init__(self, consumer: Consumer, *, auto_commit: bool) -> None:
        self._consumer = consumer
        self.auto_commit = auto_commit
        self.checkpoint: CheckpointHook = no_checkpoint
        #: The last record done with per partition since the last flush. The loop writes it
        #: directly on its fast path (``pending[partition] = message``).
        self.pending: dict[Partition, Message] = {}
        #: The assigned partitions, kept from the rebalance callbacks: asking the client
        #: (``assignment()``) is a round trip to its main thread, once per batch.
        self.assigned: dict[Partition, TopicPartition] = {}

    def done(self, message: Message) -> None:
        """``message`` was handled or dead-lettered: store the offset after it at the next flush."""
        self.pending[partition_of(message)] = message

    def done_all(self, messages: list[Message]) -> None:
        """Every record of ``messages`` (in order) was handled."""
        pending = self.pending
        for message in messages:
            pending[partition_of(message)] = message

    def store_positions(self) -> None:
        """Store the client's position of every assigned partition.

        Only right when every record the client handed out so far was done with (the
        loop's fast path knows when): the position is the offset after the last of them.
        """
        self.flush()
        positions = self._consumer.position(list(self.assigned.values()))
        offsets = [tp for tp in positions if tp.offset >= 0]
        if not offsets:
            return
        try:
            self._consumer.store_offsets(offsets=offsets)
        except KafkaException as exc:
            log.warning("offsets not stored (%s): %s", exc.args[0], _listing(offsets))
            return
        self.checkpoint(Checkpoint.STORED, None)
        if not self.auto_commit:
            self.commit("batch")

    def flush(self) -> None:
        """Store the pending offsets (and commit them when auto-commit is off)."""
        if not self.pending:
            return
        offsets = [
            TopicPartition(
                topic, partition, (message.offset() or 0) + 1, leader_epoch=_epoch(message)
            )
            for (topic, partition), message in self.pending.items()
        ]
        self.pending.clear()
        try:
            self._consumer.store_offsets(offsets=offsets)
        except KafkaException as exc:
            # Every partition refused (none is assigned any more): their new owners will
            # deliver those records again from the committed offsets.
            log.warning("offsets not stored (%s): %s", exc.args[0], _listing(offsets))
            return
        self.checkpoint(Checkpoint.STORED, None)
        if not self.auto_commit:
            self.commit("batch")

    def assign(self, partitions: Iterable[TopicPartition]) -> None:
        """``partitions`` were assigned (all of them, or incrementally)."""
        for tp in partitions:
            self.assigned[(tp.topic, tp.partition)] = TopicPartition(tp.topic, tp.partition)

    def forget(self, partitions: Iterable[Partition]) -> None:
        """``partitions`` were revoked or lost: drop their pending offsets (a store would fail)."""
        for partition in partitions:
            self.pending.pop(partition, None)
            self.assigned.pop(partition, None)

    def commit(self, why: str) -> bool:
        """Commit the stored offsets synchronously; ``False`` when the commit failed.

        Nothing stored since the last commit is not a failure.
        """
        self.checkpoint(Checkpoint.COMMIT, None)
        try:
            results = self._consumer.commit(asynchronous=False)
        except KafkaException as exc:
            error: KafkaError = exc.args[0]
            if error.code() == KafkaError._NO_OFFSET:
                return True
            log.warning("%s commit failed: %s (records will be delivered again)", why, error)
            return False
        failed = [tp for tp in results or [] if tp.error is not None]
        for tp in failed:
            log.warning("%s commit of %s[%d] failed: %s", why, tp.topic, tp.partition, tp.error)
        return not failed


def _epoch(message: Message) -> int:
    epoch = message.leader_epoch()
    return -1 if epoch is None else epoch  # -1: unknown (TopicPartition refuses None)


def _listing(offsets: list[TopicPartition]) -> str:
    return ", ".join(f"{tp.topic}[{tp.partition}]@{tp.offset}" for tp in offsets)
