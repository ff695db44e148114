"""RetryingConsumer's loop against a fake client that keeps librdkafka's rules.

The fake (:mod:`tests.unit.fake_kafka`) models what matters for at-least-once and for stalls:
an application pause that survives a revoke and a re-assignment, refused stores for
partitions not assigned, commits of stored offsets only. These tests prove without a broker:
offsets stored only after success or an acknowledged DLQ write, a backoff that holds back
only its partition, a bounded backlog, no partition left paused, the DLQ rules.
"""

from __future__ import annotations

import json
import os
import signal
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from confluent_kafka import Message

import harness.consumer as consumer_module
from harness.checkpoints import Checkpoint
from harness.consumer import RetryingConsumer, decode_json_value
from harness.dlq import parse_dlq_headers
from harness.dlq_writer import DEFAULT_DLQ_RETRY, DlqOptions
from harness.errors import (
    ConfigurationError,
    DecodeError,
    DlqWriteError,
    NonRetryableError,
)
from harness.retry import RetryPolicy
from harness.stats import DLQ_SOURCES_KEPT
from tests.unit.fake_kafka import FakeConsumer, FakeDlqWriter

TOPIC = "user-events"
FAST = RetryPolicy(max_attempts=3, initial_backoff_ms=5, max_backoff_ms=20)
P0, P1, P2 = (TOPIC, 0), (TOPIC, 1), (TOPIC, 2)


