"""A queue-style consumer on a Kafka share group (KIP-932), the broker keeping the DLQ.

:class:`ShareGroupConsumer` is the share-group twin of
:class:`~harness.consumer.RetryingConsumer`: the same handler (``handler(value, message)``),
the same hooks, comparable statistics. What differs is who keeps the state. A share group
hands each record to one member at a time with a *delivery count*, and the member tells the
broker what became of it, explicitly (``share.acknowledgement.mode=explicit``):

* handler returned -> ``ACCEPT``: done for good (``processed``);
* transient error (:meth:`RetryPolicy.is_retryable <harness.retry.RetryPolicy.is_retryable>`)
  and the delivery count below the limit -> ``RELEASE``: the broker redelivers it, possibly
  to another member, with the count raised (``retries``);
* undecodable value, a non-retryable error, or a transient one on the last allowed delivery
  -> ``REJECT``: the broker archives the record and, with KIP-1191's DLQ configured, writes
  the dead letter itself with ``__dlq.errors.*`` headers (``dlq``).

The attempt budget is the group's ``share.delivery.count.limit`` (read from the broker
unless given), not the policy's ``max_attempts``; the broker redelivers a released record at
once, without backoff. An acknowledgement counts only once the broker confirmed it
(``commit_sync``, after every record by default): a record whose acknowledgement failed,
whose lock expired or whose consumer died is redelivered (at-least-once). Unlike kafkarig's
own DLQ, the broker's DLQ write is best effort: when it fails the record is archived anyway.
"""

from __future__ import annotations

import logging
import signal
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from types import TracebackType
from typing import Any, Final, Literal, Self

from confluent_kafka import AcknowledgeType, KafkaError, KafkaException, Message, ShareConsumer
from confluent_kafka.admin import AdminClient

from harness.decode import decode_json_value
from harness.errors import ConfigurationError, ConsumerError, DecodeError
from harness.retry import RetryPolicy
from harness.share_admin import delivery_count_limit as read_delivery_count_limit
from harness.stats import DeadLetterHook, Handler, RetryHook
from harness.stop_signal import DEFAULT_SIGNALS, StopSignal

log = logging.getLogger(__name__)

#: Client settings that belong to the broker for share groups (librdkafka refuses them).
_BROKER_SIDE: Final = (
    "session.timeout.ms",
    "heartbeat.interval.ms",
    "enable.auto.commit",
    "auto.offset.reset",
    "enable.auto.offset.store",
    "group.instance.id",
)
#: Prefixes of the settings an AdminClient on the same cluster needs (security, identity).
_ADMIN_PREFIXES: Final = ("bootstrap.", "security.", "ssl.", "sasl.", "client.id")

AckCommit = Literal["record", "batch"]
Outcome = Literal["accept", "release", "reject", "abandon"]


@dataclass
class ShareRunStats:
    """What one :meth:`ShareGroupConsumer.run` did; the fields match ``RunStats``.

    ``processed``, ``dlq`` (rejected, so dead-lettered by the broker) and ``retries``
    (released for redelivery) count acknowledgements the broker confirmed. ``redeliveries``
    counts records that arrived with a delivery count above 1 (released, timed out, or left
    by a dead member); ``abandoned`` counts records released unhandled because the consumer
    stopped; ``ack_failures`` acknowledgements the broker did not confirm (redelivered).
    """

    processed: int = 0
    dlq: int = 0
    retries: int = 0
    received: int = 0
    redeliveries: int = 0
    abandoned: int = 0
    ack_failures: int = 0
    stop_reason: str = ""
    dlq_sources: list[tuple[str, int, int]] = field(default_factory=list)

    @property
    def finished(self) -> int:
        """Records done with for good: processed or dead-lettered."""
        return self.processed + self.dlq


@dataclass(frozen=True)
class _Pending:
    message: Message
    outcome: Outcome
    error: BaseException | None
    delivery_count: int


def _where(message: Message) -> str:
    return f"{message.topic()}[{message.partition()}]@{message.offset()}"


