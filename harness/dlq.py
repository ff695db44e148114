"""Dead-letter-queue record headers: pure encoding and decoding.

A DLQ record keeps the original key, value and headers byte for byte and appends these
UTF-8 headers (in this order)::

    dlq.original.topic       source topic
    dlq.original.partition   source partition, decimal
    dlq.original.offset      source offset, decimal
    dlq.original.timestamp   source record timestamp, ms since the epoch, decimal (-1: none)
    dlq.consumer.group       consumer group that gave up on the record
    dlq.error.class          qualified class name of the last error
    dlq.error.message        str() of the last error (bounded)
    dlq.error.stacktrace     formatted traceback of the last error (bounded, tail kept)
    dlq.attempts             processing attempts, decimal: handler calls, or 1 when the
                             value could not even be decoded (decoding was the attempt)
    dlq.failed.at            when the consumer gave up, ISO-8601 UTC with milliseconds

Nothing here talks to Kafka; :mod:`harness.consumer` produces the record.
"""

from __future__ import annotations

import traceback
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Final

from confluent_kafka import TIMESTAMP_NOT_AVAILABLE, Message

from harness.errors import ConfigurationError, DlqHeaderError

#: Default DLQ topic name suffix: ``user-events`` -> ``user-events-dlq``.
DLQ_SUFFIX: Final = "-dlq"

H_ORIGINAL_TOPIC: Final = "dlq.original.topic"
H_ORIGINAL_PARTITION: Final = "dlq.original.partition"
H_ORIGINAL_OFFSET: Final = "dlq.original.offset"
H_ORIGINAL_TIMESTAMP: Final = "dlq.original.timestamp"
H_CONSUMER_GROUP: Final = "dlq.consumer.group"
H_ERROR_CLASS: Final = "dlq.error.class"
H_ERROR_MESSAGE: Final = "dlq.error.message"
H_ERROR_STACKTRACE: Final = "dlq.error.stacktrace"
H_ATTEMPTS: Final = "dlq.attempts"
H_FAILED_AT: Final = "dlq.failed.at"

#: Every header :func:`dlq_headers` appends, in the order it appends them.
DLQ_HEADER_NAMES: Final[tuple[str, ...]] = (
    H_ORIGINAL_TOPIC,
    H_ORIGINAL_PARTITION,
    H_ORIGINAL_OFFSET,
    H_ORIGINAL_TIMESTAMP,
    H_CONSUMER_GROUP,
    H_ERROR_CLASS,
    H_ERROR_MESSAGE,
    H_ERROR_STACKTRACE,
    H_ATTEMPTS,
    H_FAILED_AT,
)

#: Bound of ``dlq.error.stacktrace`` in bytes (the tail, where the raise is, is kept).
MAX_STACKTRACE_BYTES: Final = 8 * 1024
#: Bound of ``dlq.error.message`` in bytes (the head is kept).
MAX_ERROR_MESSAGE_BYTES: Final = 2 * 1024

_TRUNCATED: Final = "[... {} bytes truncated ...]"

Header = tuple[str, bytes | None]


def dlq_topic_for(topic: str, suffix: str = DLQ_SUFFIX) -> str:
    """The dead-letter topic of ``topic``: ``<topic>-dlq`` by default."""
    return f"{topic}{suffix}"


@dataclass(frozen=True)
class RecordMeta:
    """Where a record came from, and its headers: what the DLQ headers are built from."""

    topic: str
    partition: int
    offset: int
    timestamp_ms: int | None
    headers: tuple[Header, ...] = ()

    @classmethod
    def from_message(cls, message: Message) -> RecordMeta:
        """Take the metadata of a consumed ``confluent_kafka.Message``."""
        ts_type, ts = message.timestamp()
        topic, partition, offset = message.topic(), message.partition(), message.offset()
        if topic is None or partition is None or offset is None:
            raise ConfigurationError(
                "a consumed record is needed (topic, partition and offset set), "
                f"got topic={topic!r} partition={partition!r} offset={offset!r}"
            )
        return cls(
            topic=topic,
            partition=partition,
            offset=offset,
            timestamp_ms=None if ts_type == TIMESTAMP_NOT_AVAILABLE else ts,
            headers=normalize_headers(message.headers()),
        )


