"""Records read back as the checker's reads; a workload refuses settings it cannot run."""

from __future__ import annotations

import json

import pytest
from confluent_kafka import Message

from harness.checker import Read
from harness.errors import ConfigurationError
from harness.history import ProduceWorkload, as_read


def message(value: bytes | None, *, key: bytes = b"key-03", offset: int = 7) -> Message:
    return Message(topic="t", partition=2, offset=offset, key=key, value=value)


def test_a_workload_record_is_read_with_its_id_and_send_order() -> None:
    value = json.dumps({"id": "run-key-03-12", "key": "key-03", "seq": 12}).encode()
    assert as_read(message(value)) == Read("key-03", "run-key-03-12", 2, 7, 12)


def test_a_dlq_copy_is_read_at_the_source_position_given() -> None:
    value = json.dumps({"id": "run-key-03-12", "seq": 12}).encode()
    assert as_read(message(value), partition=0, offset=41) == Read(
        "key-03", "run-key-03-12", 0, 41, 12
    )


@pytest.mark.parametrize("value", [b"\xff not json", None, b'{"no": "id"}', b"[1, 2]"])
def test_any_other_record_is_read_with_its_key_as_id(value: bytes | None) -> None:
    assert as_read(message(value)) == Read("key-03", "key-03", 2, 7, None)


@pytest.mark.parametrize(("rate", "keys"), [(0, 3), (-5, 3), (100, 0)])
def test_a_workload_without_a_rate_or_keys_is_refused(rate: float, keys: int) -> None:
    with pytest.raises(ConfigurationError, match="rate_per_s must be > 0 and keys >= 1"):
        ProduceWorkload("localhost:1", "t", rate_per_s=rate, keys=keys)
