"""Each DLQ dialect's headers, built here as its writer encodes them, read into one record."""

from __future__ import annotations

import struct
from datetime import UTC, datetime

import pytest
from confluent_kafka import Message

from harness.dlq import RecordMeta, dlq_headers
from harness.dlq_dialects import (
    SHARE_HEADER_NAMES,
    DeadLetterContext,
    detect_dialects,
    read_dead_letter,
    read_dead_letters,
)
from harness.errors import DlqHeaderError

ORIGINAL: tuple[tuple[str, bytes | None], ...] = (("trace-id", b"\xfe\xff"), ("null", None))
STACK = "java.lang.IllegalStateException: no\n\tat com.example.Handler.handle(Handler.java:42)\n"


def _utf8(pairs: list[tuple[str, str]]) -> list[tuple[str, bytes | None]]:
    return [(name, value.encode("utf-8")) for name, value in pairs]


def _as_message(headers: list[tuple[str, bytes | None]]) -> Message:
    """A consumed-looking record carrying ``headers`` (what ``dlq show`` gets from poll)."""
    return Message(topic="any-dlq", partition=0, offset=7, key=b"k", value=b"v", headers=headers)


def test_kafkarig_dlq_headers_are_read_with_their_original_headers() -> None:
    meta = RecordMeta("user-events", 2, 41, 1_714_564_800_000, ORIGINAL)
    failed_at = datetime(2024, 5, 1, 12, 0, 0, 123_000, tzinfo=UTC)
    headers = dlq_headers(meta, ValueError("nope"), 3, "analytics-group", failed_at)

    context = read_dead_letter(_as_message(headers).headers())

    assert context.dialect == "kafkarig"
    assert (context.source, context.source_timestamp_ms) == ("user-events[2]@41", 1_714_564_800_000)
    assert (context.group, context.error_class, context.error_message) == (
        "analytics-group",
        "ValueError",
        "nope",
    )
    assert (context.attempts, context.failed_at) == (3, failed_at)
    assert context.other_headers == ORIGINAL


def test_share_group_dlq_headers_as_a_kafka_4_4_broker_writes_them() -> None:
    # Byte for byte what ShareGroupDLQStateManager wrote in our Kafka 4.4.0 run.
    headers = _utf8(
        [
            ("__dlq.errors.topic", "q-d1f352"),
            ("__dlq.errors.partition", "0"),
            ("__dlq.errors.offset", "1"),
            ("__dlq.errors.group", "g-d1f352"),
            ("__dlq.errors.delivery.count", "3"),
            ("__dlq.errors.message", "Offset delivery count exceeded the threshold."),
        ]
    )

    context = read_dead_letter(headers)

    assert context.dialect == "share-group"
    assert context.source == "q-d1f352[0]@1"
    assert (context.group, context.attempts) == ("g-d1f352", 3)
    assert context.error_message == "Offset delivery count exceeded the threshold."
    assert context.error_class is None and context.stacktrace is None
    assert context.context_headers == SHARE_HEADER_NAMES


def test_share_group_dlq_without_a_cause_has_no_message() -> None:
    headers = _utf8([(name, "x") for name in SHARE_HEADER_NAMES[:4]])
    headers[1] = ("__dlq.errors.partition", b"5")
    headers[2] = ("__dlq.errors.offset", b"9")
    context = read_dead_letter(headers)
    assert (context.source_partition, context.source_offset) == (5, 9)
    assert (context.error_message, context.attempts) == (None, None)


def test_streams_headers_split_the_exception_text_into_class_and_message() -> None:
    headers = [
        *ORIGINAL,
        *_utf8(
            [
                ("__streams.errors.exception", "java.lang.NullPointerException: Oopsie!"),
                ("__streams.errors.message", "Oopsie!"),
                ("__streams.errors.stacktrace", STACK),
                ("__streams.errors.topic", "source"),
                ("__streams.errors.partition", "3"),
                ("__streams.errors.offset", "2"),
            ]
        ),
    ]

    context = read_dead_letter(headers)

    assert context.dialect == "streams"
    assert context.source == "source[3]@2"
    assert (context.error_class, context.error_message) == (
        "java.lang.NullPointerException",
        "Oopsie!",
    )
    assert context.stacktrace == STACK
    assert context.other_headers == ORIGINAL


def test_streams_exception_without_a_message_is_the_class_alone() -> None:
    headers: list[tuple[str, bytes | None]] = [
        ("__streams.errors.exception", b"java.lang.NullPointerException"),
        ("__streams.errors.message", None),  # StringSerializer(null) writes a null value
    ]
    context = read_dead_letter(headers)
    assert (context.error_class, context.error_message) == ("java.lang.NullPointerException", None)


def _spring_headers(
    partition: int, offset: int, timestamp_ms: int
) -> list[tuple[str, bytes | None]]:
    return [
        ("kafka_dlt-original-topic", b"orders"),
        ("kafka_dlt-original-partition", struct.pack(">i", partition)),
        ("kafka_dlt-original-offset", struct.pack(">q", offset)),
        ("kafka_dlt-original-timestamp", struct.pack(">q", timestamp_ms)),
        ("kafka_dlt-original-timestamp-type", b"CreateTime"),
        ("kafka_dlt-original-consumer-group", b"order-service"),
        (
            "kafka_dlt-exception-fqcn",
            b"org.springframework.kafka.listener.ListenerExecutionFailedException",
        ),
        ("kafka_dlt-exception-cause-fqcn", b"java.lang.IllegalStateException"),
        ("kafka_dlt-exception-message", b"Listener failed; no"),
        ("kafka_dlt-exception-stacktrace", STACK.encode()),
    ]


