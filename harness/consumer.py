"""An at-least-once consumer loop with bounded retry and a dead-letter queue.

:class:`RetryingConsumer` keeps the seed's consumer settings (group ``analytics-group``,
``auto.offset.reset=earliest``, auto-commit on) but never lets the auto-commit run ahead of
the work: ``enable.auto.offset.store`` is off and an offset is *stored* (and so later
committed by the auto-commit timer, on rebalance and on close) only after

* the handler returned, or
* the record's DLQ copy was acknowledged by the broker (synchronous produce + flush through
  the consumer's own idempotent producer).

A failed DLQ write stores nothing: the record stays the head of its partition and the write
is retried after a backoff, until it succeeds, the consumer is stopped (the record is then
redelivered after a restart), or ``dlq_max_attempts`` is exhausted
(:class:`~harness.errors.DlqWriteError`, nothing stored, and the consumer is stopped for good:
restart it and the record is redelivered).

Every wait (a retry backoff, a DLQ write backoff) pauses the assigned partitions and keeps
calling ``poll()`` in slices of at most ``poll_timeout_s``: the group session stays alive and
``max.poll.interval.ms`` is never exceeded, however long the backoff. A record that still
arrives during a wait (from a partition assigned meanwhile) is kept in order in a backlog and
handled after the current one; the backlog outlives :meth:`RetryingConsumer.run` (the client's
position is already past those records) and is handled first by the next run. A record whose
partition is revoked at any point during its wait is abandoned unstored: it is redelivered
from the committed offset, to whichever member owns the partition then.

>>> with RetryingConsumer("localhost:9092", "user-events") as consumer:  # doctest: +SKIP
...     consumer.install_signal_handlers()
...     stats = consumer.run(lambda value, message: print(value), idle_timeout_s=5)
"""

from __future__ import annotations

import contextlib
import json
import logging
import random
import signal
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from types import FrameType, TracebackType
from typing import Any, Final, Self

from confluent_kafka import Consumer, KafkaError, KafkaException, Message, TopicPartition

from harness.dlq import RecordMeta, dlq_headers, dlq_topic_for
from harness.errors import (
    ConfigurationError,
    ConsumerError,
    DecodeError,
    DeliveryError,
    DlqWriteError,
)
from harness.producer import JsonProducer
from harness.retry import RetryPolicy

log = logging.getLogger(__name__)

#: The seed's consumer settings, verbatim (kafka-python names translated). Auto-commit of
#: *positions*: a record counts as consumed once polled, before it is processed. Only for
#: demonstrating what kafkarig does not do.
SEED_CONSUMER_CONFIG: Final[Mapping[str, Any]] = {
    "group.id": "analytics-group",
    "auto.offset.reset": "earliest",
    "enable.auto.commit": True,
}

#: The defaults of :class:`RetryingConsumer`: the seed's, with explicit offset stores.
DEFAULT_CONSUMER_CONFIG: Final[Mapping[str, Any]] = {
    **SEED_CONSUMER_CONFIG,
    "enable.auto.offset.store": False,
}

#: A handler gets the decoded JSON value and the raw ``confluent_kafka.Message``. Returning
#: means success; raising means failure (see :class:`~harness.retry.RetryPolicy`).
Handler = Callable[[Any, Message], object]
#: Called before each retry backoff: (message, failed attempt number, backoff ms, error).
RetryHook = Callable[[Message, int, float, BaseException], object]
#: Called after a record's DLQ copy was acknowledged: (message, error, attempts).
DeadLetterHook = Callable[[Message, BaseException, int], object]
"""Called after a DLQ write failed: (message, failed writes so far, the delivery error)."""
DlqWriteFailureHook = Callable[[Message, int, BaseException], object]


@dataclass(frozen=True)
class _Hooks:
    on_retry: RetryHook | None = None
    on_dead_letter: DeadLetterHook | None = None
    on_dlq_write_failure: DlqWriteFailureHook | None = None


