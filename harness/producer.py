"""A JSON producer whose delivery reports are facts, not fire-and-forget.

:class:`JsonProducer` wraps ``confluent_kafka.Producer``: values are JSON (serialized exactly
like the seed's ``json.dumps(x).encode('utf-8')``), the producer is idempotent with
``acks=all`` by default, every acknowledged record is recorded as an :class:`Ack` (for
delivery accounting; ``record_acks=False`` keeps none, for long-lived producers such as the
consumer's DLQ producer), and a failed delivery raises :class:`~harness.errors.DeliveryError`
with the broker's error on the next :meth:`JsonProducer.flush` or on close.

>>> with JsonProducer("localhost:9092") as producer:          # doctest: +SKIP
...     producer.send("user-events", {"user_id": 1, "action": "login"}, key="1")
"""

from __future__ import annotations

import json
import logging
import time
from collections import deque
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from types import TracebackType
from typing import Any, Final, Self

from confluent_kafka import KafkaError, KafkaException, Message, Producer

from harness.dlq import normalize_headers
from harness.errors import ConfigurationError, DeliveryError, SerializationError

log = logging.getLogger(__name__)

#: Defaults under the caller's ``config``: idempotent, all in-sync replicas acknowledge,
#: and a record that cannot be delivered fails within 30 s instead of librdkafka's 300 s.
DEFAULT_PRODUCER_CONFIG: Final[Mapping[str, Any]] = {
    "enable.idempotence": True,
    "acks": "all",
    "linger.ms": 5,
    "message.timeout.ms": 30_000,
}

HeadersArg = Sequence[tuple[str, str | bytes | None]] | Mapping[str, str | bytes | None] | None

#: How many failed deliveries a producer keeps for :attr:`JsonProducer.failures` and for one
#: :class:`~harness.errors.DeliveryError` (the newest); the counts stay exact beyond it.
MAX_KEPT_FAILURES: Final = 1000
#: Delivery reports are served after this many sends (and on every flush): serving them on
#: every send costs a third of the producer's throughput.
POLL_EVERY_SENDS: Final = 1000

_HINTS: Final[Mapping[int, str]] = {
    KafkaError.MSG_SIZE_TOO_LARGE: "the record exceeds the topic's max.message.bytes",
    KafkaError.UNKNOWN_TOPIC_OR_PART: "create the topic first (auto-creation may be off)",
    KafkaError._UNKNOWN_TOPIC: "create the topic first (auto-creation may be off)",
    KafkaError.TOPIC_AUTHORIZATION_FAILED: "the producer's principal may not write the topic",
    KafkaError._MSG_TIMED_OUT: "is the broker reachable and the topic's leader available? "
    "(message.timeout.ms bounds each delivery)",
    KafkaError.NOT_ENOUGH_REPLICAS: "fewer in-sync replicas than the topic's min.insync.replicas",
}


@dataclass(frozen=True)
class Ack:
    """One record the broker acknowledged: where it landed, and its key and value bytes."""

    topic: str
    partition: int
    offset: int
    key: bytes | None
    value: bytes | None

    @property
    def key_text(self) -> str | None:
        """The key decoded as UTF-8 (``None`` for a record without a key)."""
        return None if self.key is None else self.key.decode("utf-8", "replace")


_dumps = json.JSONEncoder().encode  # what json.dumps(value) runs, without its argument checks


def encode_json(value: Any) -> bytes:
    """Serialize ``value`` the way the seed does: ``json.dumps(value).encode('utf-8')``."""
    try:
        return json.dumps(value).encode("utf-8")
    except (TypeError, ValueError) as exc:
        raise SerializationError(
            f"value is not JSON-serializable: {exc}",
            hint="send dicts, lists, str, int, float, bool or None; "
            "use send_raw() for bytes you encoded yourself",
        ) from exc


