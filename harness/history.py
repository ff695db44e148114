"""A produce workload that records its history, and a reader that reads a topic back.

:class:`ProduceWorkload` produces JSON records with unique value ids at a steady rate from a
background thread (``{"id": ..., "key": ..., "seq": ...}``, keyed by one of ``keys`` keys)
and records, for every record, when it was sent and when (and where, or with which error)
its delivery report came: the history the delivery checker (:mod:`harness.checker`) and the
chaos report need (throughput and produce latency over time). :func:`read_topic` reads every
partition of a topic from the beginning to its high watermark.
"""

from __future__ import annotations

import json
import logging
import threading
import time
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Final

from confluent_kafka import Consumer, KafkaError, KafkaException, Message, Producer, TopicPartition

from harness.checker import Read, Write
from harness.errors import ConfigurationError, HarnessError

log = logging.getLogger(__name__)
_LIBRDKAFKA_LOG = logging.getLogger("kafkarig.history.librdkafka")

#: Idempotent, all in-sync replicas, and long enough a delivery timeout that a record
#: survives a 30 s outage of its leader instead of timing out.
SAFE_PRODUCER_CONFIG: Final[Mapping[str, Any]] = {
    "enable.idempotence": True,
    "acks": "all",
    "linger.ms": 5,
    "message.timeout.ms": 120_000,
}
_TICK_S: Final = 0.01


@dataclass(frozen=True)
class Delivery:
    """One record's fate: sent at ``sent_s``, reported at ``done_s`` (seconds since start)."""

    key: str
    value: str
    seq: int
    sent_s: float
    done_s: float
    partition: int
    offset: int
    error: str | None = None

    @property
    def acked(self) -> bool:
        """The broker acknowledged the record."""
        return self.error is None

    @property
    def latency_s(self) -> float:
        """From ``produce()`` to the delivery report."""
        return self.done_s - self.sent_s