@pytest.fixture(autouse=True)
def fakes(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    FakeConsumer.instances.clear()
    FakeConsumer.missing_topics = set()
    FakeDlqWriter.instances.clear()
    FakeDlqWriter.failures = 0
    monkeypatch.setattr(consumer_module, "Consumer", FakeConsumer)
    monkeypatch.setattr(
        consumer_module,
        "new_writer",
        lambda bootstrap, options, **kwargs: FakeDlqWriter(options.transactional),
    )
    yield


def make(*values: bytes | None, **kwargs: Any) -> tuple[RetryingConsumer, FakeConsumer]:
    """A consumer assigned partition 0, whose log holds ``values``."""
    consumer = RetryingConsumer(
        "localhost:9092", TOPIC, policy=kwargs.pop("policy", FAST), **kwargs
    )
    fake = FakeConsumer.instances[-1]
    fake.add(P0, *values)
    fake.assign(P0)
    return consumer, fake


def writer() -> FakeDlqWriter:
    return FakeDlqWriter.instances[-1]


def ids(*numbers: int) -> list[bytes]:
    return [json.dumps({"id": n}).encode() for n in numbers]


def failing(
    times: dict[int, int], error: Callable[[], Exception], seen: list[int] | None = None
) -> Callable[[Any, Message], None]:
    """A handler failing the first ``times[id]`` calls for each id; ``seen`` logs successes."""
    calls: dict[int, int] = {}

    def handler(value: Any, message: Message) -> None:
        calls[value["id"]] = calls.get(value["id"], 0) + 1
        if calls[value["id"]] <= times.get(value["id"], 0):
            raise error()
        if seen is not None:
            seen.append(value["id"])

    return handler


def slow(backoff_ms: float, max_attempts: int = 3) -> RetryPolicy:
    return RetryPolicy(
        max_attempts=max_attempts,
        initial_backoff_ms=backoff_ms,
        max_backoff_ms=backoff_ms,
        jitter=0,
    )


# -- settings ----------------------------------------------------------------------------


def test_defaults_are_the_seeds_settings_with_explicit_offset_stores() -> None:
    consumer, fake = make()
    assert fake.config["group.id"] == "analytics-group"
    assert fake.config["auto.offset.reset"] == "earliest"
    assert fake.config["enable.auto.commit"] is True
    assert fake.config["enable.auto.offset.store"] is False
    assert fake.config["bootstrap.servers"] == "localhost:9092"
    assert consumer.group_id == "analytics-group"
    assert set(fake.callbacks) == {"on_assign", "on_revoke", "on_lost"}


def test_auto_offset_store_cannot_be_switched_back_on() -> None:
    with pytest.raises(ConfigurationError, match=r"enable\.auto\.offset\.store must be false"):
        RetryingConsumer("localhost:9092", TOPIC, config={"enable.auto.offset.store": True})


def test_conflicting_group_ids_are_refused() -> None:
    with pytest.raises(ConfigurationError, match="contradicts"):
        RetryingConsumer("localhost:9092", TOPIC, group_id="a", config={"group.id": "b"})


def test_poll_slice_must_stay_far_below_max_poll_interval() -> None:
    with pytest.raises(ConfigurationError, match=r"max\.poll\.interval\.ms"):
        RetryingConsumer(
            "localhost:9092", TOPIC, poll_timeout_s=5, config={"max.poll.interval.ms": 10_000}
        )


def test_the_consumer_protocol_refuses_the_settings_the_broker_owns() -> None:
    config = {"group.protocol": "consumer", "session.timeout.ms": 6000}
    with pytest.raises(ConfigurationError, match=r"session\.timeout\.ms cannot be set"):
        RetryingConsumer("localhost:9092", TOPIC, config=config)
    RetryingConsumer("localhost:9092", TOPIC, config={"group.protocol": "consumer"})


def test_a_missing_dlq_topic_is_a_clear_error_at_start() -> None:
    FakeConsumer.missing_topics = {"user-events-dlq"}
    with pytest.raises(ConfigurationError, match="'user-events-dlq' do not exist") as caught:
        RetryingConsumer("localhost:9092", TOPIC)
    assert "dlq = true" in caught.value.render()
    assert FakeConsumer.instances[-1].closed, "the half-made consumer was closed"
    # An explicit DLQ topic is the one checked.
    RetryingConsumer("localhost:9092", TOPIC, dlq=DlqOptions(topic="shared-dlq"))


def test_dlq_writes_are_bounded_by_default() -> None:
    assert DlqOptions().retry is DEFAULT_DLQ_RETRY
    assert 1 < DEFAULT_DLQ_RETRY.max_attempts <= 10
    assert DEFAULT_DLQ_RETRY.worst_case_wait_ms() < 60_000


# -- retries hold back only their partition ----------------------------------------------


def test_handler_failing_fewer_times_than_allowed_is_processed_not_dead_lettered() -> None:
    consumer, fake = make(*ids(0, 1, 2))
    stats = consumer.run(failing({1: 2}, lambda: TimeoutError("transient")), max_messages=3)
    assert (stats.processed, stats.dlq, stats.retries) == (3, 0, 2)
    assert fake.stored_offsets() == {P0: 3}
    assert writer().written == []
    assert fake.pause_calls == [], "a short backoff pauses nothing (nothing to refetch)"


def test_a_backoff_holds_back_only_its_partition_and_costs_about_the_backoff() -> None:
    consumer, fake = make(*ids(0, 1), policy=slow(300))
    fake.add(P1, *ids(10, 11, 12))
    fake.assign(P1)
    seen: list[int] = []
    started = time.monotonic()
    consumer.run(failing({0: 1}, lambda: TimeoutError(), seen), max_messages=5)
    elapsed = time.monotonic() - started
    assert seen.index(12) < seen.index(0), "partition 1 went on while partition 0 waited"
    assert seen.index(0) < seen.index(1), "partition 0 kept its order"
    assert elapsed >= 0.3
    # The waits were polls that returned when the backoff was due, not fixed sleeps.
    assert all(timeout <= 0.1 for timeout in fake.poll_timeouts)


def test_no_offset_passes_a_record_that_is_still_waiting() -> None:
    consumer, fake = make(*ids(0, 1, 2), policy=slow(100))
    calls: list[int] = []
    stores_at_retry: list[str] = []

    def handler(value: Any, message: Message) -> None:
        calls.append(value["id"])
        if value["id"] == 1 and calls.count(1) == 1:
            raise TimeoutError("transient")
        if value["id"] == 1:
            stores_at_retry.extend(fake.events)

    consumer.run(handler, max_messages=3)
    assert calls == [0, 1, 1, 2], "record 2 waited behind record 1"
    assert stores_at_retry == ["store 0@1"], "during the wait only record 0 was stored"
    assert fake.stored_offsets() == {P0: 3}


def test_a_queue_drains_in_place_when_a_record_behind_the_waiting_one_fails() -> None:
    # Records 0 and 2 fail once: 1 and 2 queue behind 0; once 0 is done, 1 is handled from
    # the queue and 2 waits in its turn with 3 still queued behind it, not queued again.
    consumer, fake = make(*ids(0, 1, 2, 3), policy=slow(100), backlog_limit=2)
    seen: list[int] = []
    stats = consumer.run(failing({0: 1, 2: 1}, lambda: TimeoutError(), seen), max_messages=4)
    assert seen == [0, 1, 2, 3]
    assert stats.retries == 2
    assert fake.pause_calls == [[P0]], "paused once; it stayed paused while it drained"
    assert fake.resume_calls[-1] == [P0] and not fake.toppars[P0].app_paused
    assert fake.stored_offsets() == {P0: 4}


def test_the_backlog_of_a_held_partition_is_bounded_by_pausing_it() -> None:
    consumer, fake = make(*ids(0, 1, 2, 3, 4, 5), policy=slow(100), backlog_limit=2)
    seen: list[int] = []
    consumer.run(failing({0: 1}, lambda: TimeoutError(), seen), max_messages=6)
    assert fake.pause_calls == [[P0]], "paused once two records queued behind record 0"
    assert fake.resume_calls[-1] == [P0], "resumed when record 0 was done with"
    assert seen == [0, 1, 2, 3, 4, 5], "nothing lost or repeated across the pause"
    assert not fake.toppars[P0].app_paused


def test_the_fake_keeps_an_application_pause_across_a_revoke_like_librdkafka() -> None:
    # The model behind the next test: without a resume, a partition paused and then revoked
    # and assigned again is never fetched (the stall of issue 11).
    fake = FakeConsumer({})
    fake.subscribe([TOPIC], on_assign=lambda c, p: None, on_revoke=lambda c, p: None)
    fake.add(P0, *ids(0, 1))
    fake.assign(P0)
    fake.pause(fake.assignment())
    fake.revoke(P0)
    fake.assign(P0)
    assert fake.consume(10, 0) == []


@pytest.mark.parametrize("backlog_limit", [0, 1000], ids=["paused-at-once", "backlog"])
def test_a_partition_revoked_during_a_backoff_is_fetched_again_when_it_comes_back(
    backlog_limit: int,
) -> None:
    consumer, fake = make(*ids(0, 1, 2), policy=slow(200), backlog_limit=backlog_limit)
    seen: list[int] = []
    stats = consumer.run(
        failing({0: 1}, lambda: TimeoutError(), seen),
        idle_timeout_s=0.3,
        # A rebalance takes partition 0 away and gives it back during record 0's backoff.
        on_retry=lambda *args: fake.during_poll.extend(
            [lambda: fake.revoke(P0), lambda: fake.assign(P0)]
        ),
    )
    consumer.close()
    assert seen == [0, 1, 2], "record 0 once (from its redelivery), and the rest: no stall"
    assert (stats.processed, stats.abandoned) == (3, 1)
    assert fake.committed_offsets() == {P0: 3}
    assert not fake.toppars[P0].app_paused


def test_a_partition_revoked_for_good_during_a_backoff_leaves_no_pause_behind() -> None:
    consumer, fake = make(*ids(0, 1, 2), policy=slow(200), backlog_limit=0)
    stats = consumer.run(
        failing({0: 1}, lambda: TimeoutError()),
        idle_timeout_s=0.3,
        on_retry=lambda *args: fake.during_poll.append(lambda: fake.revoke(P0)),
    )
    assert fake.pause_calls == [[P0]], "the backoff paused its partition (backlog_limit=0)"
    assert (stats.processed, stats.abandoned) == (0, 1)
    assert not fake.toppars[P0].app_paused, "another assignment later would fetch it"
    assert fake.stored_offsets() == {}


def test_a_full_batch_is_stored_once_from_the_client_position() -> None:
    consumer, fake = make(*ids(*range(150)))
    fake.add(P1, *ids(*range(1000, 1060)))
    fake.assign(P1)
    stats = consumer.run(lambda value, message: None, max_messages=210)
    assert stats.processed == 210
    assert fake.events == ["store 0@150", "store 1@60"], "one store call, both partitions"


def test_a_failure_in_a_full_batch_stores_nothing_past_it() -> None:
    consumer, fake = make(*ids(*range(150)), policy=slow(100))
    seen: list[int] = []
    stores_at_retry: list[str] = []

    def handler(value: Any, message: Message) -> None:
        if value["id"] == 120 and 120 not in seen:
            seen.append(120)
            raise TimeoutError("transient")
        if value["id"] == 120:
            stores_at_retry.extend(fake.events)

    consumer.run(handler, max_messages=150)
    assert stores_at_retry == ["store 0@120"], "the records before 120 stored, none past it"
    assert fake.stored_offsets() == {P0: 150}


def test_an_undecodable_record_in_a_full_batch_goes_to_the_dlq_and_the_rest_on() -> None:
    values = ids(*range(150))
    values[50] = b"not json"
    consumer, fake = make(*values)
    stats = consumer.run(lambda value, message: None, max_messages=150)
    assert (stats.processed, stats.dlq) == (149, 1)
    assert [letter.source for letter in writer().written] == [(TOPIC, 0, 50)]
    assert fake.stored_offsets() == {P0: 150}


# -- the DLQ -----------------------------------------------------------------------------


def test_always_failing_record_goes_to_dlq_after_max_attempts_and_later_ones_still_run() -> None:
    consumer, fake = make(*ids(0, 1, 2))
    stats = consumer.run(failing({1: 99}, lambda: RuntimeError("always fails")), max_messages=3)
    assert (stats.processed, stats.dlq, stats.retries) == (2, 1, 2)
    assert list(stats.dlq_sources) == [(TOPIC, 0, 1)]
    [letter] = writer().written
    assert (letter.topic, letter.value, letter.key) == ("user-events-dlq", ids(1)[0], b"k1")
    info = parse_dlq_headers(letter.headers)
    assert info.attempts == 3 and info.error_class == "RuntimeError"
    assert info.original_offset == 1 and info.consumer_group == "analytics-group"
    assert info.original_headers == (("trace", b"\x00\xff"),)
    assert fake.stored_offsets() == {P0: 3}


def test_undecodable_value_goes_to_dlq_on_the_first_attempt_without_calling_the_handler() -> None:
    consumer, _ = make(b"\xff not json", None, b"{half")
    calls: list[Any] = []
    stats = consumer.run(lambda value, message: calls.append(value), max_messages=3)
    assert calls == [] and stats.dlq == 3 and stats.retries == 0
    written = writer().written
    assert [letter.value for letter in written] == [b"\xff not json", None, b"{half"]
    assert {parse_dlq_headers(w.headers).attempts for w in written} == {1}
    assert {parse_dlq_headers(w.headers).error_class for w in written} == {
        "harness.errors.DecodeError"
    }


def test_user_marked_non_retryable_error_goes_to_dlq_at_once() -> None:
    class Invalid(Exception):
        pass

    consumer, _ = make(*ids(0), policy=RetryPolicy(max_attempts=5, non_retryable=(Invalid,)))
    stats = consumer.run(failing({0: 1}, lambda: Invalid("bad order")), max_messages=1)
    assert (stats.dlq, stats.retries) == (1, 0)


def test_failed_dlq_write_stores_nothing_until_a_write_is_acknowledged() -> None:
    FakeDlqWriter.failures = 2
    dlq = DlqOptions(retry=slow(50, max_attempts=5))
    consumer, fake = make(*ids(0, 1), dlq=dlq)
    fake.add(P1, *ids(10))
    fake.assign(P1)
    seen: list[int] = []
    real_write = writer().write

    def write(letter: Any, group_metadata: Callable[[], object]) -> None:
        fake.events.append("dlq write")
        real_write(letter, group_metadata)

    writer().write = write  # type: ignore[method-assign]
    stats = consumer.run(failing({0: 9}, lambda: NonRetryableError("poison"), seen), max_messages=3)
    assert stats.dlq_write_failures == 2
    assert (stats.dlq, stats.processed) == (1, 2)
    assert seen == [10, 1], "partition 1 went on during the DLQ backoff; record 1 waited"
    p0_events = [event for event in fake.events if not event.startswith("store 1@")]
    assert p0_events == ["dlq write"] * 3 + ["store 0@2"], "nothing of P0 before the DLQ ack"
    assert len(writer().written) == 1


def test_dlq_write_failing_past_its_bound_raises_and_stores_nothing() -> None:
    FakeDlqWriter.failures = 100
    consumer, fake = make(*ids(0, 1), dlq=DlqOptions(retry=slow(1, max_attempts=2)))
    with pytest.raises(DlqWriteError, match="failed 2 time"):
        consumer.run(failing({0: 9}, lambda: NonRetryableError("poison")))
    assert fake.stored_offsets() == {}
    # Final: the client's position is past record 0, so handling record 1 would store past it.
    again = consumer.run(lambda value, message: None, idle_timeout_s=0.1)
    assert again.received == 0 and "DLQ write failed" in again.stop_reason
    consumer.close()
    assert fake.committed_offsets() == {}


def test_the_default_dlq_bound_stops_a_consumer_whose_dlq_never_takes_the_record() -> None:
    FakeDlqWriter.failures = 1000
    fast_default = DlqOptions(
        retry=RetryPolicy(
            max_attempts=DEFAULT_DLQ_RETRY.max_attempts, initial_backoff_ms=1, max_backoff_ms=1
        )
    )
    consumer, _ = make(*ids(0), dlq=fast_default)
    with pytest.raises(DlqWriteError):
        consumer.run(failing({0: 9}, lambda: NonRetryableError("poison")))
    assert writer().attempts == DEFAULT_DLQ_RETRY.max_attempts


def test_a_transactional_dlq_commits_the_consumer_offsets_before_its_transaction() -> None:
    consumer, fake = make(*ids(0, 1, 2), dlq=DlqOptions(transactional=True))
    order: list[str] = []
    real_write = writer().write

    def write(letter: Any, group_metadata: Callable[[], object]) -> None:
        order.append(";".join(fake.events))
        real_write(letter, group_metadata)

    writer().write = write  # type: ignore[method-assign]
    consumer.run(failing({1: 9}, lambda: NonRetryableError("poison")), max_messages=3)
    assert order == ["store 0@1;commit 0@1"], "record 0 stored and committed before the txn"
    assert writer().group_metadata == ["metadata of analytics-group"]
    assert fake.stored_offsets() == {P0: 3}


def test_dlq_sources_stay_bounded_over_a_long_run() -> None:
    count = DLQ_SOURCES_KEPT + 50
    consumer, _ = make(*[b"not json"] * count)
    stats = consumer.run(lambda value, message: None, max_messages=count)
    assert stats.dlq == count
    assert len(stats.dlq_sources) == DLQ_SOURCES_KEPT
    assert stats.dlq_sources[-1] == (TOPIC, 0, count - 1)


# -- checkpoints, commits, runs ----------------------------------------------------------


def test_checkpoints_mark_each_step_of_a_record_that_ends_in_the_dlq() -> None:
    consumer, _ = make(*ids(0), config={"enable.auto.commit": False})
    points: list[str] = []
    consumer.run(
        failing({0: 9}, lambda: TimeoutError()),
        max_messages=1,
        on_checkpoint=lambda point, message: points.append(point.value),
    )
    assert points == [
        *["handler-failed", "backoff"] * (FAST.max_attempts - 1),
        "handler-failed",
        "dlq-write",
        "dlq-written",
        "stored",
        "commit",
    ]
    assert Checkpoint("dlq-written") is Checkpoint.DLQ_WRITTEN


def test_without_auto_commit_every_batch_and_every_revoke_is_committed() -> None:
    consumer, fake = make(*ids(0, 1), config={"enable.auto.commit": False})
    consumer.run(lambda value, message: None, max_messages=2)
    assert fake.committed_offsets() == {P0: 2}
    fake.add(P0, *ids(2))
    fake.during_poll.extend([lambda: None, lambda: fake.revoke(P0)])
    consumer.run(lambda value, message: None, idle_timeout_s=0.3)
    assert fake.committed_offsets() == {P0: 3}


def test_stop_during_a_backoff_abandons_the_record_without_storing_it() -> None:
    consumer, fake = make(*ids(0, 1), policy=slow(10_000, max_attempts=5))

    def on_retry(message: Message, attempt: int, backoff_ms: float, error: BaseException) -> None:
        consumer.stop("test asked")

    stats = consumer.run(failing({1: 9}, lambda: TimeoutError()), on_retry=on_retry)
    assert stats.abandoned == 1 and stats.processed == 1
    assert stats.stop_reason == "test asked"
    assert fake.stored_offsets() == {P0: 1}  # record 1 will be redelivered


def test_records_left_by_a_run_are_handled_by_the_next_run() -> None:
    # A run ends on max_messages while partition 0 waits on record 0 and partition 1's records
    # are polled: the client is past them, so the next run must handle them (a later store
    # would commit past them).
    consumer, fake = make(*ids(0, 1), policy=slow(200))
    fake.add(P1, *ids(10, 11, 12))
    fake.assign(P1)
    handled: list[tuple[int | None, int | None]] = []
    flaky = failing({0: 1}, lambda: TimeoutError("transient"))

    def handler(value: Any, message: Message) -> None:
        flaky(value, message)
        handled.append((message.partition(), message.offset()))

    first = consumer.run(handler, max_messages=1)
    assert (first.processed, handled) == (1, [(1, 0)])
    consumer.run(handler, idle_timeout_s=0.3)
    consumer.close()
    assert sorted(handled) == [(0, 0), (0, 1), (1, 0), (1, 1), (1, 2)]
    assert fake.committed_offsets() == {P0: 2, P1: 3}


def test_close_commits_stored_offsets_synchronously_and_closes() -> None:
    consumer, fake = make(*ids(0, 1, 2))
    consumer.run(lambda value, message: None, max_messages=3)
    assert fake.committed_offsets() == {}
    consumer.close()
    assert fake.committed_offsets() == {P0: 3}
    assert fake.closed and writer().closed
    consumer.close()  # idempotent


def test_idle_timeout_ends_the_run() -> None:
    consumer, _ = make()
    stats = consumer.run(lambda value, message: None, idle_timeout_s=0.05)
    assert stats.received == 0 and "idle" in stats.stop_reason


@pytest.mark.parametrize(
    ("value", "fragment"),
    [(None, "tombstone"), (b"\xff\xfe", "not UTF-8"), (b"{nope", "not JSON")],
)
def test_decode_json_value_explains_what_is_wrong(value: bytes | None, fragment: str) -> None:
    with pytest.raises(DecodeError, match=fragment):
        decode_json_value(value)


def test_decode_json_value_reads_the_seed_message() -> None:
    assert decode_json_value(b'{"user_id": 1, "action": "login"}') == {
        "user_id": 1,
        "action": "login",
    }


def test_sigterm_stops_the_run_and_close_restores_the_previous_handler() -> None:
    previous = signal.getsignal(signal.SIGTERM)
    consumer, fake = make(*ids(0, 1, 2))
    consumer.install_signal_handlers()

    def handler(value: Any, message: Message) -> None:
        if value["id"] == 0:
            os.kill(os.getpid(), signal.SIGTERM)

    stats = consumer.run(handler)
    assert stats.stop_reason == "signal SIGTERM"
    assert stats.processed == 1  # the record in hand was finished, nothing after it
    consumer.close()
    assert fake.committed_offsets() == {P0: 1}
    assert signal.getsignal(signal.SIGTERM) is previous
