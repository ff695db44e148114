"""What happens to a record whose handler failed, or that cannot be decoded.

A retryable failure holds the record's partition for the backoff the policy gives
(:mod:`harness.holds`); when it is due the loop calls :meth:`Recovery.retry_due`. A record
that failed for good (attempts exhausted, a non-retryable error, an undecodable value) goes
to the DLQ; a failed DLQ write holds the partition in the same way and is tried again after
its own backoff, up to :attr:`~harness.dlq_writer.DlqOptions.retry`, after which the consumer
stops with :class:`~harness.errors.DlqWriteError`. The offset after a record is stored only
once it was handled or its DLQ copy acknowledged.
"""

from __future__ import annotations

import logging
import random
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from confluent_kafka import Consumer, Message

from harness.checkpoints import Checkpoint
from harness.decode import decode_json_value
from harness.dlq import RecordMeta, dlq_headers
from harness.dlq_writer import DeadLetter, DlqOptions, DlqWriter
from harness.errors import DecodeError, DeliveryError, DlqWriteError
from harness.holds import Hold, PartitionHolds
from harness.offsets import OffsetStore
from harness.retry import RetryPolicy
from harness.stats import Handler, Hooks, RunStats

log = logging.getLogger(__name__)


def where(message: Message) -> str:
    """``topic[partition]@offset`` of a record, for logs and errors."""
    return f"{message.topic()}[{message.partition()}]@{message.offset()}"


