"""Readiness waits: what is retried, what fails at once, and one AdminClient per wait."""

from __future__ import annotations

import socket
import time
from typing import Any

import pytest
from confluent_kafka import KafkaError, KafkaException
from confluent_kafka.admin import AdminClient

from infra import readiness
from infra.errors import StackError
from infra.readiness import WaitFor, is_not_ready, wait_for_brokers


def test_a_probe_that_is_not_ready_is_retried_until_accepted() -> None:
    answers: list[Any] = [
        KafkaException(KafkaError(KafkaError._TRANSPORT)),
        TimeoutError("no answer"),
        [1],
        [1, 2],
    ]

    def probe() -> list[int]:
        answer = answers.pop(0)
        if isinstance(answer, Exception):
            raise answer
        return list(answer)

    found = WaitFor(
        expected="two brokers",
        probe=probe,
        accept=lambda ids: len(ids) == 2,
        timeout_s=10,
        poll_interval_s=0.01,
    ).wait()

    assert found == [1, 2]
    assert answers == []


def test_a_programming_error_in_a_probe_fails_at_once() -> None:
    calls = []

    def probe() -> int:
        calls.append(1)
        raise TypeError("unsupported operand")

    started = time.monotonic()
    with pytest.raises(TypeError, match="unsupported operand"):
        WaitFor(expected="x", probe=probe, accept=bool, timeout_s=30, poll_interval_s=0.01).wait()

    assert calls == [1]
    assert time.monotonic() - started < 1


def test_a_kafka_error_that_is_not_about_readiness_fails_at_once() -> None:
    error = KafkaException(KafkaError(KafkaError.TOPIC_AUTHORIZATION_FAILED))

    assert not is_not_ready(error)
    assert is_not_ready(KafkaException(KafkaError(KafkaError._ALL_BROKERS_DOWN)))


def test_a_timeout_says_what_was_expected_and_what_was_seen_last() -> None:
    seen: list[tuple[float, str]] = []
    with pytest.raises(StackError) as caught:
        WaitFor(
            expected="the answer",
            probe=lambda: 41,
            accept=lambda value: value == 42,
            timeout_s=0.2,
            poll_interval_s=0.02,
            hint="ask again",
            on_wait=lambda elapsed, last: seen.append((elapsed, last)),
        ).wait()

    assert "timed out after 0s waiting for the answer; last seen: 41" in caught.value.message
    assert caught.value.hint == "ask again"
    assert seen and seen[-1][1] == "41"


def test_a_wait_for_brokers_uses_one_admin_client_for_all_its_probes(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    with socket.socket() as sock:  # a port nobody listens on: every probe fails "not yet"
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    made: list[AdminClient] = []
    real = readiness.admin_for_waiting

    def counting(bootstrap_servers: str, *args: Any, **kwargs: Any) -> AdminClient:
        made.append(real(bootstrap_servers, *args, **kwargs))
        return made[-1]

    probes = []
    monkeypatch.setattr(readiness, "admin_for_waiting", counting)
    real_describe = readiness.describe_broker_ids

    def counted_describe(*args: Any, **kwargs: Any) -> list[int]:
        probes.append(kwargs.get("admin"))
        return real_describe(args[0], 0.3, admin=kwargs["admin"])

    monkeypatch.setattr(readiness, "describe_broker_ids", counted_describe)

    with pytest.raises(StackError, match="timed out"):
        wait_for_brokers(f"127.0.0.1:{port}", 1, timeout_s=2)

    assert len(made) == 1
    assert len(probes) >= 2
    assert all(admin is made[0] for admin in probes)