class ProduceWorkload:
    """Produce ``rate_per_s`` records a second to ``topic`` until :meth:`stop` (or until
    ``max_records`` were sent).

    ``config`` is merged over :data:`SAFE_PRODUCER_CONFIG`. Use it as a context manager, or
    call :meth:`start` and :meth:`stop`. ``started_at`` (``time.monotonic()``) is the origin
    of every time in the history.
    """

    def __init__(
        self,
        bootstrap_servers: str,
        topic: str,
        *,
        rate_per_s: float = 1000.0,
        keys: int = 24,
        config: Mapping[str, Any] | None = None,
        label: str = "chaos",
        max_records: int | None = None,
    ) -> None:
        if rate_per_s <= 0 or keys < 1:
            raise ConfigurationError(
                f"rate_per_s must be > 0 and keys >= 1, got {rate_per_s} and {keys}"
            )
        self.topic = topic
        self.rate_per_s = rate_per_s
        self.max_records = max_records
        self.keys = [f"key-{n:02d}" for n in range(keys)]
        self.run_id = f"{label}-{uuid.uuid4().hex[:8]}"
        self.config: dict[str, Any] = {
            **SAFE_PRODUCER_CONFIG,
            **(config or {}),
            "bootstrap.servers": bootstrap_servers,
        }
        self.started_at = time.monotonic()
        self._deliveries: list[Delivery] = []
        self._sent_at: dict[str, tuple[str, int, float]] = {}
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._error: BaseException | None = None
        self.sent = 0
        try:
            self._producer = Producer(
                {**self.config, "error_cb": self._on_error}, logger=_LIBRDKAFKA_LOG
            )
        except KafkaException as exc:
            raise ConfigurationError(f"invalid producer configuration: {exc.args[0]}") from exc

    def __enter__(self) -> ProduceWorkload:
        self.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    def now_s(self) -> float:
        """Seconds since the workload was made (the history's clock)."""
        return time.monotonic() - self.started_at

    def start(self) -> None:
        """Start producing in a background thread."""
        self.started_at = time.monotonic()
        self._thread = threading.Thread(target=self._run, name=f"produce-{self.topic}", daemon=True)
        self._thread.start()

    def stop(self, flush_timeout_s: float = 150.0) -> None:
        """Stop producing, then wait up to ``flush_timeout_s`` for every delivery report.

        Raises :class:`~harness.errors.HarnessError` when reports are still missing then, or
        when the producing thread failed.
        """
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
        remaining = self._producer.flush(flush_timeout_s)
        if self._error is not None:
            raise HarnessError(f"the produce workload failed: {self._error!r}") from self._error
        if remaining:
            raise HarnessError(
                f"{remaining} record(s) of {self.topic} still unreported {flush_timeout_s} s "
                "after the workload stopped",
                hint="is the cluster back? message.timeout.ms bounds every delivery",
            )

    def wait_for_acks(self, count: int, timeout_s: float) -> None:
        """Block until ``count`` records were acknowledged in all (or raise after a timeout)."""
        deadline = time.monotonic() + timeout_s
        while self.acked_count() < count:
            if time.monotonic() > deadline:
                raise HarnessError(
                    f"only {self.acked_count()} of {count} records of {self.topic} were "
                    f"acknowledged within {timeout_s:.0f} s"
                )
            time.sleep(0.1)

    # -- the history -----------------------------------------------------------------------

    def deliveries(self) -> list[Delivery]:
        """Every delivery report so far, in arrival order (a copy)."""
        with self._lock:
            return list(self._deliveries)

    def acked_count(self) -> int:
        """Records acknowledged so far."""
        with self._lock:
            return sum(1 for d in self._deliveries if d.acked)

    def writes(self) -> list[Write]:
        """The acknowledged records, for the delivery checker."""
        return [
            Write(d.key, d.value, d.partition, d.offset, d.seq)
            for d in self.deliveries()
            if d.acked
        ]

    def indeterminate(self) -> set[str]:
        """Value ids sent but not acknowledged (failed, or no report yet)."""
        with self._lock:
            acked = {d.value for d in self._deliveries if d.acked}
            return set(self._sent_at) - acked

    def first_ack_after(self, at_s: float, partition: int | None = None) -> float | None:
        """Seconds from ``at_s`` to the first ack of a record sent at or after ``at_s``
        (on ``partition`` when given); None when there is none."""
        done = [
            d.done_s
            for d in self.deliveries()
            if d.acked and d.sent_s >= at_s and (partition is None or d.partition == partition)
        ]
        return min(done) - at_s if done else None

    # -- the producing thread --------------------------------------------------------------

    def _run(self) -> None:
        seqs = dict.fromkeys(self.keys, 0)
        # A token bucket: after a stall (the local queue full while the cluster is down)
        # the workload goes on at its rate; it does not burst to catch up.
        burst = max(1.0, self.rate_per_s * _TICK_S * 10)
        tokens, last_s = 0.0, self.now_s()
        try:
            while not self._stop.is_set():
                now_s = self.now_s()
                tokens = min(tokens + (now_s - last_s) * self.rate_per_s, burst)
                last_s = now_s
                if self.max_records is not None and self.sent >= self.max_records:
                    tokens = 0.0
                while tokens >= 1 and not self._stop.is_set():
                    key = self.keys[self.sent % len(self.keys)]
                    self._send(key, seqs[key])
                    seqs[key] += 1
                    tokens -= 1
                self._producer.poll(_TICK_S)
        except BaseException as error:
            self._error = error
            log.exception("produce workload for %s failed", self.topic)

    def _send(self, key: str, seq: int) -> None:
        value = f"{self.run_id}-{key}-{seq}"
        payload = json.dumps({"id": value, "key": key, "seq": seq}).encode()
        sent_s = self.now_s()
        with self._lock:
            self._sent_at[value] = (key, seq, sent_s)
        while True:
            try:
                self._producer.produce(
                    self.topic, payload, key.encode(), on_delivery=self._on_delivery
                )
                break
            except BufferError:
                # The local queue is full while the cluster is down: wait, do not drop.
                self._producer.poll(0.1)
                if self._stop.is_set():
                    with self._lock:
                        del self._sent_at[value]
                    return
        self.sent += 1

    def _on_delivery(self, error: KafkaError | None, message: Message) -> None:
        done_s = self.now_s()
        record = json.loads(message.value() or b"{}")
        value = str(record.get("id"))
        partition, offset = message.partition(), message.offset()
        with self._lock:
            key, seq, sent_s = self._sent_at.get(value, ("", -1, done_s))
            self._deliveries.append(
                Delivery(
                    key=key,
                    value=value,
                    seq=seq,
                    sent_s=sent_s,
                    done_s=done_s,
                    partition=-1 if partition is None else partition,
                    offset=-1 if offset is None else offset,
                    error=None if error is None else error.str(),
                )
            )

    def _on_error(self, error: KafkaError) -> None:
        if error.fatal():
            self._error = KafkaException(error)
            log.error("producer fatal error: %s", error.str())
        else:
            log.debug("producer: %s", error.str())  # brokers coming and going is the point