def normalize_headers(
    headers: Sequence[tuple[str, str | bytes | None]] | Mapping[str, str | bytes | None] | None,
) -> tuple[Header, ...]:
    """Headers as a tuple of ``(name, bytes | None)``, order and duplicates kept.

    Values a consumer hands back are already ``bytes`` and pass through untouched; ``str``
    values (only in locally built headers) are encoded as UTF-8.
    """
    if headers is None:
        return ()
    items = headers.items() if isinstance(headers, Mapping) else headers
    return tuple(
        (name, value.encode("utf-8") if isinstance(value, str) else value) for name, value in items
    )


def bounded_utf8(text: str, limit_bytes: int, *, keep: str = "head") -> bytes:
    """``text`` as UTF-8, cut to at most ``limit_bytes`` with a visible truncation marker.

    ``keep="head"`` keeps the beginning, ``keep="tail"`` the end. Multi-byte characters are
    never split, so the result is always valid UTF-8.
    """
    if keep not in ("head", "tail"):
        raise ConfigurationError(f"keep must be 'head' or 'tail', got {keep!r}")
    data = text.encode("utf-8", "replace")
    if len(data) <= limit_bytes:
        return data
    worst_marker = _TRUNCATED.format(len(data)) + "\n"
    room = limit_bytes - len(worst_marker.encode("utf-8"))
    if room <= 0:
        raise ConfigurationError(f"limit_bytes={limit_bytes} leaves no room for the text")
    if keep == "tail":
        kept = data[-room:].decode("utf-8", "ignore")
        dropped = len(data) - len(kept.encode("utf-8"))
        return (_TRUNCATED.format(dropped) + "\n" + kept).encode("utf-8")
    kept = data[:room].decode("utf-8", "ignore")
    dropped = len(data) - len(kept.encode("utf-8"))
    return (kept + "\n" + _TRUNCATED.format(dropped)).encode("utf-8")


def error_class_name(error: BaseException) -> str:
    """Qualified class name of ``error``: ``json.decoder.JSONDecodeError``, ``ValueError``."""
    cls = type(error)
    return (
        cls.__qualname__ if cls.__module__ == "builtins" else f"{cls.__module__}.{cls.__qualname__}"
    )


def format_failed_at(failed_at: datetime) -> str:
    """``failed_at`` as ISO-8601 UTC with milliseconds and a ``Z``: 2024-05-01T12:00:00.123Z."""
    if failed_at.tzinfo is None:
        raise ConfigurationError(
            "failed_at must be timezone-aware", hint="use datetime.now(datetime.UTC)"
        )
    text = failed_at.astimezone(UTC).isoformat(timespec="milliseconds")
    return text.removesuffix("+00:00") + "Z"


def dlq_headers(
    meta: RecordMeta,
    error: BaseException,
    attempts: int,
    group: str,
    failed_at: datetime,
    *,
    max_stacktrace_bytes: int = MAX_STACKTRACE_BYTES,
    max_message_bytes: int = MAX_ERROR_MESSAGE_BYTES,
) -> list[Header]:
    """Headers for the DLQ copy of a record: the original ones byte for byte, then ``dlq.*``.

    ``attempts`` is how many processing attempts were made (see the module docstring).
    The stack trace is that of ``error`` (with its chained causes), bounded to
    ``max_stacktrace_bytes``; the message is bounded to ``max_message_bytes``.
    """
    stacktrace = "".join(traceback.format_exception(error))
    added: list[tuple[str, str | bytes]] = [
        (H_ORIGINAL_TOPIC, meta.topic),
        (H_ORIGINAL_PARTITION, str(meta.partition)),
        (H_ORIGINAL_OFFSET, str(meta.offset)),
        (H_ORIGINAL_TIMESTAMP, str(-1 if meta.timestamp_ms is None else meta.timestamp_ms)),
        (H_CONSUMER_GROUP, group),
        (H_ERROR_CLASS, error_class_name(error)),
        (H_ERROR_MESSAGE, bounded_utf8(str(error), max_message_bytes, keep="head")),
        (H_ERROR_STACKTRACE, bounded_utf8(stacktrace, max_stacktrace_bytes, keep="tail")),
        (H_ATTEMPTS, str(attempts)),
        (H_FAILED_AT, format_failed_at(failed_at)),
    ]
    return list(meta.headers) + [
        (name, value if isinstance(value, bytes) else value.encode("utf-8"))
        for name, value in added
    ]