def test_spring_binary_partition_offset_and_timestamp_are_big_endian() -> None:
    headers = _spring_headers(partition=258, offset=2**33 + 5, timestamp_ms=1_714_564_800_000)

    context = read_dead_letter(headers)

    assert context.dialect == "spring"
    assert (context.source_topic, context.source_partition, context.source_offset) == (
        "orders",
        258,
        2**33 + 5,
    )
    assert context.source_timestamp_ms == 1_714_564_800_000
    assert context.group == "order-service"
    assert (
        context.error_class == "org.springframework.kafka.listener.ListenerExecutionFailedException"
    )
    assert dict(context.details) == {
        "timestamp-type": "CreateTime",
        "cause": "java.lang.IllegalStateException",
    }


def test_spring_retry_topic_attempts_in_four_bytes_and_in_the_old_single_byte() -> None:
    four = [*_spring_headers(0, 1, 2), ("retry_topic-attempts", struct.pack(">i", 4))]
    one = [*_spring_headers(0, 1, 2), ("retry_topic-attempts", b"\x03")]
    assert read_dead_letter(four).attempts == 4
    assert read_dead_letter(one).attempts == 3


def test_spring_keeps_the_first_original_and_the_last_exception_of_a_retry_chain() -> None:
    first_hop = _spring_headers(partition=1, offset=10, timestamp_ms=100)
    second_hop = [
        ("kafka_dlt-original-topic", b"orders-retry-0"),
        ("kafka_dlt-original-partition", struct.pack(">i", 0)),
        ("kafka_dlt-exception-message", b"failed again"),
    ]
    context = read_dead_letter(first_hop + second_hop)
    assert context.source == "orders[1]@10"
    assert context.error_message == "failed again"


def test_spring_key_deserialization_failure_is_read_from_the_key_headers() -> None:
    headers = [
        ("kafka_dlt-key-exception-fqcn", b"org.apache.kafka.common.errors.SerializationException"),
        ("kafka_dlt-key-exception-message", b"bad key"),
    ]
    context = read_dead_letter(headers)
    assert context.error_class == "org.apache.kafka.common.errors.SerializationException"
    assert dict(context.details)["failed-on"] == "key"


def test_spring_partition_written_as_text_is_reported_not_guessed() -> None:
    headers = [("kafka_dlt-original-partition", b"12")]
    with pytest.raises(
        DlqHeaderError, match=r"kafka_dlt-original-partition.*big-endian integer of 4 bytes"
    ):
        read_dead_letter(headers)


def test_connect_context_headers_with_connector_task_and_stage() -> None:
    headers = _utf8(
        [
            ("__connect.errors.topic", "pageviews"),
            ("__connect.errors.partition", "4"),
            ("__connect.errors.offset", "1234"),
            ("__connect.errors.connector.name", "jdbc-sink"),
            ("__connect.errors.task.id", "0"),
            ("__connect.errors.stage", "VALUE_CONVERTER"),
            ("__connect.errors.class.name", "org.apache.kafka.connect.json.JsonConverter"),
            (
                "__connect.errors.exception.class.name",
                "org.apache.kafka.connect.errors.DataException",
            ),
            (
                "__connect.errors.exception.message",
                "Converting byte[] to Kafka Connect data failed",
            ),
            ("__connect.errors.exception.stacktrace", STACK),
        ]
    )

    context = read_dead_letter(headers)

    assert context.dialect == "connect"
    assert context.source == "pageviews[4]@1234"
    assert context.error_class == "org.apache.kafka.connect.errors.DataException"
    assert dict(context.details) == {
        "connector": "jdbc-sink",
        "task": "0",
        "stage": "VALUE_CONVERTER",
        "class": "org.apache.kafka.connect.json.JsonConverter",
    }


def test_several_writers_are_read_in_order_and_the_latest_wins() -> None:
    streams = _utf8([("__streams.errors.topic", "a"), ("__streams.errors.offset", "1")])
    share = _utf8([("__dlq.errors.topic", "b"), ("__dlq.errors.offset", "2")])
    headers = streams + share

    assert detect_dialects(headers) == ["streams", "share-group"]
    contexts = read_dead_letters(headers)
    assert [c.dialect for c in contexts] == ["streams", "share-group"]
    assert read_dead_letter(headers).source_topic == "b"


def test_a_record_without_dlq_headers_is_not_a_dead_letter() -> None:
    with pytest.raises(DlqHeaderError, match=r"no header of any known DLQ dialect \(saw trace-id"):
        read_dead_letter(list(ORIGINAL))
    assert read_dead_letters(None) == []


@pytest.mark.parametrize(
    ("name", "raw", "why"),
    [
        ("__dlq.errors.offset", b"twelve", "not a decimal integer"),
        ("__connect.errors.partition", b"\xff", "not UTF-8"),
        ("kafka_dlt-original-offset", b"\x00\x01", "big-endian integer of 8 bytes"),
    ],
)
def test_a_malformed_header_is_named_with_its_bytes(name: str, raw: bytes, why: str) -> None:
    with pytest.raises(DlqHeaderError) as caught:
        read_dead_letter([(name, raw)])
    message = caught.value.message
    assert f"malformed DLQ header {name}: " in message
    assert why in message and repr(raw) in message


def test_source_shows_question_marks_for_what_is_unknown() -> None:
    context = DeadLetterContext("share-group", "t", None, None)
    assert context.source == "t[?]@?"
