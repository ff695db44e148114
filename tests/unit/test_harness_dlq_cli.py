"""``kafkarig dlq show``: found as a plugin by the CLI, and its output for each dialect."""

from __future__ import annotations

import io
import json
import struct

import pytest
from confluent_kafka import Message

from harness.dlq_cli import describe, parse_properties, print_record
from harness.errors import ConfigurationError
from infra.cli import build_parser


def _dead_letter(headers: list[tuple[str, bytes | None]]) -> Message:
    return Message(
        topic="dlq.orders", partition=1, offset=5, key=b"id-7", value=b"{}", headers=headers
    )


SHARE = [
    ("__dlq.errors.topic", b"orders"),
    ("__dlq.errors.partition", b"2"),
    ("__dlq.errors.offset", b"40"),
    ("__dlq.errors.group", b"workers"),
    ("__dlq.errors.delivery.count", b"3"),
    ("__dlq.errors.message", b"Offset delivery count exceeded the threshold."),
]


def test_the_cli_finds_the_dlq_command_through_its_entry_point() -> None:
    args = build_parser().parse_args(["dlq", "show", "user-events-dlq", "--max", "3", "-X", "a=b"])
    assert (args.topic, args.max_records, args.property) == ("user-events-dlq", 3, ["a=b"])
    assert args.handler.__module__ == "harness.dlq_cli"


def test_properties_are_key_value_pairs() -> None:
    assert parse_properties(["security.protocol=SSL", "x=a=b"]) == {
        "security.protocol": "SSL",
        "x": "a=b",
    }
    with pytest.raises(ConfigurationError, match="is not KEY=VALUE"):
        parse_properties(["oops"])


def test_a_share_group_dead_letter_is_printed_with_its_context() -> None:
    out = io.StringIO()
    print_record(_dead_letter(SHARE), out)
    assert out.getvalue().splitlines() == [
        "dlq.orders[1]@5  key=id-7",
        "  dialect  share-group",
        "  source   orders[2]@40",
        "  group    workers",
        "  attempts 3",
        "  error    Offset delivery count exceeded the threshold.",
    ]


def test_a_spring_dead_letter_as_json_has_its_decoded_binary_fields() -> None:
    headers = [
        ("kafka_dlt-original-topic", b"orders"),
        ("kafka_dlt-original-partition", struct.pack(">i", 2)),
        ("kafka_dlt-original-offset", struct.pack(">q", 40)),
        ("kafka_dlt-exception-fqcn", b"java.lang.IllegalStateException"),
        ("kafka_dlt-exception-message", b"no"),
    ]
    out = io.StringIO()
    print_record(_dead_letter(headers), out, as_json=True)
    record = json.loads(out.getvalue())
    assert (record["dialect"], record["source_partition"], record["source_offset"]) == (
        "spring",
        2,
        40,
    )
    assert record["error_class"] == "java.lang.IllegalStateException"


def test_a_record_without_dlq_headers_says_so() -> None:
    record = describe(_dead_letter([("trace-id", b"1")]))
    assert "no header of any known DLQ dialect" in record["problem"]
    out = io.StringIO()
    print_record(_dead_letter([]), out)
    assert "not a dead letter" in out.getvalue()
