"""Writing dead letters: one record at a time, acknowledged before its source offset is stored.

Two writers, chosen by :attr:`DlqOptions.transactional`:

* :class:`AtLeastOnceDlqWriter` (the default; any broker): an idempotent ``acks=all``
  producer. :meth:`~AtLeastOnceDlqWriter.write` sends the copy and waits for *its* delivery
  report. A copy whose report has not arrived yet stays in flight: asking again waits for
  the same copy and never queues a second one. A crash between the acknowledgement and the
  commit of the source offset writes the dead letter again after the restart.
* :class:`TransactionalDlqWriter`: the dead letter and the source offset are committed in
  one Kafka transaction (``send_offsets_to_transaction``, the consume-transform-produce
  pattern), so a crash can neither lose nor duplicate a dead letter: a reader with
  ``isolation.level=read_committed`` sees each one once.

A write that fails raises :class:`~harness.errors.DeliveryError`; the consumer decides
whether to try again (:attr:`DlqOptions.retry` bounds it).
"""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Final, Protocol

from confluent_kafka import KafkaError, KafkaException, Message, Producer, TopicPartition

from harness.dlq import Header, dlq_topic_for
from harness.errors import ConfigurationError, ConsumerError, DeliveryError
from harness.retry import RetryPolicy

log = logging.getLogger(__name__)

#: How often, and how patiently, one dead letter is written before the consumer gives up
#: (:class:`~harness.errors.DlqWriteError`): 8 writes over about 15 s of backoff.
#: How long a DLQ topic created a moment ago may take to show in the metadata.
NEW_TOPIC_GRACE_S: Final = 5.0
DEFAULT_DLQ_RETRY: Final = RetryPolicy(
    max_attempts=8, initial_backoff_ms=200, max_backoff_ms=5_000, multiplier=2.0, jitter=0.2
)

#: Producer settings under the caller's: idempotent, every in-sync replica acknowledges,
#: no lingering (one record at a time).
DLQ_PRODUCER_CONFIG: Final[Mapping[str, Any]] = {
    "enable.idempotence": True,
    "acks": "all",
    "linger.ms": 0,
}

#: A source record as ``(topic, partition, offset)``.
Source = tuple[str, int, int]


