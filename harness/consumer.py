"""An at-least-once consumer loop with bounded retry and a dead-letter queue.

:class:`RetryingConsumer` keeps the seed's consumer settings (group ``analytics-group``,
``auto.offset.reset=earliest``, auto-commit on) but never lets a commit run ahead of the
work. It is a thin loop over three parts, each with one job:

* :class:`~harness.holds.PartitionHolds`: a failed record waits out its backoff holding back
  only its own partition; later records of that partition queue behind it, every other
  partition goes on (:mod:`harness.holds`);
* :class:`~harness.dlq_writer.DlqWriter`: a record that failed for good, or cannot be
  decoded, goes to the DLQ, acknowledged before its offset is stored; with
  ``DlqOptions(transactional=True)`` the copy and the source offset commit in one
  transaction (:mod:`harness.dlq_writer`);
* :class:`~harness.offsets.OffsetStore`: stores the offset after a record only once it was
  handled or dead-lettered, before the client is polled again (:mod:`harness.offsets`).

The loop's rules, each visible where it is kept in :meth:`RetryingConsumer.run`:

1. a record is handled only when no earlier record of its partition is waiting, so the
   records of a partition are done with in order, and a stored offset never passes a
   record that is not done with;
2. before the client is polled (where rebalance callbacks run), every offset of a record
   done with is stored;
3. a revoked (or lost) partition forgets its waiting and queued records unstored: whoever
   owns it next gets them again from the committed offset; a partition this consumer paused
   is resumed before it is forgotten (librdkafka would keep it paused when it comes back).

>>> with RetryingConsumer("localhost:9092", "user-events") as consumer:  # doctest: +SKIP
...     consumer.install_signal_handlers()
...     stats = consumer.run(lambda value, message: print(value), idle_timeout_s=5)
"""

from __future__ import annotations

import logging
import random
import signal
import time
from collections import deque
from collections.abc import Mapping, Sequence
from types import TracebackType
from typing import Any, Final, Self

from confluent_kafka import Consumer, KafkaError, KafkaException, Message, TopicPartition

from harness.batches import BatchHandler
from harness.checkpoints import Checkpoint, CheckpointHook, no_checkpoint
from harness.consumer_config import (
    DEFAULT_CONSUMER_CONFIG,
    SEED_CONSUMER_CONFIG,
    check_poll_timeout,
    committed_offsets,
    is_true,
    merge_consumer_config,
    topic_list,
)
from harness.decode import decode_json_value
from harness.dlq_writer import DlqOptions, check_topics_exist, new_writer
from harness.errors import ConfigurationError
from harness.holds import Partition, PartitionHolds, partition_of
from harness.offsets import OffsetStore
from harness.recovery import Recovery
from harness.retry import RetryPolicy
from harness.stats import (
    DeadLetterHook,
    DlqWriteFailureHook,
    Handler,
    Hooks,
    RetryHook,
    RunStats,
)
from harness.stop_signal import DEFAULT_SIGNALS, StopSignal

__all__ = [
    "DEFAULT_CONSUMER_CONFIG",
    "SEED_CONSUMER_CONFIG",
    "Checkpoint",
    "DlqOptions",
    "Handler",
    "RetryingConsumer",
    "RunStats",
    "committed_offsets",
    "decode_json_value",
]

log = logging.getLogger(__name__)

#: Records asked of the client per poll.
BATCH_SIZE: Final = 500


