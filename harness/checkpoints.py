"""Named points in the consumer's work on a record, for tracing and for crash tests.

:meth:`harness.consumer.RetryingConsumer.run` calls its ``on_checkpoint`` hook at each of
these points, in the loop's thread, before it goes on. The crash-point tests SIGKILL the
consumer process from that hook to prove that a crash at any of them loses nothing.
"""

from __future__ import annotations

from collections.abc import Callable
from enum import StrEnum

from confluent_kafka import Message


class Checkpoint(StrEnum):
    """Where the consumer is; the value is the name the crash tests use."""

    #: A handler call raised; nothing is decided yet (retry or DLQ).
    HANDLER_FAILED = "handler-failed"
    #: A retry backoff began for the record (its partition is held).
    BACKOFF = "backoff"
    #: The DLQ write of the record is about to be sent (transactional: committed).
    DLQ_WRITE = "dlq-write"
    #: The DLQ copy was acknowledged (or its transaction committed); its offset is not
    #: stored yet.
    DLQ_WRITTEN = "dlq-written"
    #: Offsets of handled records were stored in the client; not committed yet.
    STORED = "stored"
    #: A synchronous commit of the stored offsets is about to be sent.
    COMMIT = "commit"


#: ``on_checkpoint(point, message)``; ``message`` is ``None`` for batch-wide points
#: (:attr:`Checkpoint.STORED`, :attr:`Checkpoint.COMMIT`).
CheckpointHook = Callable[[Checkpoint, Message | None], object]


def no_checkpoint(point: Checkpoint, message: Message | None) -> None:
    """The hook used when none is given."""