def read_topic(
    bootstrap_servers: str,
    topic: str,
    *,
    timeout_s: float = 120.0,
    config: Mapping[str, Any] | None = None,
) -> list[Read]:
    """Every record of ``topic`` as a checker :class:`~harness.checker.Read`.

    A workload record's id and seq come from its JSON value; any other record is read with
    its key as its id.
    """
    return [
        as_read(message)
        for message in read_messages(bootstrap_servers, topic, timeout_s=timeout_s, config=config)
    ]


def read_messages(
    bootstrap_servers: str,
    topic: str,
    *,
    timeout_s: float = 120.0,
    config: Mapping[str, Any] | None = None,
) -> list[Message]:
    """Every record of ``topic``, from the beginning to the high watermark of each partition.

    Partitions are assigned, not subscribed: no group joins and nothing is committed.
    """
    consumer = Consumer(
        {
            "bootstrap.servers": bootstrap_servers,
            "group.id": f"kafkarig-readback-{uuid.uuid4().hex[:8]}",
            "enable.auto.commit": False,
            "auto.offset.reset": "earliest",
            "enable.partition.eof": True,
            **(config or {}),
        },
        logger=_LIBRDKAFKA_LOG,
    )
    try:
        metadata = consumer.list_topics(topic, timeout=30)
        ends = {}
        for partition in sorted(metadata.topics[topic].partitions):
            _, high = consumer.get_watermark_offsets(
                TopicPartition(topic, partition), timeout=30, cached=False
            )
            ends[partition] = high
        pending = {p for p, high in ends.items() if high > 0}
        consumer.assign([TopicPartition(topic, p, 0) for p in pending])
        messages: list[Message] = []
        deadline = time.monotonic() + timeout_s
        while pending:
            if time.monotonic() > deadline:
                raise HarnessError(
                    f"reading {topic} back took more than {timeout_s:.0f} s; "
                    f"partitions {sorted(pending)} are not at their end ({ends})"
                )
            for message in consumer.consume(1000, timeout=1.0):
                error, partition = message.error(), message.partition()
                if partition is None:
                    continue
                if error is not None and error.code() != KafkaError._PARTITION_EOF:
                    raise HarnessError(f"reading {topic} back failed: {error.str()}")
                if error is None:
                    messages.append(message)
                if (message.offset() or 0) + (0 if error is not None else 1) >= ends[partition]:
                    pending.discard(partition)
        return messages
    finally:
        consumer.close()


def as_read(message: Message, partition: int | None = None, offset: int | None = None) -> Read:
    """A consumed record as a checker :class:`~harness.checker.Read`, at its own position or
    at ``partition``/``offset`` when given (a DLQ copy is read at its source position)."""
    partition = message.partition() or 0 if partition is None else partition
    offset = message.offset() or 0 if offset is None else offset
    key = (message.key() or b"").decode("utf-8", "replace")
    try:
        record = json.loads(message.value() or b"")
    except ValueError:
        record = None
    if isinstance(record, dict) and "id" in record:
        seq = record.get("seq")
        return Read(
            key, str(record["id"]), partition, offset, seq if isinstance(seq, int) else None
        )
    return Read(key, key, partition, offset)