class RetryingConsumer:
    """At-least-once JSON consumer with bounded retry and a dead-letter queue.

    ``config`` is merged over :data:`DEFAULT_CONSUMER_CONFIG` (``group_id`` sets
    ``group.id``); ``enable.auto.offset.store`` must stay off. With ``enable.auto.commit``
    off, stored offsets are committed synchronously after every polled batch instead.
    ``dlq`` says where dead letters go and how they are written (:class:`DlqOptions`; by
    default each topic ``t`` has its own ``t-dlq``, which must exist). A held partition is
    paused once ``backlog_limit`` records wait behind its failed one.
    """

    def __init__(
        self,
        bootstrap_servers: str,
        topics: str | Sequence[str],
        *,
        group_id: str | None = None,
        policy: RetryPolicy | None = None,
        dlq: DlqOptions | None = None,
        config: Mapping[str, Any] | None = None,
        poll_timeout_s: float = 0.1,
        backlog_limit: int = 1000,
        rng: random.Random | None = None,
    ) -> None:
        self.topics = topic_list(topics)
        merged = merge_consumer_config(bootstrap_servers, config, group_id)
        check_poll_timeout(poll_timeout_s, merged)
        self.bootstrap_servers = bootstrap_servers
        self.group_id = str(merged["group.id"])
        self.policy = policy or RetryPolicy()
        self.dlq = dlq or DlqOptions()
        self.config: dict[str, Any] = dict(merged)
        self._poll_timeout_s = poll_timeout_s
        self._rng = rng or random.Random()
        self._stop = StopSignal()
        self._closed = False
        # Records polled but not looked at yet (a run ended on max_messages mid-batch); the
        # client's position is past them, so they go first.
        self._carried: deque[Message] = deque()
        try:
            self._consumer = Consumer({**merged, "error_cb": self._on_client_error_cb})
        except KafkaException as exc:
            raise ConfigurationError(
                f"cannot create the consumer: {exc.args[0]}",
                hint="check the consumer config keys against librdkafka's CONFIGURATION.md",
            ) from exc
        self._holds = PartitionHolds(self._consumer, backlog_limit=backlog_limit)
        self._offsets = OffsetStore(
            self._consumer, auto_commit=is_true(merged.get("enable.auto.commit", True))
        )
        try:
            dlq_topics = [self.dlq.topic_for(t) for t in self.topics if not t.startswith("^")]
            check_topics_exist(
                self._consumer.list_topics, sorted(set(dlq_topics)), timeout_s=self.dlq.timeout_s
            )
            self._dlq = new_writer(
                bootstrap_servers,
                self.dlq,
                group_id=self.group_id,
                instance_id=merged.get("group.instance.id"),
            )
            self._recovery = Recovery(
                consumer=self._consumer,
                policy=self.policy,
                rng=self._rng,
                holds=self._holds,
                offsets=self._offsets,
                dlq=self.dlq,
                writer=self._dlq,
                group_id=self.group_id,
                stop=self.stop,
            )
            self._batches = BatchHandler(self._holds, self._offsets, self._recovery, self._carried)
            self._consumer.subscribe(
                self.topics,
                on_assign=self._on_assign,
                on_revoke=self._on_revoke,
                on_lost=self._on_lost,
            )
        except BaseException:
            self._consumer.close()
            raise

    # -- lifecycle -------------------------------------------------------------------------

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def stop(self, reason: str = "stop() called") -> None:
        """Ask :meth:`run` to return after the current record. Thread- and signal-safe.

        A record in the middle of a retry backoff is abandoned without storing its offset;
        it is redelivered after a restart. Stopping is final for this consumer.
        """
        self._stop.request(reason)
        self._batches.stopping = True  # read per record (cheaper than the event)

    @property
    def stopping(self) -> bool:
        """Whether :meth:`stop` was called (or a stop signal arrived)."""
        return self._stop.is_set()

    def install_signal_handlers(self, signals: Sequence[signal.Signals] = DEFAULT_SIGNALS) -> None:
        """Make SIGTERM and SIGINT (by default) call :meth:`stop`; :meth:`close` restores.

        A second SIGINT while already stopping raises ``KeyboardInterrupt`` (a handler that
        hangs can still be interrupted); offsets stored so far are committed on close.
        """
        self._stop.install_handlers(self.stop, signals)

    def close(self) -> None:
        """Commit stored offsets synchronously, close the consumer and the DLQ producer.

        Idempotent. Restores signal handlers installed by :meth:`install_signal_handlers`.
        Waiting and polled records not done with are dropped unstored: they are delivered
        again after a restart.
        """
        if self._closed:
            return
        self._closed = True
        left = len(self._holds) + self._holds.queued_records() + len(self._carried)
        if left:
            log.info("closing with %d polled record(s) not done with", left)
        self._holds.drop_all()
        self._carried.clear()
        try:
            self._offsets.flush()
            self._offsets.commit("final")
            self._consumer.close()
        finally:
            try:
                self._dlq.close()
            finally:
                self._stop.restore_handlers()

    def committed(self, timeout_s: float = 10.0) -> dict[tuple[str, int], int | None]:
        """Committed offsets of the currently assigned partitions (``None``: none yet)."""
        partitions = self._consumer.assignment()
        if not partitions:
            return {}
        result = self._consumer.committed(partitions, timeout=timeout_s)
        return {(tp.topic, tp.partition): (tp.offset if tp.offset >= 0 else None) for tp in result}

    @property
    def pauses(self) -> int:
        """How often a held partition was paused because its backlog was full (so far)."""
        return self._holds.pauses

    def assignment(self) -> list[tuple[str, int]]:
        """The partitions currently assigned to this member, sorted."""
        return sorted((tp.topic, tp.partition) for tp in self._consumer.assignment())

    # -- the loop --------------------------------------------------------------------------

    def run(
        self,
        handler: Handler,
        max_messages: int | None = None,
        idle_timeout_s: float | None = None,
        *,
        on_retry: RetryHook | None = None,
        on_dead_letter: DeadLetterHook | None = None,
        on_dlq_write_failure: DlqWriteFailureHook | None = None,
        on_checkpoint: CheckpointHook | None = None,
    ) -> RunStats:
        """Consume and handle records until stopped, or a limit is reached.

        Returns when :meth:`stop` was called (or a stop signal arrived), when
        ``max_messages`` records were finished (processed or dead-lettered), or when
        nothing was received or retried for ``idle_timeout_s``. Without limits it runs until
        stopped. Records waiting for a retry, and records polled but not handled yet, stay
        for the next run. ``on_checkpoint`` is called at each
        :class:`~harness.checkpoints.Checkpoint`.
        """
        if self._closed:
            raise ConfigurationError("run() on a closed RetryingConsumer")
        hooks = Hooks(
            on_retry, on_dead_letter, on_dlq_write_failure, on_checkpoint or no_checkpoint
        )
        self._recovery.hooks, self._offsets.checkpoint = hooks, hooks.on_checkpoint
        stats = self._recovery.stats = RunStats()
        last_work_at = time.monotonic()
        while True:
            if self._stop.is_set():
                stats.stop_reason = self._stop.reason
                stats.abandoned += len(self._holds.drop_all())
                log.info("stopping: %s", self._stop.reason)
                break
            if max_messages is not None and stats.finished >= max_messages:
                stats.stop_reason = f"max_messages={max_messages} reached"
                break
            # Rule 1: a record whose backoff is over goes before anything new of its partition,
            # and so do the records queued behind it once it is done with.
            if self._recovery.retry_due(handler) or self._batches.drain(handler, max_messages):
                last_work_at = time.monotonic()
                continue
            # Rule 2: everything done with is stored before the client is polled.
            self._offsets.flush()
            batch, polled = self._next_batch(max_messages)
            if batch:
                self._batches.handle(batch, polled, handler, max_messages)
                last_work_at = time.monotonic()
            elif idle_timeout_s is not None and time.monotonic() - last_work_at >= idle_timeout_s:
                stats.stop_reason = f"idle for {idle_timeout_s} s"
                break
        self._offsets.flush()
        return stats

    def _next_batch(self, max_messages: int | None) -> tuple[list[Message], bool]:
        """Records to handle next, and whether they came from the client just now."""
        if self._carried:
            batch = list(self._carried)
            self._carried.clear()
            return batch, False
        timeout_s = self._poll_timeout_s
        due_in_s = self._holds.next_due_in_s(time.monotonic())
        if due_in_s is not None:
            timeout_s = min(timeout_s, due_in_s)
        size = BATCH_SIZE
        if max_messages is not None:
            size = max(1, min(size, max_messages - self._recovery.stats.finished))
        batch = self._consumer.consume(size, timeout_s)
        self._recovery.stats.received += len(batch)
        return batch, True

    # -- Kafka plumbing --------------------------------------------------------------------

    def _forget(self, partitions: list[TopicPartition], why: str) -> set[Partition]:
        gone = {(tp.topic, tp.partition) for tp in partitions}
        log.info("%s: %s", why, ", ".join(f"{t}[{p}]" for t, p in sorted(gone)))
        self._offsets.forget(gone)
        self._recovery.stats.abandoned += len(
            self._holds.drop(gone)
        )  # rule 3; resumes what it paused
        if self._carried:
            kept = [m for m in self._carried if partition_of(m) not in gone]
            self._carried.clear()
            self._carried.extend(kept)
        return gone

    def _on_assign(self, consumer: Consumer, partitions: list[TopicPartition]) -> None:
        log.info("assigned: %s", ", ".join(f"{tp.topic}[{tp.partition}]" for tp in partitions))
        self._offsets.assign(partitions)
        # librdkafka keeps an application pause across a revoke and a re-assignment; no
        # partition this consumer gets is meant to be paused.
        if partitions:
            consumer.resume(partitions)

    def _on_revoke(self, consumer: Consumer, partitions: list[TopicPartition]) -> None:
        self._forget(partitions, "revoked")
        if not self._offsets.auto_commit:
            self._offsets.commit("revoke")

    def _on_lost(self, consumer: Consumer, partitions: list[TopicPartition]) -> None:
        self._forget(partitions, "lost (no commit possible)")

    def _on_client_error_cb(self, error: KafkaError) -> None:
        level = logging.DEBUG if error.code() == KafkaError._TRANSPORT else logging.WARNING
        log.log(level, "consumer client: %s", error.str())