class Recovery:
    """Retries and dead letters for one consumer; the loop sets ``stats`` and ``hooks`` per run."""

    def __init__(
        self,
        *,
        consumer: Consumer,
        policy: RetryPolicy,
        rng: random.Random,
        holds: PartitionHolds,
        offsets: OffsetStore,
        dlq: DlqOptions,
        writer: DlqWriter,
        group_id: str,
        stop: Callable[[str], None],
    ) -> None:
        self._consumer = consumer
        self._policy = policy
        self._rng = rng
        self._holds = holds
        self._offsets = offsets
        self._dlq = dlq
        self._writer = writer
        self._group_id = group_id
        self._stop = stop
        self.stats = RunStats()
        self.hooks = Hooks()

    def undecodable(self, message: Message, hold: Hold | None = None) -> None:
        """The value is not UTF-8 JSON: to the DLQ at once (decoding was the attempt).

        ``hold``: the draining hold ``message`` was queued in (it waits on it now).
        """
        try:
            decode_json_value(message.value())
        except DecodeError as error:
            if hold is not None:
                hold.wait_on(message, None)
            self._dead_letter(message, error, 1, hold)
            return
        raise AssertionError(f"{where(message)} decodes after all")  # a bug of the fast path

    def failed(self, message: Message, value: Any, error: Exception, hold: Hold | None) -> None:
        """A handler call raised: hold the partition for a retry, or dead-letter the record.

        ``hold``: the hold that waits on ``message`` (``None``: the partition is not held).
        """
        self.hooks.on_checkpoint(Checkpoint.HANDLER_FAILED, message)
        attempts = 1 if hold is None else hold.attempts
        if not self._policy.should_retry(error, attempts):
            self._dead_letter(message, error, attempts, hold)
            return
        backoff_ms = self._policy.backoff_ms(attempts, self._rng)
        self.stats.retries += 1
        log.info(
            "%s attempt %d failed (%s: %s); retrying in %.0f ms",
            where(message),
            attempts,
            type(error).__name__,
            error,
            backoff_ms,
        )
        if self.hooks.on_retry is not None:
            self.hooks.on_retry(message, attempts, backoff_ms, error)
        due_at = time.monotonic() + backoff_ms / 1000
        if hold is None:
            self._holds.hold(Hold(message, value, attempts, error, due_at))
        else:
            hold.error, hold.due_at = error, due_at
        self.hooks.on_checkpoint(Checkpoint.BACKOFF, message)

    def retry_due(self, handler: Handler) -> bool:
        """Try again the record whose backoff is over, if any; ``False`` when none is due."""
        hold = self._holds.due(time.monotonic())
        if hold is None:
            return False
        message = hold.message
        assert message is not None and hold.error is not None  # due() returns waiting holds
        if hold.letter is not None:
            self._dead_letter(message, hold.error, hold.attempts, hold)
            return True
        hold.attempts += 1
        try:
            handler(hold.value, message)
        except Exception as error:
            self.failed(message, hold.value, error, hold)
            return True
        self._offsets.done(message)
        self.stats.processed += 1
        self._release(hold)
        return True

    def _release(self, hold: Hold) -> None:
        """The waiting record is done with: drain the queue behind it, or end the hold."""
        hold.done_waiting()
        if not hold.queued:
            self._holds.release(hold.partition)

    def _dead_letter(
        self, message: Message, error: BaseException, attempts: int, hold: Hold | None
    ) -> None:
        """Write ``message`` to the DLQ; on success store its offset, else hold and retry."""
        letter = hold.letter if hold is not None else None
        if letter is None:
            meta = RecordMeta.from_message(message)
            headers = dlq_headers(meta, error, attempts, self._group_id, datetime.now(UTC))
            letter = DeadLetter.of(message, self._dlq.topic_for(meta.topic), headers)
        self.hooks.on_checkpoint(Checkpoint.DLQ_WRITE, message)
        try:
            if self._writer.exactly_once:
                # No commit of this partition may be pending or in flight when the
                # transaction commits the offset after the record, or it could land later
                # and move the committed offset back before the dead letter.
                self._offsets.flush()
                if not self._offsets.commit("before a DLQ transaction"):
                    raise DeliveryError("the consumer's offsets could not be committed first")
            self._writer.write(letter, self._consumer.consumer_group_metadata)
        except DeliveryError as failure:
            self._dlq_write_failed(message, error, attempts, hold, letter, failure)
            return
        self.hooks.on_checkpoint(Checkpoint.DLQ_WRITTEN, message)
        self._offsets.done(message)  # transactional: committed already; stored so none goes back
        self.stats.dlq += 1
        self.stats.dlq_sources.append(letter.source)
        log.info(
            "%s dead-lettered to %r after %d attempt(s)", where(message), letter.topic, attempts
        )
        if self.hooks.on_dead_letter is not None:
            self.hooks.on_dead_letter(message, error, attempts)
        if hold is not None:
            self._release(hold)

    def _dlq_write_failed(
        self,
        message: Message,
        error: BaseException,
        attempts: int,
        hold: Hold | None,
        letter: DeadLetter,
        failure: DeliveryError,
    ) -> None:
        failures = 1 if hold is None else hold.dlq_failures + 1
        self.stats.dlq_write_failures += 1
        log.warning(
            "%s: DLQ write to %r failed (%d): %s; offset not stored",
            where(message),
            letter.topic,
            failures,
            failure.error or failure.message,
        )
        if self.hooks.on_dlq_write_failure is not None:
            self.hooks.on_dlq_write_failure(message, failures, failure)
        if failures >= self._dlq.retry.max_attempts:
            # Final: the client's position is past this record, so a later run would store
            # offsets past it and lose it. It is redelivered after a restart.
            self._stop(f"DLQ write failed {failures} time(s)")
            raise DlqWriteError(
                f"{where(message)}: DLQ write to {letter.topic!r} failed {failures} time(s), "
                f"last: {failure.error or failure.message}; its offset was not committed",
                hint="make the DLQ topic writable and restart the consumer; "
                "the record will be redelivered",
            ) from failure
        due_at = time.monotonic() + self._dlq.retry.backoff_ms(failures, self._rng) / 1000
        if hold is None:
            hold = Hold(message, None, attempts, error, due_at)
            self._holds.hold(hold)
        hold.letter, hold.dlq_failures, hold.due_at = letter, failures, due_at
