"""Handling the records of one polled batch, in order: a fast path and a careful one.

The fast path runs while nothing fails and nothing waits: no bookkeeping per record, and the
offsets of the whole batch are stored in one call from the client's positions. At the first
record it cannot simply handle (a failure, an undecodable value, a client error) it marks
the records before it done and hands the rest to the careful path, which marks each record
done and keeps the loop's first rule: a record whose partition holds a waiting record
queues behind it.
"""

from __future__ import annotations

import json
import logging
from collections import deque
from typing import Final

from confluent_kafka import KafkaError, Message

from harness.errors import ConsumerError
from harness.holds import PartitionHolds
from harness.offsets import OffsetStore
from harness.recovery import Recovery
from harness.stats import Handler

log = logging.getLogger(__name__)

#: A batch shorter than this means the client had no more records: the loop is not the
#: bottleneck, so it stores the offset after every record (a handler that then blocks or
#: a crash leaves every record before it stored). Full batches are stored once, before the
#: next poll: one store per partition instead of one per record.
EAGER_STORE_BELOW: Final = 100


def check_client_error(error: KafkaError) -> None:
    """A client error handed out in place of a record: fatal ones stop the consumer."""
    if error.fatal():
        raise ConsumerError(f"consumer hit a fatal error: {error.str()}")
    if error.code() != KafkaError._PARTITION_EOF:
        log.warning("consumer: %s", error.str())


class BatchHandler:
    """Hands each record of a batch to the handler, or to the recovery when it fails.

    ``carried`` takes the records the loop must handle before it polls again (the rest of a
    batch cut by ``max_messages``). ``stopping`` is set by the consumer's ``stop()``.
    """

    def __init__(
        self,
        holds: PartitionHolds,
        offsets: OffsetStore,
        recovery: Recovery,
        carried: deque[Message],
    ) -> None:
        self._holds = holds
        self._offsets = offsets
        self._recovery = recovery
        self._carried = carried
        self.stopping = False

    def handle(
        self, batch: list[Message], polled: bool, handler: Handler, max_messages: int | None
    ) -> None:
        """Handle the records of ``batch`` in order (``polled``: it came from the client now)."""
        if max_messages is not None:  # never handle more than may still finish
            room = max_messages - self._recovery.stats.finished
            if len(batch) > room:
                self._carried.extendleft(reversed(batch[room:]))
                batch, polled = batch[:room], False  # the client's position is past the rest
        if polled and not self._holds.held and len(batch) >= EAGER_STORE_BELOW:
            done, clean = self._fast(batch, handler)
            if clean:
                self._offsets.store_positions()
                return
            batch = batch[done:]
        self._careful(batch, handler)

    def drain(self, handler: Handler, max_messages: int | None) -> bool:
        """Handle the queues of holds whose waiting record is done with; ``False``: none.

        Records are taken from the front of the queue, in place: the first that fails waits
        in its turn with the rest still queued behind it (no record is queued twice, and a
        paused partition stays paused until its queue is empty).
        """
        draining = self._holds.draining()
        if not draining:
            return False
        stats, recovery = self._recovery.stats, self._recovery
        for hold in draining:
            queued, processed = hold.queued, 0
            try:
                while queued and hold.message is None and not self.stopping:
                    if max_messages is not None and stats.finished + processed >= max_messages:
                        return True
                    message = queued.popleft()
                    if hold.paused:
                        self._holds.ease(hold)
                    try:
                        value = json.loads(message.value().decode())  # type: ignore[union-attr]
                    except (AttributeError, ValueError):
                        recovery.undecodable(message, hold)
                        continue
                    try:
                        handler(value, message)
                    except Exception as failure:
                        hold.wait_on(message, value)
                        recovery.failed(message, value, failure, hold)
                        continue
                    self._offsets.done(message)
                    processed += 1
            finally:
                stats.processed += processed
            if hold.message is None and not queued and hold.partition in self._holds:
                self._holds.release(hold.partition)
        return True

    def _fast(self, batch: list[Message], handler: Handler) -> tuple[int, bool]:
        """The fast path, while nothing fails and nothing waits: no bookkeeping per record.

        When every record of a freshly polled batch was handled and nothing polled before
        it is waiting, the client's position of each partition (after the last record it
        handed out) is exactly the offset to store. Returns ``(len(batch), True)`` then.
        At the first record it cannot simply handle, it marks the records before it done
        and returns ``(n, False)``: the careful path goes on from record ``n`` (a failed
        handler call was passed to the recovery already, so ``n`` is past it).
        """
        loads, processed = json.loads, 0
        try:
            for message in batch:
                if self.stopping or message.error() is not None:
                    break
                try:
                    value = loads(message.value().decode())  # type: ignore[union-attr]
                except (AttributeError, ValueError):
                    break
                try:
                    handler(value, message)
                except Exception as failure:
                    index = batch.index(message)
                    self._offsets.done_all(batch[:index])  # before the recovery marks its own
                    self._recovery.failed(message, value, failure, None)
                    return index + 1, False
                processed += 1
            else:
                return len(batch), True
            index = batch.index(message)
            self._offsets.done_all(batch[:index])
            return index, False
        finally:
            self._recovery.stats.processed += processed

    def _careful(self, batch: list[Message], handler: Handler) -> None:
        """One record at a time, marking each done, holding back what waits (rule 1)."""
        stats = self._recovery.stats
        held, pending, recovery = self._holds.held, self._offsets.pending, self._recovery
        eager = len(batch) < EAGER_STORE_BELOW
        processed = 0
        try:
            for message in batch:
                if self.stopping:
                    return  # final: the rest is delivered again after a restart
                error = message.error()
                if error is not None:
                    stats.received -= 1
                    check_client_error(error)
                    continue
                partition = (message.topic(), message.partition())
                if held and partition in held:  # rule 1: it waits behind its partition's record
                    self._holds.queue(message, partition)
                    continue
                try:
                    value = json.loads(message.value().decode())  # type: ignore[union-attr]
                except (AttributeError, ValueError):  # None, not UTF-8, not JSON
                    recovery.undecodable(message)
                    continue
                try:
                    handler(value, message)
                except Exception as failure:
                    recovery.failed(message, value, failure, None)
                    continue
                pending[partition] = message  # type: ignore[index]
                processed += 1
                if eager:
                    self._offsets.flush()
        finally:
            stats.processed += processed