@dataclass
class RunStats:
    """What one :meth:`RetryingConsumer.run` did.

    ``processed`` counts handler successes, ``dlq`` records dead-lettered (both had their
    offsets stored); ``retries`` counts handler re-attempts; ``abandoned`` counts records
    left unstored because the consumer was stopped (or lost the partition) mid-backoff.
    """

    processed: int = 0
    dlq: int = 0
    retries: int = 0
    dlq_write_failures: int = 0
    received: int = 0
    abandoned: int = 0
    stop_reason: str = ""
    dlq_sources: list[tuple[str, int, int]] = field(default_factory=list)

    @property
    def finished(self) -> int:
        """Records done with for good: processed or dead-lettered."""
        return self.processed + self.dlq


def decode_json_value(value: bytes | None) -> Any:
    """Decode a record value as UTF-8 JSON, or raise :class:`~harness.errors.DecodeError`."""
    if value is None:
        raise DecodeError(
            "record has no value (a tombstone); expected UTF-8 JSON",
            hint="producers must send a JSON value",
        )
    try:
        text = value.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise DecodeError(
            f"record value is not UTF-8: {exc.reason} at byte {exc.start}; "
            f"first bytes {value[:40]!r}"
        ) from exc
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise DecodeError(
            f"record value is not JSON: {exc.msg} at position {exc.pos}; first bytes {value[:40]!r}"
        ) from exc


def committed_offsets(
    bootstrap_servers: str,
    group_id: str,
    topic: str,
    *,
    timeout_s: float = 10.0,
    config: Mapping[str, Any] | None = None,
) -> dict[int, int | None]:
    """The group's committed offset per partition of ``topic`` (``None``: nothing committed).

    Uses a throw-away client that never joins the group, so it disturbs no member.
    Transient errors (e.g. the group coordinator still loading) are retried until
    ``timeout_s``.
    """
    client = Consumer(
        {
            **(config or {}),
            "bootstrap.servers": bootstrap_servers,
            "group.id": group_id,
            "enable.auto.commit": False,
        }
    )
    deadline = time.monotonic() + timeout_s
    try:
        metadata = client.list_topics(topic, timeout=timeout_s)
        topic_metadata = metadata.topics.get(topic)
        if topic_metadata is None or topic_metadata.error is not None:
            why = "absent" if topic_metadata is None else topic_metadata.error.str()
            raise ConsumerError(f"cannot read committed offsets: topic {topic!r} is {why}")
        partitions = [TopicPartition(topic, p) for p in sorted(topic_metadata.partitions)]
        while True:
            try:
                committed = client.committed(
                    partitions, timeout=max(0.1, deadline - time.monotonic())
                )
                break
            except KafkaException:
                if time.monotonic() + 0.2 >= deadline:
                    raise
                time.sleep(0.2)
        return {tp.partition: (tp.offset if tp.offset >= 0 else None) for tp in committed}
    except KafkaException as exc:
        raise ConsumerError(
            f"cannot read committed offsets of group {group_id!r} on {topic!r}: {exc.args[0]}",
            hint=f"is the broker at {bootstrap_servers} reachable?",
        ) from exc
    finally:
        client.close()


def _as_list(topics: str | Sequence[str]) -> list[str]:
    items = [topics] if isinstance(topics, str) else list(topics)
    if not items or not all(isinstance(t, str) and t for t in items):
        raise ConfigurationError(f"topics must be one or more topic names, got {topics!r}")
    return items


def _positions(partitions: Iterable[TopicPartition]) -> set[tuple[str, int]]:
    return {(tp.topic, tp.partition) for tp in partitions}


