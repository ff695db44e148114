"""Read the context of a dead letter whatever wrote it: one typed record for five dialects.

Every writer of dead letters in the Kafka world adds its own headers. The names and value
encodings below were checked against each project's source:

``kafkarig``
    ``dlq.original.{topic,partition,offset,timestamp}``, ``dlq.consumer.group``,
    ``dlq.error.{class,message,stacktrace}``, ``dlq.attempts``, ``dlq.failed.at``: all UTF-8
    (:mod:`harness.dlq` writes and strictly parses them).
``share-group``
    Kafka's broker-side DLQ for share groups (KIP-1191, Kafka 4.4
    ``ShareGroupDLQStateManager``): ``__dlq.errors.{topic,partition,offset,group,
    delivery.count,message}``, all UTF-8 (numbers as decimal text). The broker does not copy
    the original headers, and copies key and value only with the group config
    ``errors.deadletterqueue.copy.record.enable=true``.
``streams``
    Kafka Streams (KIP-1034, ``ExceptionHandlerUtils``): ``__streams.errors.{exception,
    message,stacktrace,topic,partition,offset}``, all UTF-8; ``exception`` holds Java's
    ``Throwable.toString()`` (``"java.lang.NullPointerException: Oopsie!"``), so the class is
    the text before the first ``": "``.
``spring``
    Spring for Apache Kafka (``DeadLetterPublishingRecoverer`` / ``DeadLetterRecordManager``,
    unchanged from 2.2 to 4.x): ``kafka_dlt-original-{topic,partition,offset,timestamp,
    timestamp-type,consumer-group}`` and ``kafka_dlt-exception-{fqcn,cause-fqcn,message,
    stacktrace}`` (``kafka_dlt-key-exception-*`` for key deserialization failures). Partition
    is a 4-byte big-endian int, offset and timestamp are 8-byte big-endian longs, the rest
    UTF-8. Retry topics add ``retry_topic-attempts`` (4-byte big-endian int; 1 byte in old
    versions).
``connect``
    Kafka Connect (``DeadLetterQueueReporter``, ``errors.deadletterqueue.context.headers.
    enable``): ``__connect.errors.{topic,partition,offset,connector.name,task.id,stage,
    class.name,exception.class.name,exception.message,exception.stacktrace}``, all UTF-8.

Headers are appended, so when a record passed through several writers the last dialect in
header order is the latest writer: :func:`read_dead_letter` returns its context,
:func:`read_dead_letters` all of them in the order they were written. Nothing here talks
to Kafka.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Final, Literal

from harness.dlq import DLQ_HEADER_NAMES, Header, normalize_headers, parse_dlq_headers
from harness.errors import DlqHeaderError

Dialect = Literal["kafkarig", "share-group", "streams", "spring", "connect"]
HeadersLike = Sequence[tuple[str, str | bytes | None]] | Mapping[str, str | bytes | None] | None

SHARE_PREFIX: Final = "__dlq.errors."
STREAMS_PREFIX: Final = "__streams.errors."
SPRING_PREFIX: Final = "kafka_dlt-"
SPRING_ATTEMPTS: Final = "retry_topic-attempts"
CONNECT_PREFIX: Final = "__connect.errors."

#: The KIP-1191 headers a Kafka 4.4 broker writes, in its order (message only with a cause).
SHARE_HEADER_NAMES: Final[tuple[str, ...]] = tuple(
    SHARE_PREFIX + name
    for name in ("topic", "partition", "offset", "group", "delivery.count", "message")
)


@dataclass(frozen=True)
class DeadLetterContext:
    """Why and from where a record was dead-lettered, as one dialect's headers tell it.

    ``attempts`` is kafkarig's ``dlq.attempts``, the share group's delivery count, or
    Spring's ``retry_topic-attempts``; ``None`` where the dialect has no such header.
    ``details`` holds dialect-only facts (Connect's connector and stage, Spring's timestamp
    type and cause class ...) as ``(name, text)``; ``context_headers`` names the headers
    read; ``other_headers`` keeps, in order and byte for byte, every header of no dialect.
    """

    dialect: Dialect
    source_topic: str | None
    source_partition: int | None
    source_offset: int | None
    source_timestamp_ms: int | None = None
    group: str | None = None
    error_class: str | None = None
    error_message: str | None = None
    stacktrace: str | None = None
    attempts: int | None = None
    failed_at: datetime | None = None
    details: tuple[tuple[str, str], ...] = ()
    context_headers: tuple[str, ...] = ()
    other_headers: tuple[Header, ...] = ()

    @property
    def source(self) -> str:
        """``topic[partition]@offset`` of the original record (``?`` for what is unknown)."""
        topic = self.source_topic or "?"
        partition = "?" if self.source_partition is None else self.source_partition
        offset = "?" if self.source_offset is None else self.source_offset
        return f"{topic}[{partition}]@{offset}"


def dialect_of(name: str) -> Dialect | None:
    """The dialect a header name belongs to, or ``None`` for an ordinary header."""
    if name in DLQ_HEADER_NAMES:
        return "kafkarig"
    if name.startswith(SHARE_PREFIX):
        return "share-group"
    if name.startswith(STREAMS_PREFIX):
        return "streams"
    if name.startswith(SPRING_PREFIX) or name == SPRING_ATTEMPTS:
        return "spring"
    if name.startswith(CONNECT_PREFIX):
        return "connect"
    return None


def detect_dialects(headers: HeadersLike) -> list[Dialect]:
    """The dialects present in ``headers``, ordered by their last header (latest writer last)."""
    last_seen: dict[Dialect, int] = {}
    for index, (name, _) in enumerate(normalize_headers(headers)):
        dialect = dialect_of(name)
        if dialect is not None:
            last_seen[dialect] = index
    return sorted(last_seen, key=last_seen.__getitem__)


def read_dead_letter(headers: HeadersLike) -> DeadLetterContext:
    """The context of the latest dead-letter writer in ``headers``.

    Raises :class:`~harness.errors.DlqHeaderError` when no dialect's headers are present, or
    when a present header cannot be decoded (naming the header and its bytes).
    """
    contexts = read_dead_letters(headers)
    if not contexts:
        names = ", ".join(name for name, _ in normalize_headers(headers)) or "no headers"
        raise DlqHeaderError(
            f"not a dead letter: no header of any known DLQ dialect (saw {names})",
            hint="known: kafkarig dlq.*, share groups __dlq.errors.*, Kafka Streams "
            "__streams.errors.*, Spring kafka_dlt-*, Kafka Connect __connect.errors.*",
        )
    return contexts[-1]


def read_dead_letters(headers: HeadersLike) -> list[DeadLetterContext]:
    """One context per dialect present, in the order the writers added them."""
    items = normalize_headers(headers)
    return [_READERS[dialect](items) for dialect in detect_dialects(items)]


# -- decoding helpers ------------------------------------------------------------------------


class _Headers:
    """The headers of one dialect, decoded on demand; every problem names its header."""

    def __init__(self, items: tuple[Header, ...], dialect: Dialect) -> None:
        self.dialect = dialect
        self.items = items
        self.own = [(name, value) for name, value in items if dialect_of(name) == dialect]

    def raw(self, name: str, *, first: bool = False) -> bytes | None:
        values = [value for header, value in self.own if header == name]
        if not values:
            return None
        return values[0] if first else values[-1]

    def text(self, name: str, *, first: bool = False) -> str | None:
        raw = self.raw(name, first=first)
        if raw is None:
            return None
        try:
            return raw.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise _malformed(name, raw, f"not UTF-8 ({exc.reason})") from exc

    def decimal(self, name: str, *, first: bool = False) -> int | None:
        text = self.text(name, first=first)
        if text is None:
            return None
        try:
            return int(text)
        except ValueError as exc:
            raise _malformed(name, text.encode(), "not a decimal integer") from exc

    def big_endian(self, name: str, size: int, *, first: bool = False) -> int | None:
        raw = self.raw(name, first=first)
        if raw is None:
            return None
        if len(raw) != size:
            raise _malformed(name, raw, f"expected a big-endian integer of {size} bytes")
        return int.from_bytes(raw, "big", signed=True)

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(dict.fromkeys(name for name, _ in self.own))

    @property
    def others(self) -> tuple[Header, ...]:
        return tuple(item for item in self.items if dialect_of(item[0]) is None)


def _malformed(name: str, raw: bytes, why: str) -> DlqHeaderError:
    return DlqHeaderError(f"malformed DLQ header {name}: {why}; value {raw[:60]!r}")


def _details(pairs: Sequence[tuple[str, str | None]]) -> tuple[tuple[str, str], ...]:
    return tuple((name, value) for name, value in pairs if value is not None)


# -- one reader per dialect --------------------------------------------------------------


def _read_kafkarig(items: tuple[Header, ...]) -> DeadLetterContext:
    info = parse_dlq_headers(items)
    headers = _Headers(items, "kafkarig")
    return DeadLetterContext(
        dialect=headers.dialect,
        context_headers=headers.names,
        other_headers=headers.others,
        source_topic=info.original_topic,
        source_partition=info.original_partition,
        source_offset=info.original_offset,
        source_timestamp_ms=info.original_timestamp_ms,
        group=info.consumer_group,
        error_class=info.error_class,
        error_message=info.error_message,
        stacktrace=info.error_stacktrace,
        attempts=info.attempts,
        failed_at=info.failed_at,
    )


def _read_share_group(items: tuple[Header, ...]) -> DeadLetterContext:
    headers = _Headers(items, "share-group")
    return DeadLetterContext(
        dialect=headers.dialect,
        context_headers=headers.names,
        other_headers=headers.others,
        source_topic=headers.text(SHARE_PREFIX + "topic"),
        source_partition=headers.decimal(SHARE_PREFIX + "partition"),
        source_offset=headers.decimal(SHARE_PREFIX + "offset"),
        group=headers.text(SHARE_PREFIX + "group"),
        error_message=headers.text(SHARE_PREFIX + "message"),
        attempts=headers.decimal(SHARE_PREFIX + "delivery.count"),
    )


def _read_streams(items: tuple[Header, ...]) -> DeadLetterContext:
    headers = _Headers(items, "streams")
    exception = headers.text(STREAMS_PREFIX + "exception")
    return DeadLetterContext(
        dialect=headers.dialect,
        context_headers=headers.names,
        other_headers=headers.others,
        source_topic=headers.text(STREAMS_PREFIX + "topic"),
        source_partition=headers.decimal(STREAMS_PREFIX + "partition"),
        source_offset=headers.decimal(STREAMS_PREFIX + "offset"),
        error_class=None if exception is None else exception.split(": ", 1)[0],
        error_message=headers.text(STREAMS_PREFIX + "message"),
        stacktrace=headers.text(STREAMS_PREFIX + "stacktrace"),
        details=_details([("exception", exception)]),
    )


def _read_spring(items: tuple[Header, ...]) -> DeadLetterContext:
    headers = _Headers(items, "spring")

    def original(name: str) -> str:
        return f"{SPRING_PREFIX}original-{name}"

    def exception(name: str) -> str | None:
        # A value failure writes exception-*, a key deserialization failure key-exception-*.
        value = headers.text(f"{SPRING_PREFIX}exception-{name}")
        return value if value is not None else headers.text(f"{SPRING_PREFIX}key-exception-{name}")

    attempts_raw = headers.raw(SPRING_ATTEMPTS)
    attempts = (
        attempts_raw[0]
        if attempts_raw is not None and len(attempts_raw) == 1
        else headers.big_endian(SPRING_ATTEMPTS, 4)
    )
    # Original-* headers describe the first record of a retry chain: take the first copy.
    return DeadLetterContext(
        dialect=headers.dialect,
        context_headers=headers.names,
        other_headers=headers.others,
        source_topic=headers.text(original("topic"), first=True),
        source_partition=headers.big_endian(original("partition"), 4, first=True),
        source_offset=headers.big_endian(original("offset"), 8, first=True),
        source_timestamp_ms=headers.big_endian(original("timestamp"), 8, first=True),
        group=headers.text(original("consumer-group"), first=True),
        error_class=exception("fqcn"),
        error_message=exception("message"),
        stacktrace=exception("stacktrace"),
        attempts=attempts,
        details=_details(
            [
                ("timestamp-type", headers.text(original("timestamp-type"), first=True)),
                ("cause", headers.text(f"{SPRING_PREFIX}exception-cause-fqcn")),
                ("failed-on", "key" if headers.raw(f"{SPRING_PREFIX}key-exception-fqcn") else None),
            ]
        ),
    )


def _read_connect(items: tuple[Header, ...]) -> DeadLetterContext:
    headers = _Headers(items, "connect")

    def text(name: str) -> str | None:
        return headers.text(CONNECT_PREFIX + name)

    return DeadLetterContext(
        dialect=headers.dialect,
        context_headers=headers.names,
        other_headers=headers.others,
        source_topic=text("topic"),
        source_partition=headers.decimal(CONNECT_PREFIX + "partition"),
        source_offset=headers.decimal(CONNECT_PREFIX + "offset"),
        error_class=text("exception.class.name"),
        error_message=text("exception.message"),
        stacktrace=text("exception.stacktrace"),
        details=_details(
            [
                ("connector", text("connector.name")),
                ("task", text("task.id")),
                ("stage", text("stage")),
                ("class", text("class.name")),
            ]
        ),
    )


_READERS: Final[Mapping[Dialect, Callable[[tuple[Header, ...]], DeadLetterContext]]] = {
    "kafkarig": _read_kafkarig,
    "share-group": _read_share_group,
    "streams": _read_streams,
    "spring": _read_spring,
    "connect": _read_connect,
}