@dataclass(frozen=True)
class DlqOptions:
    """Where dead letters go and how they are written.

    ``topic`` is the DLQ of every source topic; ``None`` gives each topic ``t`` its own
    ``t-dlq``. ``timeout_s`` bounds one write (its ``message.timeout.ms``, and each
    transactional call). ``retry`` bounds the writes of one record: after
    ``retry.max_attempts`` failed writes the consumer stops with
    :class:`~harness.errors.DlqWriteError`. ``transactional`` writes each dead letter and
    its source offset in one transaction, under ``transactional_id`` (default: derived from
    the group and ``group.instance.id``, else random). Give each live member its own id; a
    restarted member that reuses its id fences its dead predecessor at once.
    """

    topic: str | None = None
    transactional: bool = False
    transactional_id: str | None = None
    timeout_s: float = 10.0
    retry: RetryPolicy = DEFAULT_DLQ_RETRY
    producer_config: Mapping[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.timeout_s <= 0:
            raise ConfigurationError(f"DlqOptions.timeout_s must be > 0, got {self.timeout_s}")
        if self.transactional_id is not None and not self.transactional:
            raise ConfigurationError(
                "DlqOptions.transactional_id needs transactional=True",
                hint="DlqOptions(transactional=True, transactional_id=...)",
            )

    def topic_for(self, source_topic: str) -> str:
        """The DLQ topic of records from ``source_topic``."""
        return self.topic or dlq_topic_for(source_topic)


@dataclass(frozen=True)
class DeadLetter:
    """A record's DLQ copy: the original key and value, and the DLQ headers."""

    topic: str
    key: bytes | None
    value: bytes | None
    headers: list[Header]
    source: Source
    source_leader_epoch: int

    @classmethod
    def of(cls, message: Message, topic: str, headers: list[Header]) -> DeadLetter:
        """The DLQ copy of the consumed ``message``."""
        epoch = message.leader_epoch()
        return cls(
            topic=topic,
            key=message.key(),
            value=message.value(),
            headers=headers,
            source=(message.topic() or "", message.partition() or 0, message.offset() or 0),
            source_leader_epoch=-1 if epoch is None else epoch,
        )

    def next_offset(self) -> TopicPartition:
        """The source offset to commit once the dead letter is written."""
        topic, partition, offset = self.source
        return TopicPartition(topic, partition, offset + 1, leader_epoch=self.source_leader_epoch)


class DlqWriter(Protocol):
    """What the consumer needs of a DLQ writer."""

    #: Whether the write commits the source offset too (in one transaction).
    exactly_once: bool

    def write(self, letter: DeadLetter, group_metadata: Callable[[], object]) -> None:
        """Write ``letter``; return once it is acknowledged (or committed), else raise."""
        ...

    def close(self) -> None:
        """Flush what is in flight (bounded) and release the client."""
        ...


def check_topics_exist(
    list_topics: Callable[..., Any], topics: Sequence[str], *, timeout_s: float
) -> None:
    """Raise :class:`~harness.errors.ConfigurationError` naming every DLQ topic that is absent.

    ``list_topics`` is a client's ``list_topics`` (a consumer's: it never creates topics). A
    topic created a moment ago may not be in the broker's metadata yet, so an absent topic is
    asked for again until :data:`NEW_TOPIC_GRACE_S` (bounded by ``timeout_s``) has passed.
    """
    deadline = time.monotonic() + min(timeout_s, NEW_TOPIC_GRACE_S)
    missing = list(topics)
    while True:
        missing = [topic for topic in missing if not _exists(list_topics, topic, timeout_s)]
        if not missing or time.monotonic() >= deadline:
            break
        time.sleep(0.2)
    if missing:
        raise ConfigurationError(
            f"DLQ topic(s) {', '.join(repr(t) for t in missing)} do not exist",
            hint="create them first (in stack.toml: dlq = true on the source topic), "
            "or point DlqOptions(topic=...) at an existing one",
        )


def _exists(list_topics: Callable[..., Any], topic: str, timeout_s: float) -> bool:
    try:
        metadata = list_topics(topic, timeout=timeout_s)
    except KafkaException as exc:
        raise ConsumerError(
            f"cannot check that the DLQ topic {topic!r} exists: {exc.args[0]}",
            hint="is the broker reachable? the consumer checks its DLQ topics at start",
        ) from exc
    found = metadata.topics.get(topic)
    return found is not None and found.error is None


class _Delivery:
    """The delivery report of one produced copy."""

    def __init__(self) -> None:
        self.done = False
        self.error: KafkaError | None = None

    def __call__(self, error: KafkaError | None, message: Message) -> None:
        self.done, self.error = True, error


def _producer_config(bootstrap: str, options: DlqOptions) -> dict[str, Any]:
    return {
        **DLQ_PRODUCER_CONFIG,
        **options.producer_config,
        "bootstrap.servers": bootstrap,
        "message.timeout.ms": int(options.timeout_s * 1000),
    }


def _new_producer(config: Mapping[str, Any]) -> Producer:
    try:
        return Producer(dict(config))
    except KafkaException as exc:
        raise ConfigurationError(
            f"cannot create the DLQ producer: {exc.args[0]}",
            hint="check DlqOptions.producer_config against librdkafka's CONFIGURATION.md",
        ) from exc


def _failure(letter: DeadLetter, what: str, error: KafkaError | str) -> DeliveryError:
    text = error.str() if isinstance(error, KafkaError) else error
    return DeliveryError(
        f"DLQ write of {letter.source[0]}[{letter.source[1]}]@{letter.source[2]} to "
        f"{letter.topic!r} failed: {what}: {text}",
        topic=letter.topic,
        key=letter.key,
        error=text,
        failures=[(letter.topic, letter.key, text)],
    )


class AtLeastOnceDlqWriter:
    """Idempotent producer; a copy is sent again only after its delivery report said failed."""

    exactly_once = False

    def __init__(self, bootstrap_servers: str, options: DlqOptions) -> None:
        self._config = {**_producer_config(bootstrap_servers, options), "error_cb": self._on_error}
        self._wait_s = options.timeout_s + 5  # a report comes within message.timeout.ms
        self._fatal: KafkaError | None = None
        self._in_flight: dict[Source, _Delivery] = {}
        self._producer = _new_producer(self._config)

    def write(self, letter: DeadLetter, group_metadata: Callable[[], object]) -> None:
        """Send ``letter`` unless its earlier copy is in flight; wait for that copy's report."""
        self._in_flight = {s: d for s, d in self._in_flight.items() if not d.done}
        delivery = self._in_flight.get(letter.source)
        if delivery is None:
            delivery = _Delivery()
            try:
                self._producer.produce(
                    letter.topic,
                    letter.value,
                    letter.key,
                    headers=list(letter.headers),
                    on_delivery=delivery,
                )
            except BufferError as exc:
                raise _failure(letter, "refused before sending", "Local: Queue full") from exc
            except KafkaException as exc:
                raise _failure(letter, "refused before sending", exc.args[0]) from exc
            self._in_flight[letter.source] = delivery
        self._producer.flush(self._wait_s)
        if not delivery.done:
            raise _failure(
                letter,
                f"no delivery report within {self._wait_s:.0f} s",
                "the copy stays in flight and is not sent again until it is reported",
            )
        del self._in_flight[letter.source]
        if delivery.error is not None:
            if self._fatal is not None:
                self._renew()
            raise _failure(letter, "the broker did not take it", delivery.error)

    def close(self) -> None:
        """Wait (bounded) for copies still in flight, then release the producer."""
        left = self._producer.flush(self._wait_s)
        if left:
            log.warning("DLQ producer closed with %d copy(ies) unacknowledged", left)

    def _on_error(self, error: KafkaError) -> None:
        if error.fatal():
            self._fatal = error
            log.error("DLQ producer fatal error: %s", error.str())
        elif error.code() != KafkaError._TRANSPORT:
            log.warning("DLQ producer: %s", error.str())

    def _renew(self) -> None:
        log.warning("DLQ producer hit a fatal error (%s); creating a new one", self._fatal)
        self._producer.flush(0)
        self._fatal = None
        self._in_flight.clear()  # reports of the old client's copies never arrive
        self._producer = _new_producer(self._config)


class TransactionalDlqWriter:
    """One transaction per dead letter: the copy and the source offset commit together."""

    exactly_once = True

    def __init__(self, bootstrap_servers: str, options: DlqOptions, transactional_id: str) -> None:
        timeout_ms = int(options.timeout_s * 1000)
        self.transactional_id = transactional_id
        self._config: dict[str, Any] = {
            **_producer_config(bootstrap_servers, options),
            "transactional.id": transactional_id,
            # Bounds how long a crashed member's open transaction blocks read_committed
            # readers when no successor with the same id fences it.
            "transaction.timeout.ms": max(10_000, 2 * timeout_ms),
            "error_cb": self._on_error,
        }
        self._timeout_s = options.timeout_s
        self._open_for: Source | None = None  # the letter of a transaction not committed yet
        self._committing = False  # commit_transaction was called for it and did not finish
        self._producer = self._start()

    def _start(self) -> Producer:
        producer = _new_producer(self._config)
        try:
            producer.init_transactions(self._timeout_s)
        except KafkaException as exc:
            raise ConfigurationError(
                f"the DLQ producer cannot use transactions "
                f"(transactional.id {self.transactional_id!r}): {exc.args[0]}",
                hint="the cluster needs a transaction coordinator (transaction.state.log.* "
                "settings that its brokers can meet); or use DlqOptions(transactional=False)",
            ) from exc
        return producer

    def write(self, letter: DeadLetter, group_metadata: Callable[[], object]) -> None:
        """Commit ``letter`` and its source offset in one transaction, or raise."""
        try:
            if self._committing:
                # A commit that timed out must be finished before anything else; it may
                # belong to a letter whose partition was revoked since (the broker then
                # fences its offset commit and the transaction aborts).
                self._commit()
                finished, self._open_for = self._open_for, None
                if finished == letter.source:
                    return
            if self._open_for is not None:
                self._abort()
            self._producer.begin_transaction()
            self._open_for = letter.source
            self._producer.produce(
                letter.topic, letter.value, letter.key, headers=list(letter.headers)
            )
            self._producer.send_offsets_to_transaction(
                [letter.next_offset()], group_metadata(), self._timeout_s
            )
            self._committing = True
            self._commit()
            self._open_for = None
        except KafkaException as exc:
            error: KafkaError = exc.args[0]
            self._recover(error)
            raise _failure(letter, "transaction failed", error) from exc
        except BufferError as exc:
            self._recover(None)
            raise _failure(letter, "refused before sending", "Local: Queue full") from exc

    def close(self) -> None:
        """Abort a transaction left open (its source offset was not committed either)."""
        if self._open_for is not None and not self._committing:
            try:
                self._abort()
            except KafkaException as exc:
                log.warning("DLQ transaction abort on close failed: %s", exc.args[0])
        self._producer.flush(self._timeout_s)

    def _commit(self) -> None:
        self._producer.commit_transaction(self._timeout_s)
        self._committing = False

    def _abort(self) -> None:
        self._producer.abort_transaction(self._timeout_s)
        self._open_for, self._committing = None, False

    def _recover(self, error: KafkaError | None) -> None:
        """Leave the producer ready for the next write after ``error``."""
        if error is not None and error.fatal():
            log.warning("DLQ producer fatal error (%s); starting a new one", error.str())
            self._open_for, self._committing = None, False
            self._producer = self._start()  # fences the old one, aborting its transaction
            return
        if self._committing and error is not None and error.retriable():
            return  # the commit is finished by the next write
        if self._open_for is None:
            return  # no transaction began
        try:
            self._abort()
        except KafkaException as exc:
            abort_error: KafkaError = exc.args[0]
            log.warning("DLQ transaction abort failed: %s", abort_error.str())
            if abort_error.fatal():
                self._open_for, self._committing = None, False
                self._producer = self._start()

    def _on_error(self, error: KafkaError) -> None:
        if error.code() != KafkaError._TRANSPORT:
            log.warning("DLQ producer: %s", error.str())


def default_transactional_id(group_id: str, instance_id: str | None) -> str:
    """``kafkarig-dlq-<group>-<group.instance.id>``, or a random suffix without one."""
    return f"kafkarig-dlq-{group_id}-{instance_id or uuid.uuid4().hex[:12]}"


def new_writer(
    bootstrap_servers: str, options: DlqOptions, *, group_id: str, instance_id: str | None
) -> DlqWriter:
    """The writer ``options`` ask for."""
    if options.transactional:
        transactional_id = options.transactional_id or default_transactional_id(
            group_id, instance_id
        )
        return TransactionalDlqWriter(bootstrap_servers, options, transactional_id)
    return AtLeastOnceDlqWriter(bootstrap_servers, options)