class ShareGroupConsumer:
    """Queue-style JSON consumer on share group ``group_id`` with explicit acknowledgement.

    ``config`` is merged into the client settings (``share.acknowledgement.mode`` is always
    ``explicit``); group behaviour such as the session timeout or ``share.auto.offset.reset``
    are group configs (see :mod:`harness.share_admin`). ``delivery_count_limit=None`` reads the
    limit in force from the broker. ``ack_commit="record"`` confirms every acknowledgement
    before the next record (fewest redeliveries after a crash); ``"batch"`` once per poll.
    """

    def __init__(
        self,
        bootstrap_servers: str,
        topics: str | Sequence[str],
        *,
        group_id: str,
        policy: RetryPolicy | None = None,
        delivery_count_limit: int | None = None,
        config: Mapping[str, Any] | None = None,
        ack_commit: AckCommit = "record",
        poll_timeout_s: float = 0.1,
        commit_timeout_s: float = 10.0,
    ) -> None:
        self.topics = [topics] if isinstance(topics, str) else list(topics)
        if not self.topics or not all(isinstance(t, str) and t for t in self.topics):
            raise ConfigurationError(f"topics must be one or more topic names, got {topics!r}")
        user = dict(config or {})
        refused = sorted(key for key in user if key in _BROKER_SIDE)
        if refused:
            raise ConfigurationError(
                f"{', '.join(refused)} cannot be set on a share consumer",
                hint="share groups take these from group configs (share.session.timeout.ms, "
                "share.auto.offset.reset ...); set them with harness.share_admin",
            )
        if ack_commit not in ("record", "batch"):
            raise ConfigurationError(f"ack_commit must be 'record' or 'batch', got {ack_commit!r}")
        if poll_timeout_s <= 0 or commit_timeout_s <= 0:
            raise ConfigurationError("poll_timeout_s and commit_timeout_s must be > 0")
        self.bootstrap_servers = bootstrap_servers
        self.group_id = group_id
        self.policy = policy or RetryPolicy()
        self.config: Mapping[str, Any] = {
            **user,
            "bootstrap.servers": bootstrap_servers,
            "group.id": group_id,
            "share.acknowledgement.mode": "explicit",
        }
        if delivery_count_limit is None:
            admin_config = {k: v for k, v in self.config.items() if k.startswith(_ADMIN_PREFIXES)}
            delivery_count_limit = read_delivery_count_limit(AdminClient(admin_config), group_id)
        if delivery_count_limit < 1:
            raise ConfigurationError(
                f"delivery_count_limit must be >= 1, got {delivery_count_limit}"
            )
        self.delivery_count_limit = delivery_count_limit
        self._ack_commit = ack_commit
        self._poll_timeout_s = poll_timeout_s
        self._commit_timeout_s = commit_timeout_s
        self._stop = StopSignal()
        self._closed = False
        try:
            self._consumer = ShareConsumer(dict(self.config))
            self._consumer.subscribe(self.topics)
        except (KafkaException, ValueError) as exc:
            raise ConfigurationError(
                f"cannot create the share consumer: {exc}",
                hint="check the settings against librdkafka's CONFIGURATION.md",
            ) from exc

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
        """Ask :meth:`run` to return after the current record. Thread- and signal-safe."""
        self._stop.request(reason)

    def install_signal_handlers(self, signals: Sequence[signal.Signals] = DEFAULT_SIGNALS) -> None:
        """Make SIGTERM and SIGINT call :meth:`stop`; :meth:`close` restores the old ones.

        A second SIGINT while already stopping raises ``KeyboardInterrupt``.
        """
        self._stop.install_handlers(self.stop, signals)

    def close(self) -> None:
        """Send pending acknowledgements, leave the group and close. Idempotent."""
        if self._closed:
            return
        self._closed = True
        try:
            self._consumer.close()
        except KafkaException as exc:
            log.warning("share consumer close: %s", exc)
        finally:
            self._stop.restore_handlers()

    # -- the loop --------------------------------------------------------------------------

    def run(
        self,
        handler: Handler,
        max_messages: int | None = None,
        idle_timeout_s: float | None = None,
        *,
        on_retry: RetryHook | None = None,
        on_dead_letter: DeadLetterHook | None = None,
    ) -> ShareRunStats:
        """Consume until stopped, ``max_messages`` finished, or ``idle_timeout_s`` without one.

        ``on_retry(message, delivery_count, 0.0, error)`` follows a confirmed RELEASE,
        ``on_dead_letter(message, error, delivery_count)`` a confirmed REJECT.
        """
        if self._closed:
            raise ConfigurationError("run() on a closed ShareGroupConsumer")
        stats = ShareRunStats()
        hooks = (on_retry, on_dead_letter)
        last_record_at = time.monotonic()
        while True:
            if self._stop.is_set():
                stats.stop_reason = self._stop.reason
                break
            if max_messages is not None and stats.finished >= max_messages:
                stats.stop_reason = f"max_messages={max_messages} reached"
                break
            batch = self._poll()
            if not batch:
                if (
                    idle_timeout_s is not None
                    and time.monotonic() - last_record_at >= idle_timeout_s
                ):
                    stats.stop_reason = f"idle for {idle_timeout_s} s"
                    break
                continue
            last_record_at = time.monotonic()
            pending: list[_Pending] = []
            for message in batch:
                unconfirmed = sum(1 for p in pending if p.outcome in ("accept", "reject"))
                if self._stop.is_set() or (
                    max_messages is not None and stats.finished + unconfirmed >= max_messages
                ):
                    pending.append(self._acknowledge(message, "abandon", None))
                    continue
                stats.received += 1
                pending.append(self._handle(message, handler, stats))
                if self._ack_commit == "record":
                    self._commit(pending, stats, hooks)
                    pending = []
            self._commit(pending, stats, hooks)
        return stats

    def _poll(self) -> list[Message]:
        try:
            batch = self._consumer.poll(self._poll_timeout_s)
        except KafkaException as exc:
            raise _poll_failure(exc.args[0], self.bootstrap_servers) from exc
        messages = []
        for message in batch:
            error = message.error()
            if error is None:
                messages.append(message)
            elif error.fatal():
                raise _poll_failure(error, self.bootstrap_servers)
            elif error.code() != KafkaError._PARTITION_EOF:
                log.warning("share consumer: %s", error.str())
        return messages

    def _handle(self, message: Message, handler: Handler, stats: ShareRunStats) -> _Pending:
        count = message.delivery_count() or 1
        if count > 1:
            stats.redeliveries += 1
        try:
            value = decode_json_value(message.value())
            handler(value, message)
        except DecodeError as exc:
            return self._acknowledge(message, "reject", exc, count)
        except Exception as exc:
            retry = self.policy.is_retryable(exc) and count < self.delivery_count_limit
            log.info(
                "%s delivery %d of %d failed (%s: %s); %s",
                _where(message),
                count,
                self.delivery_count_limit,
                type(exc).__name__,
                exc,
                "releasing it for redelivery" if retry else "rejecting it",
            )
            return self._acknowledge(message, "release" if retry else "reject", exc, count)
        return self._acknowledge(message, "accept", None, count)

    def _acknowledge(
        self, message: Message, outcome: Outcome, error: BaseException | None, count: int = 1
    ) -> _Pending:
        ack_type = {
            "accept": AcknowledgeType.ACCEPT,
            "reject": AcknowledgeType.REJECT,
        }.get(outcome, AcknowledgeType.RELEASE)
        self._consumer.acknowledge(message, ack_type)
        return _Pending(message, outcome, error, count)

    def _commit(
        self,
        pending: list[_Pending],
        stats: ShareRunStats,
        hooks: tuple[RetryHook | None, DeadLetterHook | None],
    ) -> None:
        if not pending:
            return
        try:
            results = self._consumer.commit_sync(self._commit_timeout_s)
        except KafkaException as exc:
            log.warning("acknowledgement commit failed: %s (records will be redelivered)", exc)
            stats.ack_failures += len(pending)
            return
        failed: dict[tuple[str | None, int | None], KafkaException] = {
            (tp.topic, tp.partition): err for tp, err in results.items() if err is not None
        }
        on_retry, on_dead_letter = hooks
        for item in pending:
            message = item.message
            error = failed.get((message.topic(), message.partition()))
            if error is not None:
                log.warning("%s: %s not confirmed (%s)", _where(message), item.outcome, error)
                stats.ack_failures += 1
                continue
            if item.outcome == "accept":
                stats.processed += 1
            elif item.outcome == "abandon":
                stats.abandoned += 1
            elif item.outcome == "release":
                stats.retries += 1
                if on_retry is not None and item.error is not None:
                    on_retry(message, item.delivery_count, 0.0, item.error)
            else:
                stats.dlq += 1
                stats.dlq_sources.append(
                    (message.topic() or "", message.partition() or 0, message.offset() or 0)
                )
                if on_dead_letter is not None and item.error is not None:
                    on_dead_letter(message, item.error, item.delivery_count)


def _poll_failure(error: KafkaError, bootstrap: str) -> ConsumerError:
    text = error.str()
    if "API version not supported" in text or error.code() == KafkaError.UNSUPPORTED_VERSION:
        return ConsumerError(
            f"the cluster at {bootstrap} has no share groups: {text}",
            hint="share groups need Kafka 4.2+ with the feature share.version >= 1 (2 for the "
            "broker DLQ): kafka-features --bootstrap-server HOST:PORT upgrade --feature "
            "share.version=2",
        )
    return ConsumerError(f"share consumer hit a fatal error: {text}")