class RetryingConsumer:
    """At-least-once JSON consumer with bounded retry and a dead-letter queue.

    ``config`` is merged over :data:`DEFAULT_CONSUMER_CONFIG` (``group_id`` sets
    ``group.id``); ``enable.auto.offset.store`` must stay off. With ``enable.auto.commit``
    off, stored offsets are committed synchronously after every record instead.

    ``dlq_topic`` is the DLQ for every source topic; by default each topic ``t`` has its own
    ``t-dlq``. The DLQ producer is idempotent with ``acks=all``; one DLQ write may take at
    most ``dlq_timeout_s`` (its ``message.timeout.ms``) before it counts as failed.
    ``dlq_max_attempts=None`` retries a failing DLQ write until it succeeds or the consumer
    is stopped; a number raises :class:`~harness.errors.DlqWriteError` after that many.
    """

    def __init__(
        self,
        bootstrap_servers: str,
        topics: str | Sequence[str],
        *,
        group_id: str | None = None,
        policy: RetryPolicy | None = None,
        dlq_topic: str | None = None,
        config: Mapping[str, Any] | None = None,
        dlq_producer_config: Mapping[str, Any] | None = None,
        dlq_timeout_s: float = 10.0,
        dlq_max_attempts: int | None = None,
        poll_timeout_s: float = 0.1,
        rng: random.Random | None = None,
    ) -> None:
        self.topics = _as_list(topics)
        user_config = dict(config or {})
        if group_id is not None:
            if user_config.get("group.id", group_id) != group_id:
                raise ConfigurationError(
                    f"group_id={group_id!r} contradicts config group.id="
                    f"{user_config['group.id']!r}",
                    hint="set the group in one place",
                )
            user_config["group.id"] = group_id
        merged: dict[str, Any] = {
            **DEFAULT_CONSUMER_CONFIG,
            **user_config,
            "bootstrap.servers": bootstrap_servers,
        }
        if str(merged.get("enable.auto.offset.store")).lower() not in ("false", "0"):
            raise ConfigurationError(
                "enable.auto.offset.store must be false: offsets are stored only after a "
                "record was handled or dead-lettered",
                hint="drop enable.auto.offset.store from the consumer config",
            )
        max_poll_interval_ms = float(merged.get("max.poll.interval.ms", 300_000))
        if not 0 < poll_timeout_s * 1000 <= max_poll_interval_ms / 10:
            raise ConfigurationError(
                f"poll_timeout_s={poll_timeout_s} must be > 0 and at most a tenth of "
                f"max.poll.interval.ms ({max_poll_interval_ms:.0f} ms)"
            )
        if dlq_max_attempts is not None and dlq_max_attempts < 1:
            raise ConfigurationError(f"dlq_max_attempts must be >= 1, got {dlq_max_attempts}")
        if dlq_timeout_s <= 0:
            raise ConfigurationError(f"dlq_timeout_s must be > 0, got {dlq_timeout_s}")

        self.bootstrap_servers = bootstrap_servers
        self.group_id = str(merged["group.id"])
        self.policy = policy or RetryPolicy()
        self.dlq_topic = dlq_topic
        self.config: Mapping[str, Any] = dict(merged)
        self._auto_commit = str(merged.get("enable.auto.commit", True)).lower() in ("true", "1")
        self._dlq_max_attempts = dlq_max_attempts
        self._dlq_timeout_s = dlq_timeout_s
        self._dlq_config: dict[str, Any] = {
            **(dlq_producer_config or {}),
            "message.timeout.ms": int(dlq_timeout_s * 1000),
        }
        self._poll_timeout_s = poll_timeout_s
        self._rng = rng or random.Random()
        self._stop = threading.Event()
        self._stop_reason = ""
        # Records polled during a wait and not handled yet; the client's position is past
        # them, so they are kept until handled, their partition is revoked, or close().
        self._backlog: deque[Message] = deque()
        # Partitions revoked since the current wait began (filled by _on_revoke).
        self._revoked_during_wait: set[tuple[str, int]] = set()
        self._previous_handlers: dict[int, Any] = {}
        self._closed = False

        self._dlq_producer = self._new_dlq_producer()
        try:
            self._consumer = Consumer({**merged, "error_cb": self._on_client_error_cb})
            self._consumer.subscribe(
                self.topics, on_assign=self._on_assign, on_revoke=self._on_revoke
            )
        except KafkaException as exc:
            self._dlq_producer.close(timeout_s=1.0)
            raise ConfigurationError(
                f"cannot create the consumer: {exc.args[0]}",
                hint="check the consumer config keys against librdkafka's CONFIGURATION.md",
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
        """Ask :meth:`run` to return after the current record. Thread- and signal-safe.

        A record in the middle of a retry backoff is abandoned without storing its offset;
        it is redelivered after a restart. Stopping is final for this consumer.
        """
        if not self._stop.is_set():
            self._stop_reason = reason
        self._stop.set()

    @property
    def stopping(self) -> bool:
        """Whether :meth:`stop` was called (or a stop signal arrived)."""
        return self._stop.is_set()

    def install_signal_handlers(
        self, signals: Sequence[signal.Signals] = (signal.SIGTERM, signal.SIGINT)
    ) -> None:
        """Make SIGTERM and SIGINT (by default) call :meth:`stop`; :meth:`close` restores.

        A second SIGINT while already stopping raises ``KeyboardInterrupt`` (a handler that
        hangs can still be interrupted); offsets stored so far are committed on close.
        """

        def on_signal(signum: int, frame: FrameType | None) -> None:
            if signum == signal.SIGINT and self._stop.is_set():
                raise KeyboardInterrupt
            self.stop(f"signal {signal.Signals(signum).name}")

        try:
            for sig in signals:
                previous = signal.signal(sig, on_signal)
                self._previous_handlers.setdefault(int(sig), previous)
        except ValueError as exc:
            raise ConfigurationError(
                f"cannot install signal handlers: {exc}",
                hint="call install_signal_handlers() from the main thread, or call stop()",
            ) from exc

    def close(self) -> None:
        """Commit stored offsets synchronously, close the consumer and the DLQ producer.

        Idempotent. Restores signal handlers installed by :meth:`install_signal_handlers`.
        """
        if self._closed:
            return
        self._closed = True
        if self._backlog:  # nothing past them was stored: they are redelivered after a restart
            log.info("closing with %d polled record(s) not handled", len(self._backlog))
            self._backlog.clear()
        try:
            self._commit_stored("final")
            self._consumer.close()
        finally:
            try:
                self._dlq_producer.close(timeout_s=self._dlq_timeout_s + 5)
            except DeliveryError as exc:  # nothing un-flushed should be left; log if so
                log.warning("DLQ producer close: %s", exc)
            for signum, previous in self._previous_handlers.items():
                signal.signal(signum, previous)
            self._previous_handlers.clear()

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
    ) -> RunStats:
        """Consume and handle records until stopped, or a limit is reached.

        Returns when :meth:`stop` was called (or a stop signal arrived), when
        ``max_messages`` records were finished (processed or dead-lettered), or when no
        record arrived for ``idle_timeout_s``. Without limits it runs until stopped.
        Records polled during a backoff but not handled yet stay queued for the next run.
        """
        if self._closed:
            raise ConfigurationError("run() on a closed RetryingConsumer")
        hooks = _Hooks(on_retry, on_dead_letter, on_dlq_write_failure)
        stats = RunStats()
        last_record_at = time.monotonic()
        while True:
            if self._stop.is_set():
                stats.stop_reason = self._stop_reason
                log.info("stopping: %s", self._stop_reason)
                break
            if max_messages is not None and stats.finished >= max_messages:
                stats.stop_reason = f"max_messages={max_messages} reached"
                break
            message = self._next_message()
            if message is None:
                idle_s = time.monotonic() - last_record_at
                if idle_timeout_s is not None and idle_s >= idle_timeout_s:
                    stats.stop_reason = f"idle for {idle_timeout_s} s"
                    break
                continue
            stats.received += 1
            self._handle(message, handler, stats, hooks)
            last_record_at = time.monotonic()
        return stats

    def committed(self, timeout_s: float = 10.0) -> dict[tuple[str, int], int | None]:
        """Committed offsets of the currently assigned partitions (``None``: none yet)."""
        partitions = self._consumer.assignment()
        if not partitions:
            return {}
        result = self._consumer.committed(partitions, timeout=timeout_s)
        return {(tp.topic, tp.partition): (tp.offset if tp.offset >= 0 else None) for tp in result}

    def assignment(self) -> list[tuple[str, int]]:
        """The partitions currently assigned to this member, sorted."""
        return sorted(_positions(self._consumer.assignment()))

    # -- one record ------------------------------------------------------------------------

    def _handle(
        self,
        message: Message,
        handler: Handler,
        stats: RunStats,
        hooks: _Hooks,
    ) -> None:
        try:
            value = decode_json_value(message.value())
        except DecodeError as exc:
            self._dead_letter(message, exc, 1, stats, hooks)
            return
        attempt = 0
        while True:
            attempt += 1
            try:
                handler(value, message)
            except Exception as exc:
                if not self.policy.should_retry(exc, attempt):
                    self._dead_letter(message, exc, attempt, stats, hooks)
                    return
                backoff_ms = self.policy.backoff_ms(attempt, self._rng)
                stats.retries += 1
                log.info(
                    "%s attempt %d failed (%s: %s); retrying in %.0f ms",
                    _where(message),
                    attempt,
                    type(exc).__name__,
                    exc,
                    backoff_ms,
                )
                if hooks.on_retry is not None:
                    hooks.on_retry(message, attempt, backoff_ms, exc)
                if not self._wait(backoff_ms / 1000, message):
                    stats.abandoned += 1
                    return
                continue
            self._store(message)
            stats.processed += 1
            return

    def _dead_letter(
        self,
        message: Message,
        error: BaseException,
        attempts: int,
        stats: RunStats,
        hooks: _Hooks,
    ) -> None:
        meta = RecordMeta.from_message(message)
        topic = self.dlq_topic or dlq_topic_for(meta.topic)
        headers = dlq_headers(meta, error, attempts, self.group_id, datetime.now(UTC))
        failures = 0
        while True:
            try:
                self._dlq_producer.send_raw(topic, message.value(), message.key(), headers)
                self._dlq_producer.flush(self._dlq_timeout_s + 5)
                break
            except DeliveryError as exc:
                failures += 1
                stats.dlq_write_failures += 1
                log.warning(
                    "%s: DLQ write to %r failed (%d): %s; offset not stored",
                    _where(message),
                    topic,
                    failures,
                    exc.error or exc.message,
                )
                if hooks.on_dlq_write_failure is not None:
                    hooks.on_dlq_write_failure(message, failures, exc)
                if self._dlq_producer.fatal_error is not None:
                    self._renew_dlq_producer()
                if self._dlq_max_attempts is not None and failures >= self._dlq_max_attempts:
                    # Final: the client's position is past this record, so a later run would
                    # store offsets past it and lose it. It is redelivered after a restart.
                    self.stop(f"DLQ write failed {failures} time(s)")
                    raise DlqWriteError(
                        f"{_where(message)}: DLQ write to {topic!r} failed {failures} time(s), "
                        f"last: {exc.error or exc.message}; its offset was not committed",
                        hint="make the DLQ topic writable and restart the consumer; "
                        "the record will be redelivered",
                    ) from exc
                if not self._wait(self.policy.backoff_ms(failures, self._rng) / 1000, message):
                    stats.abandoned += 1
                    return
        self._store(message)
        stats.dlq += 1
        stats.dlq_sources.append((meta.topic, meta.partition, meta.offset))
        log.info("%s dead-lettered to %r after %d attempt(s)", _where(message), topic, attempts)
        if hooks.on_dead_letter is not None:
            hooks.on_dead_letter(message, error, attempts)

    # -- Kafka plumbing --------------------------------------------------------------------

    def _next_message(self) -> Message | None:
        if self._backlog:
            return self._backlog.popleft()
        message = self._consumer.poll(self._poll_timeout_s)
        if message is None:
            return None
        error = message.error()
        if error is not None:
            self._on_client_error(error)
            return None
        return message

    def _wait(self, wait_s: float, message: Message) -> bool:
        """Back off for ``wait_s`` with partitions paused, polling in short slices.

        Returns whether to go on with ``message``: ``False`` when the consumer was stopped
        or the record's partition was revoked at any point during the wait. A revoked
        partition that came back was reset to its committed offset and is no longer paused:
        the record and its successors are fetched again (into the backlog, in order), so
        going on with this copy would handle the record twice.
        """
        self._revoked_during_wait.clear()
        deadline = time.monotonic() + wait_s
        paused = self._consumer.assignment()
        if paused:
            self._consumer.pause(paused)
        try:
            while not self._stop.is_set():
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    break
                stray = self._consumer.poll(min(self._poll_timeout_s, remaining))
                if stray is None:
                    continue
                error = stray.error()
                if error is not None:
                    self._on_client_error(error)
                else:
                    self._backlog.append(stray)  # a partition assigned during the wait
        finally:
            owned = _positions(self._consumer.assignment())
            still_paused = [tp for tp in paused if (tp.topic, tp.partition) in owned]
            if still_paused:
                self._consumer.resume(still_paused)
        if self._stop.is_set():
            log.info("%s: stopped during a backoff; offset not stored", _where(message))
            return False
        position = (message.topic(), message.partition())
        if position in self._revoked_during_wait or position not in owned:
            log.info(
                "%s: partition revoked during a backoff; offset not stored, the record is "
                "redelivered from the committed offset",
                _where(message),
            )
            return False
        return True

    def _store(self, message: Message) -> None:
        try:
            self._consumer.store_offsets(message=message)
        except KafkaException as exc:
            log.warning(
                "%s: offset not stored (%s); the partition's new owner will redeliver it",
                _where(message),
                exc.args[0],
            )
            return
        if not self._auto_commit:
            self._commit_stored("manual")

    def _commit_stored(self, why: str) -> None:
        try:
            results = self._consumer.commit(asynchronous=False)
        except KafkaException as exc:
            error: KafkaError = exc.args[0]
            if error.code() != KafkaError._NO_OFFSET:
                log.warning("%s commit failed: %s (records will be redelivered)", why, error)
            return
        for tp in results or []:
            if tp.error is not None:
                log.warning(
                    "%s commit of %s [%d] failed: %s", why, tp.topic, tp.partition, tp.error
                )

    def _on_assign(self, consumer: Consumer, partitions: list[TopicPartition]) -> None:
        log.info("assigned: %s", ", ".join(f"{tp.topic}[{tp.partition}]" for tp in partitions))

    def _on_revoke(self, consumer: Consumer, partitions: list[TopicPartition]) -> None:
        log.info("revoked: %s", ", ".join(f"{tp.topic}[{tp.partition}]" for tp in partitions))
        revoked = _positions(partitions)
        self._revoked_during_wait |= revoked
        # The client forgets the positions of revoked partitions (a re-assignment starts
        # again from the committed offset), so their polled records are dropped too.
        self._backlog = deque(m for m in self._backlog if (m.topic(), m.partition()) not in revoked)
        if not self._auto_commit:
            self._commit_stored("revoke")

    def _on_client_error_cb(self, error: KafkaError) -> None:
        level = logging.DEBUG if error.code() == KafkaError._TRANSPORT else logging.WARNING
        log.log(level, "consumer client: %s", error.str())

    def _on_client_error(self, error: KafkaError) -> None:
        if error.fatal():
            raise ConsumerError(f"consumer hit a fatal error: {error.str()}")
        if error.code() != KafkaError._PARTITION_EOF:
            log.warning("consumer: %s", error.str())

    def _new_dlq_producer(self) -> JsonProducer:
        return JsonProducer(
            self.bootstrap_servers,
            config=self._dlq_config,
            flush_timeout_s=self._dlq_timeout_s + 5,
            record_acks=False,  # a long-running consumer must not keep every DLQ record
        )

    def _renew_dlq_producer(self) -> None:
        log.warning("DLQ producer hit a fatal error; creating a new one")
        with contextlib.suppress(DeliveryError):
            self._dlq_producer.close(timeout_s=1.0)
        self._dlq_producer = self._new_dlq_producer()


def _where(message: Message) -> str:
    return f"{message.topic()}[{message.partition()}]@{message.offset()}"
