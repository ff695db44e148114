"""JsonProducer without a broker: serialization, defaults, and failed deliveries surfacing."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from typing import Any

import pytest
from confluent_kafka import Message

import harness.producer as producer_module
from harness.errors import ConfigurationError, DeliveryError, SerializationError
from harness.producer import Ack, JsonProducer, encode_json

UNREACHABLE = "127.0.0.1:1"  # nothing listens on port 1: connections are refused at once


def test_values_are_serialized_exactly_like_the_seed() -> None:
    seed = {"user_id": 1, "action": "login"}
    assert encode_json(seed) == json.dumps(seed).encode("utf-8")
    assert encode_json({"name": "Zoë"}) == b'{"name": "Zo\\u00eb"}'


def test_unserializable_values_raise_a_serialization_error_with_a_hint() -> None:
    with pytest.raises(SerializationError, match="send_raw"):
        encode_json({"when": object()})


def test_idempotence_and_acks_all_are_the_defaults_and_can_be_overridden() -> None:
    with JsonProducer(UNREACHABLE) as default:
        assert default.config["enable.idempotence"] is True
        assert default.config["acks"] == "all"
    config = {"enable.idempotence": False, "acks": "1"}
    with JsonProducer(UNREACHABLE, config=config) as custom:
        assert custom.config["acks"] == "1"


def test_invalid_client_configuration_is_a_configuration_error() -> None:
    with pytest.raises(ConfigurationError, match="invalid producer configuration"):
        JsonProducer(UNREACHABLE, config={"no.such.property": 1})


def test_failed_delivery_raises_on_flush_with_the_client_error_once() -> None:
    producer = JsonProducer(UNREACHABLE, config={"message.timeout.ms": 300})
    producer.send("user-events", {"user_id": 1}, key="user-1")
    started = time.monotonic()
    with pytest.raises(DeliveryError) as info:
        producer.flush(timeout_s=10)
    assert time.monotonic() - started < 5
    error = info.value
    assert error.topic == "user-events" and error.key == b"user-1"
    assert "timed out" in error.error
    assert error.failures == [("user-events", b"user-1", error.error)]
    assert producer.acked == [] and len(producer.failures) == 1
    producer.flush(timeout_s=1)  # reported once; nothing new
    producer.close()


def test_failed_delivery_raises_on_close_of_the_context_manager() -> None:
    with pytest.raises(DeliveryError, match="1 record"):  # noqa: SIM117
        with JsonProducer(UNREACHABLE, config={"message.timeout.ms": 300}) as producer:
            producer.send_raw("user-events", b"\xff raw bytes")


def test_an_exception_inside_the_block_is_not_masked_by_delivery_errors() -> None:
    with pytest.raises(KeyError):  # noqa: SIM117
        with JsonProducer(UNREACHABLE, config={"message.timeout.ms": 300}) as producer:
            producer.send("user-events", {"user_id": 1})
            raise KeyError("the caller's own error")


def test_sending_after_close_is_refused() -> None:
    producer = JsonProducer(UNREACHABLE)
    producer.close()
    with pytest.raises(ConfigurationError, match="closed"):
        producer.send("user-events", {"user_id": 1})


class AckingProducer:
    """Stands in for confluent_kafka.Producer: flush() acknowledges every queued record."""

    def __init__(self, config: dict[str, Any]) -> None:
        self.queued: list[tuple[Message, Callable[[Any, Message], None]]] = []
        self.offset = 0

    def produce(self, topic: str, value: bytes | None, key: bytes | None, **kwargs: Any) -> None:
        message = Message(topic=topic, partition=0, offset=self.offset, key=key, value=value)
        self.offset += 1
        self.queued.append((message, kwargs["on_delivery"]))

    def poll(self, timeout: float = 0) -> int:
        return 0

    def flush(self, timeout: float = -1) -> int:
        queued, self.queued = self.queued, []
        for message, on_delivery in queued:
            on_delivery(None, message)
        return 0

    def close(self) -> None:
        pass


@pytest.mark.parametrize("record_acks", [True, False])
def test_acks_are_kept_unless_record_acks_is_off(
    monkeypatch: pytest.MonkeyPatch, record_acks: bool
) -> None:
    monkeypatch.setattr(producer_module, "Producer", AckingProducer)
    with JsonProducer(UNREACHABLE, record_acks=record_acks) as producer:
        for n in range(3):
            producer.send("user-events", {"n": n}, key=f"k{n}")
        producer.flush()
        if record_acks:
            assert producer.acked == [
                Ack("user-events", 0, n, f"k{n}".encode(), encode_json({"n": n})) for n in range(3)
            ]
        else:
            assert producer._acked == []  # nothing kept: a long-lived producer stays small
            with pytest.raises(ConfigurationError, match="record_acks=False"):
                producer.acked  # noqa: B018 (an empty list would make accounting pass)


def test_a_long_failing_run_keeps_a_bounded_sample_of_failures_and_exact_counts(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(producer_module, "MAX_KEPT_FAILURES", 5)
    producer = JsonProducer(UNREACHABLE, config={"message.timeout.ms": 300})
    for n in range(12):
        producer.send("user-events", {"n": n}, key=f"user-{n}")
    with pytest.raises(DeliveryError) as info:
        producer.flush(timeout_s=10)
    assert info.value.message.startswith("12 record(s) not delivered; first of the newest 5")
    assert len(info.value.failures) == 5
    assert producer.failure_count == 12
    assert len(producer.failures) == 5
    assert {key for _, key, _ in producer.failures} <= {f"user-{n}".encode() for n in range(12)}
    producer.close()
