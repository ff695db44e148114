"""DLQ headers: original headers byte for byte, every dlq.* header, bounds, round trip."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta, timezone

import pytest
from confluent_kafka import TIMESTAMP_CREATE_TIME, TIMESTAMP_NOT_AVAILABLE, Message

from harness.dlq import (
    DLQ_HEADER_NAMES,
    MAX_STACKTRACE_BYTES,
    RecordMeta,
    bounded_utf8,
    dlq_headers,
    dlq_topic_for,
    format_failed_at,
    parse_dlq_headers,
)
from harness.errors import ConfigurationError, DecodeError, DlqHeaderError

ORIGINAL_HEADERS: tuple[tuple[str, bytes | None], ...] = (
    ("trace-id", b"\x00\x01\xfe\xff"),  # not UTF-8: must survive untouched
    ("content-type", b"application/json"),
    ("trace-id", b"second value, same name"),
    ("empty", b""),
    ("null", None),
)
FAILED_AT = datetime(2024, 5, 1, 12, 0, 0, 123_000, tzinfo=UTC)


def _raise_and_catch(error: Exception) -> Exception:
    try:
        raise error
    except Exception as caught:
        return caught


def _meta(headers: tuple[tuple[str, bytes | None], ...] = ORIGINAL_HEADERS) -> RecordMeta:
    return RecordMeta("user-events", 2, 41, 1_714_564_800_000, headers)


def test_default_dlq_topic_appends_dlq_suffix() -> None:
    assert dlq_topic_for("user-events") == "user-events-dlq"
    assert dlq_topic_for("orders", ".DLT") == "orders.DLT"


def test_original_headers_come_first_byte_for_byte() -> None:
    headers = dlq_headers(_meta(), ValueError("boom"), 3, "analytics-group", FAILED_AT)
    assert tuple(headers[: len(ORIGINAL_HEADERS)]) == ORIGINAL_HEADERS
    assert [name for name, _ in headers[len(ORIGINAL_HEADERS) :]] == list(DLQ_HEADER_NAMES)


def test_every_dlq_header_is_present_and_utf8_with_the_right_value() -> None:
    error = _raise_and_catch(ValueError("handler said no: ünïcödé"))
    headers = dict(dlq_headers(_meta(()), error, 3, "analytics-group", FAILED_AT))
    decoded = {name: value.decode("utf-8") for name, value in headers.items() if value is not None}
    assert set(decoded) == set(DLQ_HEADER_NAMES)
    assert decoded["dlq.original.topic"] == "user-events"
    assert decoded["dlq.original.partition"] == "2"
    assert decoded["dlq.original.offset"] == "41"
    assert decoded["dlq.original.timestamp"] == "1714564800000"
    assert decoded["dlq.consumer.group"] == "analytics-group"
    assert decoded["dlq.error.class"] == "ValueError"
    assert decoded["dlq.error.message"] == "handler said no: ünïcödé"
    assert "_raise_and_catch" in decoded["dlq.error.stacktrace"]
    assert decoded["dlq.error.stacktrace"].rstrip().endswith("ValueError: handler said no: ünïcödé")
    assert decoded["dlq.attempts"] == "3"
    assert decoded["dlq.failed.at"] == "2024-05-01T12:00:00.123Z"


def test_error_class_is_qualified_outside_builtins() -> None:
    headers = dict(dlq_headers(_meta(), DecodeError("not JSON"), 1, "g", FAILED_AT))
    assert headers["dlq.error.class"] == b"harness.errors.DecodeError"


def test_stacktrace_is_bounded_and_marked_as_truncated() -> None:
    error: Exception | None = None
    for level in range(300):  # a long cause chain: each level adds a traceback section
        try:
            raise ValueError(f"level {level}") from error
        except ValueError as caught:
            error = caught
    assert error is not None
    headers = dict(dlq_headers(_meta(), error, 1, "g", FAILED_AT))
    trace = headers["dlq.error.stacktrace"]
    assert trace is not None
    assert len(trace) <= MAX_STACKTRACE_BYTES
    text = trace.decode("utf-8")
    assert text.startswith("[... ") and "bytes truncated" in text
    assert "ValueError: level 0\n" not in text  # the head was dropped ...
    assert text.rstrip().endswith("ValueError: level 299")  # ... the raise point kept


def test_huge_error_message_is_bounded() -> None:
    headers = dict(dlq_headers(_meta(), ValueError("x" * 100_000), 1, "g", FAILED_AT))
    message = headers["dlq.error.message"]
    assert message is not None and len(message) <= 2 * 1024
    assert message.startswith(b"xxxx") and b"truncated" in message


@pytest.mark.parametrize("keep", ["head", "tail"])
def test_truncation_never_splits_a_multibyte_character(keep: str) -> None:
    for limit in range(60, 90):
        data = bounded_utf8("€" * 500, limit, keep=keep)
        assert len(data) <= limit
        data.decode("utf-8")  # raises if a character was split


def test_short_text_is_not_touched() -> None:
    assert bounded_utf8("fine", 100) == b"fine"


def test_round_trip_through_parse() -> None:
    error = _raise_and_catch(KeyError("user_id"))
    headers = dlq_headers(_meta(), error, 5, "analytics-group", FAILED_AT)
    info = parse_dlq_headers(headers)
    assert info.original_topic == "user-events"
    assert info.original_partition == 2
    assert info.original_offset == 41
    assert info.original_timestamp_ms == 1_714_564_800_000
    assert info.consumer_group == "analytics-group"
    assert info.error_class == "KeyError"
    assert info.error_message == "'user_id'"
    assert "KeyError" in info.error_stacktrace
    assert info.attempts == 5
    assert info.failed_at == FAILED_AT
    assert info.original_headers == ORIGINAL_HEADERS


def test_parse_takes_the_last_dlq_block_when_a_dlq_record_is_dead_lettered_again() -> None:
    first = dlq_headers(_meta(), ValueError("first"), 1, "group-a", FAILED_AT)
    again = RecordMeta("user-events-dlq", 0, 7, None, tuple(first))
    second = dlq_headers(again, ValueError("second"), 2, "group-b", FAILED_AT)
    info = parse_dlq_headers(second)
    assert info.original_topic == "user-events-dlq"
    assert info.consumer_group == "group-b"
    assert info.original_timestamp_ms is None
    assert info.original_headers == tuple(first)


def test_parse_names_every_missing_header() -> None:
    headers = [h for h in dlq_headers(_meta(), ValueError(), 1, "g", FAILED_AT)]
    headers = [h for h in headers if h[0] not in ("dlq.attempts", "dlq.failed.at")]
    with pytest.raises(DlqHeaderError) as info:
        parse_dlq_headers(headers)
    assert "dlq.attempts" in str(info.value) and "dlq.failed.at" in str(info.value)


def test_parse_rejects_malformed_numbers() -> None:
    headers = [
        (name, b"three" if name == "dlq.attempts" else value)
        for name, value in dlq_headers(_meta(), ValueError(), 1, "g", FAILED_AT)
    ]
    with pytest.raises(DlqHeaderError, match=r"dlq\.attempts is not an integer"):
        parse_dlq_headers(headers)


def test_failed_at_is_converted_to_utc_and_must_be_aware() -> None:
    cest = timezone(timedelta(hours=2))
    assert format_failed_at(datetime(2024, 5, 1, 14, 0, tzinfo=cest)) == "2024-05-01T12:00:00.000Z"
    with pytest.raises(ConfigurationError):
        format_failed_at(datetime(2024, 5, 1, 12, 0))


def test_record_meta_from_a_consumed_message() -> None:
    message = Message(
        topic="user-events",
        partition=1,
        offset=9,
        key=b"k",
        value=json.dumps({"user_id": 1}).encode(),
        headers=[("h", b"\xff")],
        timestamp=(TIMESTAMP_CREATE_TIME, 1_700_000_000_000),
    )
    meta = RecordMeta.from_message(message)
    assert meta == RecordMeta("user-events", 1, 9, 1_700_000_000_000, (("h", b"\xff"),))
    no_ts = Message(topic="t", partition=0, offset=0, timestamp=(TIMESTAMP_NOT_AVAILABLE, 0))
    assert RecordMeta.from_message(no_ts).timestamp_ms is None