@dataclass(frozen=True)
class DlqInfo:
    """The decoded ``dlq.*`` headers of a DLQ record, plus the original headers."""

    original_topic: str
    original_partition: int
    original_offset: int
    original_timestamp_ms: int | None
    consumer_group: str
    error_class: str
    error_message: str
    error_stacktrace: str
    attempts: int
    failed_at: datetime
    original_headers: tuple[Header, ...]


def parse_dlq_headers(
    headers: Sequence[tuple[str, str | bytes | None]] | Mapping[str, str | bytes | None] | None,
) -> DlqInfo:
    """Decode the headers of a DLQ record written by :func:`dlq_headers`.

    The ``dlq.*`` headers are taken from their last occurrence (the ones the consumer
    appended); everything else, in order, is returned as ``original_headers``. Raises
    :class:`~harness.errors.DlqHeaderError` naming every missing or malformed header.
    """
    items = list(normalize_headers(headers))
    found: dict[str, bytes | None] = {}
    appended_at: set[int] = set()
    for index in range(len(items) - 1, -1, -1):
        name, value = items[index]
        if name in DLQ_HEADER_NAMES and name not in found:
            found[name] = value
            appended_at.add(index)
    missing = [name for name in DLQ_HEADER_NAMES if found.get(name) is None]
    if missing:
        raise DlqHeaderError(
            f"not a DLQ record: missing header(s) {', '.join(missing)}",
            hint=f"expected all of {', '.join(DLQ_HEADER_NAMES)}; "
            f"saw {', '.join(name for name, _ in items) or 'no headers'}",
        )
    text: dict[str, str] = {}
    problems: list[str] = []
    for name in DLQ_HEADER_NAMES:
        raw = found[name]
        assert raw is not None  # checked above
        try:
            text[name] = raw.decode("utf-8")
        except UnicodeDecodeError as exc:
            problems.append(f"{name} is not UTF-8 ({exc.reason})")

    def as_int(name: str) -> int:
        try:
            return int(text.get(name, "0"))
        except ValueError:
            problems.append(f"{name} is not an integer: {text[name]!r}")
            return 0

    partition = as_int(H_ORIGINAL_PARTITION)
    offset = as_int(H_ORIGINAL_OFFSET)
    timestamp = as_int(H_ORIGINAL_TIMESTAMP)
    attempts = as_int(H_ATTEMPTS)
    failed_at = datetime.fromtimestamp(0, UTC)
    try:
        failed_at = datetime.fromisoformat(text.get(H_FAILED_AT, ""))
    except ValueError:
        problems.append(f"{H_FAILED_AT} is not ISO-8601: {text.get(H_FAILED_AT)!r}")
    if problems:
        raise DlqHeaderError("malformed DLQ headers: " + "; ".join(problems))
    return DlqInfo(
        original_topic=text[H_ORIGINAL_TOPIC],
        original_partition=partition,
        original_offset=offset,
        original_timestamp_ms=None if timestamp < 0 else timestamp,
        consumer_group=text[H_CONSUMER_GROUP],
        error_class=text[H_ERROR_CLASS],
        error_message=text[H_ERROR_MESSAGE],
        error_stacktrace=text[H_ERROR_STACKTRACE],
        attempts=attempts,
        failed_at=failed_at,
        original_headers=tuple(item for i, item in enumerate(items) if i not in appended_at),
    )