class JsonProducer:
    """Context manager over ``confluent_kafka.Producer`` that produces JSON and keeps score.

    ``config`` is merged over :data:`DEFAULT_PRODUCER_CONFIG` (and may override any of it);
    ``bootstrap_servers`` wins over a ``bootstrap.servers`` in ``config``. ``flush_timeout_s``
    bounds :meth:`flush` and :meth:`close` when no explicit timeout is given.
    ``record_acks=False`` keeps no :class:`Ack` (each holds the value bytes, so a long-lived
    producer would grow without bound); :attr:`acked` then refuses to answer.
    """

    def __init__(
        self,
        bootstrap_servers: str,
        *,
        config: Mapping[str, Any] | None = None,
        flush_timeout_s: float = 60.0,
        record_acks: bool = True,
    ) -> None:
        merged: dict[str, Any] = {**DEFAULT_PRODUCER_CONFIG, **(config or {})}
        merged["bootstrap.servers"] = bootstrap_servers
        merged["error_cb"] = self._on_error
        self.bootstrap_servers = bootstrap_servers
        self.config: Mapping[str, Any] = {k: v for k, v in merged.items() if not k.endswith("_cb")}
        self.flush_timeout_s = flush_timeout_s
        self.record_acks = record_acks
        # Acks are kept as the delivered messages themselves (one append on the hot path)
        # and become Ack objects when asked for.
        self._acked: list[Message] = []
        self._keep_ack = self._acked.append
        self._failures: deque[tuple[str, bytes | None, str]] = deque(maxlen=MAX_KEPT_FAILURES)
        self._failure_count = 0
        self._unreported: deque[tuple[str, bytes | None, KafkaError]] = deque(
            maxlen=MAX_KEPT_FAILURES
        )
        self._unreported_count = 0
        self._fatal: KafkaError | None = None
        self._sent = 0
        self._closed = False
        try:
            self._producer = Producer(merged)
        except KafkaException as exc:
            raise ConfigurationError(
                f"invalid producer configuration: {exc.args[0]}",
                hint="check the keys against librdkafka's CONFIGURATION.md",
            ) from exc

    # -- context manager -------------------------------------------------------------------

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if exc_type is None:
            self.close()
            return
        try:
            self.close()
        except DeliveryError as delivery_error:
            # Do not mask the exception already on its way out; failures stay inspectable.
            log.warning("while handling %s: %s", exc_type.__name__, delivery_error)

    # -- producing -------------------------------------------------------------------------

    def send(
        self,
        topic: str,
        value: Any,
        key: str | bytes | None = None,
        headers: HeadersArg = None,
        *,
        partition: int | None = None,
    ) -> None:
        """Queue ``value`` as JSON for ``topic``; delivery is confirmed by :meth:`flush`."""
        try:
            data = _dumps(value).encode("utf-8")
        except (TypeError, ValueError):
            data = encode_json(value)  # raises the SerializationError with its hint
        self.send_raw(topic, data, key, headers, partition=partition)

    def send_raw(
        self,
        topic: str,
        value: bytes | None,
        key: str | bytes | None = None,
        headers: HeadersArg = None,
        *,
        partition: int | None = None,
    ) -> None:
        """Queue ``value`` bytes as they are (e.g. an undecodable payload, or ``None``)."""
        if self._closed:
            raise ConfigurationError("send on a closed JsonProducer")
        key_bytes = key.encode("utf-8") if isinstance(key, str) else key
        header_list: list[tuple[str, str | bytes | None]] | None = (
            (list(normalize_headers(headers)) or None) if headers else None
        )
        produce = self._producer.produce
        try:
            if partition is None and header_list is None:
                produce(topic, value, key_bytes, on_delivery=self._on_delivery)
            else:
                produce(
                    topic,
                    value,
                    key_bytes,
                    partition=-1 if partition is None else partition,
                    on_delivery=self._on_delivery,
                    headers=header_list,
                )
        except BufferError:
            self._produce_when_room(topic, value, key_bytes, partition, header_list)
        except KafkaException as exc:
            raise self._refused(topic, key_bytes, exc) from exc
        self._sent += 1
        if self._sent % POLL_EVERY_SENDS == 0:
            self._producer.poll(0)

    def _produce_when_room(
        self,
        topic: str,
        value: bytes | None,
        key: bytes | None,
        partition: int | None,
        headers: list[tuple[str, str | bytes | None]] | None,
    ) -> None:
        """The local queue is full: serve delivery reports to make room, within a bound."""
        deadline = time.monotonic() + self.flush_timeout_s
        while True:
            self._producer.poll(0.05)
            try:
                self._producer.produce(
                    topic,
                    value,
                    key,
                    partition=-1 if partition is None else partition,
                    on_delivery=self._on_delivery,
                    headers=headers,
                )
                return
            except BufferError:
                if time.monotonic() > deadline:
                    raise DeliveryError(
                        f"local producer queue stayed full for {self.flush_timeout_s} s",
                        topic=topic,
                        key=key,
                        error="Local: Queue full",
                        hint="the broker is not taking records; see earlier warnings",
                    ) from None
            except KafkaException as exc:
                raise self._refused(topic, key, exc) from exc

    @staticmethod
    def _refused(topic: str, key: bytes | None, exc: KafkaException) -> DeliveryError:
        error: KafkaError = exc.args[0]
        return DeliveryError(
            f"record for topic {topic!r} (key {key!r}) was refused before sending: {error.str()}",
            topic=topic,
            key=key,
            error=error.str(),
            failures=[(topic, key, error.str())],
            hint=_HINTS.get(error.code()),
        )

    def poll(self, timeout_s: float = 0.0) -> int:
        """Serve delivery reports for up to ``timeout_s``; returns how many were served."""
        return self._producer.poll(timeout_s)

    def flush(self, timeout_s: float | None = None) -> None:
        """Wait until every queued record is acknowledged or failed.

        Raises :class:`~harness.errors.DeliveryError` for the failures reported since the
        last flush (each failure is raised once), or when records are still queued after
        ``timeout_s`` (default: ``flush_timeout_s``).
        """
        timeout = self.flush_timeout_s if timeout_s is None else timeout_s
        remaining = self._producer.flush(timeout)
        self._raise_failures()
        if remaining:
            raise DeliveryError(
                f"{remaining} record(s) still unacknowledged after {timeout} s",
                error="Local: flush timed out",
                hint=f"is the broker at {self.bootstrap_servers} reachable? "
                "raise the timeout or lower message.timeout.ms to fail faster",
            )

    def close(self, timeout_s: float | None = None) -> None:
        """Flush (raising on failed deliveries), then release the client. Idempotent."""
        if self._closed:
            return
        try:
            self.flush(timeout_s)
        finally:
            self._closed = True
            self._producer.close()

    # -- what happened ---------------------------------------------------------------------

    @property
    def acked(self) -> list[Ack]:
        """Every record acknowledged so far, in delivery-report order (a copy).

        Raises :class:`~harness.errors.ConfigurationError` when the producer was made with
        ``record_acks=False`` (an empty list would make delivery accounting pass vacuously).
        """
        if not self.record_acks:
            raise ConfigurationError(
                "this JsonProducer was created with record_acks=False and keeps no acks",
                hint="create it with record_acks=True (the default) to account for deliveries",
            )
        return [
            Ack(m.topic() or "", m.partition() or 0, m.offset() or 0, m.key(), m.value())
            for m in self._acked
        ]

    @property
    def failures(self) -> list[tuple[str, bytes | None, str]]:
        """Failed deliveries so far as ``(topic, key, error text)``: the newest
        :data:`MAX_KEPT_FAILURES` of them (a copy); :attr:`failure_count` counts them all."""
        return list(self._failures)

    @property
    def failure_count(self) -> int:
        """How many deliveries failed so far (all of them, not only the kept ones)."""
        return self._failure_count

    @property
    def sent(self) -> int:
        """How many records were handed to the client."""
        return self._sent

    @property
    def fatal_error(self) -> str | None:
        """The client's fatal error text, if it hit one (it must then be recreated)."""
        return None if self._fatal is None else self._fatal.str()

    def __len__(self) -> int:
        """Records queued or in flight."""
        return len(self._producer)

    # -- callbacks -------------------------------------------------------------------------

    def _on_delivery(self, error: KafkaError | None, message: Message) -> None:
        if error is None:
            if self.record_acks:
                self._keep_ack(message)
            return
        topic = message.topic() or ""
        self._failures.append((topic, message.key(), error.str()))
        self._failure_count += 1
        self._unreported.append((topic, message.key(), error))
        self._unreported_count += 1

    def _on_error(self, error: KafkaError) -> None:
        if error.fatal():
            self._fatal = error
            log.error("producer fatal error: %s", error.str())
        elif error.code() == KafkaError._TRANSPORT:
            log.debug("producer: %s", error.str())  # reconnects are routine; failures surface
        else:  # as DeliveryError on flush
            log.warning("producer: %s", error.str())

    def _raise_failures(self) -> None:
        if self._fatal is not None and not self._unreported:
            raise DeliveryError(
                f"producer hit a fatal error: {self._fatal.str()}",
                error=self._fatal.str(),
                hint="an idempotent producer cannot continue after a fatal error; create a new one",
            )
        if not self._unreported:
            return
        failures, count = list(self._unreported), self._unreported_count
        self._unreported.clear()
        self._unreported_count = 0
        topic, key, error = failures[0]
        first = "first" if count == len(failures) else f"first of the newest {len(failures)}"
        raise DeliveryError(
            f"{count} record(s) not delivered; {first}: topic {topic!r} key {key!r}: {error.str()}",
            topic=topic,
            key=key,
            error=error.str(),
            failures=[(t, k, e.str()) for t, k, e in failures],
            hint=_HINTS.get(error.code()),
        )
