"""RetryingConsumer's loop against an in-memory fake client: when offsets are stored.

The fake stands in for ``confluent_kafka.Consumer`` and the DLQ producer, so these tests
prove the at-least-once rules without a broker: store only after success or an acknowledged
DLQ write, retry with paused partitions and short polls, DLQ at once for undecodable values.
"""

from __future__ import annotations

import json
import os
import signal
import time
from collections import deque
from collections.abc import Callable, Iterator
from typing import Any, ClassVar

import pytest
from confluent_kafka import (
    TIMESTAMP_CREATE_TIME,
    KafkaError,
    KafkaException,
    Message,
    TopicPartition,
)

import harness.consumer as consumer_module
from harness.consumer import RetryingConsumer, decode_json_value
from harness.dlq import parse_dlq_headers
from harness.errors import (
    ConfigurationError,
    DecodeError,
    DeliveryError,
    DlqWriteError,
    NonRetryableError,
)
from harness.retry import RetryPolicy

TOPIC = "user-events"
FAST = RetryPolicy(max_attempts=3, initial_backoff_ms=5, max_backoff_ms=20)


Partition = tuple[str, int]
P0: Partition = (TOPIC, 0)
P1: Partition = (TOPIC, 1)


class FakeConsumer:
    """Just enough of confluent_kafka.Consumer for the loop.

    Each partition has a log and a fetch position. Partition 0 is assigned from the start;
    :meth:`assign` and :meth:`revoke` act like an eager rebalance (rebalance callbacks, the
    position of a newly assigned partition is its committed offset, a revoked partition
    forgets its position, pause state and stored offset). ``during_backoff`` holds steps
    (e.g. a rebalance) run one per ``poll()`` once a backoff has paused partitions.
    """

    instances: ClassVar[list[FakeConsumer]] = []

    def __init__(self, config: dict[str, Any]) -> None:
        self.config = config
        self.logs: dict[Partition, list[Message]] = {P0: []}
        self.positions: dict[Partition, int] = {P0: 0}  # the assigned partitions
        self.stored: dict[Partition, int] = {}
        self.committed: dict[Partition, int] = {}
        self.paused: set[Partition] = set()
        self.pauses = 0
        self.poll_timeouts_while_paused: list[float] = []
        self.during_backoff: deque[Callable[[], None]] = deque()
        self.closed = False
        self.events: list[str] = []
        FakeConsumer.instances.append(self)

    def subscribe(self, topics: list[str], **callbacks: Any) -> None:
        self.topics = topics
        self.callbacks = callbacks

    def poll(self, timeout: float = -1) -> Message | None:
        if self.paused:
            self.poll_timeouts_while_paused.append(timeout)
        if self.pauses and self.during_backoff:
            self.during_backoff.popleft()()
        for partition, position in self.positions.items():
            log = self.logs.get(partition, [])
            if partition not in self.paused and position < len(log):
                self.positions[partition] = position + 1
                return log[position]
        time.sleep(max(0.0, timeout))  # a real poll blocks when there is nothing
        return None

    def assign(self, partition: Partition) -> None:
        self.callbacks["on_assign"](self, [TopicPartition(*partition)])
        self.positions[partition] = self.committed.get(partition, 0)

    def revoke(self, partition: Partition) -> None:
        self.callbacks["on_revoke"](self, [TopicPartition(*partition)])
        if partition in self.stored:  # auto-commit commits stored offsets on revoke
            self.committed[partition] = self.stored.pop(partition)
        del self.positions[partition]
        self.paused.discard(partition)

    def assignment(self) -> list[TopicPartition]:
        return [TopicPartition(*partition) for partition in self.positions]

    def pause(self, partitions: list[TopicPartition]) -> None:
        self.paused |= {(tp.topic, tp.partition) for tp in partitions}
        self.pauses += 1

    def resume(self, partitions: list[TopicPartition]) -> None:
        self.paused -= {(tp.topic, tp.partition) for tp in partitions}

    def store_offsets(self, message: Message) -> None:
        self.stored[(message.topic() or "", message.partition() or 0)] = (message.offset() or 0) + 1
        self.events.append(f"store {message.offset()}")

    def commit(self, asynchronous: bool = True) -> list[TopicPartition]:
        if not self.stored:
            raise KafkaException(KafkaError(KafkaError._NO_OFFSET))
        self.committed.update(self.stored)
        self.events.append("commit")
        return [TopicPartition(t, p, o) for (t, p), o in self.stored.items()]

    def close(self) -> None:
        self.closed = True


class FakeDlqProducer:
    """Stands in for the DLQ JsonProducer; fails the first ``failures`` flushes."""

    instances: ClassVar[list[FakeDlqProducer]] = []
    failures = 0

    def __init__(self, bootstrap_servers: str, **kwargs: Any) -> None:
        self.kwargs = kwargs
        self.sent: list[tuple[str, bytes | None, Any, Any]] = []
        self.pending: list[tuple[str, bytes | None, Any, Any]] = []
        self.fatal_error = None
        FakeDlqProducer.instances.append(self)

    def send_raw(
        self, topic: str, value: bytes | None, key: Any = None, headers: Any = None
    ) -> None:
        self.pending.append((topic, value, key, headers))

    def flush(self, timeout_s: float | None = None) -> None:
        batch, self.pending = self.pending, []
        if FakeDlqProducer.failures > 0:
            FakeDlqProducer.failures -= 1
            raise DeliveryError("DLQ down", topic=batch[0][0], error="Broker: Message too large")
        self.sent.extend(batch)

    def close(self, timeout_s: float | None = None) -> None:
        pass


@pytest.fixture(autouse=True)
def fakes(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    FakeConsumer.instances.clear()
    FakeDlqProducer.instances.clear()
    FakeDlqProducer.failures = 0
    monkeypatch.setattr(consumer_module, "Consumer", FakeConsumer)
    monkeypatch.setattr(consumer_module, "JsonProducer", FakeDlqProducer)
    yield


def record(
    offset: int, value: bytes | None, key: bytes | None = None, partition: int = 0
) -> Message:
    return Message(
        topic=TOPIC,
        partition=partition,
        offset=offset,
        key=key,
        value=value,
        headers=[("trace", b"\x00\xff")],
        timestamp=(TIMESTAMP_CREATE_TIME, 1_700_000_000_000),
    )


def make(*values: bytes | None, **kwargs: Any) -> tuple[RetryingConsumer, FakeConsumer]:
    consumer = RetryingConsumer(
        "localhost:9092", TOPIC, policy=kwargs.pop("policy", FAST), **kwargs
    )
    fake = FakeConsumer.instances[-1]
    fake.logs[P0].extend(record(i, v, f"k{i}".encode()) for i, v in enumerate(values))
    return consumer, fake


def ids(*numbers: int) -> list[bytes]:
    return [json.dumps({"id": n}).encode() for n in numbers]


def failing(
    times: dict[int, int], error: Callable[[], Exception]
) -> Callable[[Any, Message], None]:
    calls: dict[int, int] = {}

    def handler(value: Any, message: Message) -> None:
        calls[value["id"]] = calls.get(value["id"], 0) + 1
        if calls[value["id"]] <= times.get(value["id"], 0):
            raise error()

    return handler


def test_defaults_are_the_seeds_settings_with_explicit_offset_stores() -> None:
    consumer, fake = make()
    assert fake.config["group.id"] == "analytics-group"
    assert fake.config["auto.offset.reset"] == "earliest"
    assert fake.config["enable.auto.commit"] is True
    assert fake.config["enable.auto.offset.store"] is False
    assert fake.config["bootstrap.servers"] == "localhost:9092"
    assert consumer.group_id == "analytics-group"


def test_handler_failing_fewer_times_than_allowed_is_processed_not_dead_lettered() -> None:
    consumer, fake = make(*ids(0, 1, 2))
    stats = consumer.run(failing({1: 2}, lambda: TimeoutError("transient")), max_messages=3)
    assert (stats.processed, stats.dlq, stats.retries) == (3, 0, 2)
    assert fake.stored == {(TOPIC, 0): 3}
    assert FakeDlqProducer.instances[0].sent == []
    assert fake.pauses == 2 and not fake.paused


def test_backoff_polls_in_slices_no_longer_than_the_poll_timeout() -> None:
    slow = RetryPolicy(max_attempts=2, initial_backoff_ms=300, max_backoff_ms=300, jitter=0)
    consumer, fake = make(*ids(0), policy=slow, poll_timeout_s=0.05)
    started = time.monotonic()
    consumer.run(failing({0: 1}, lambda: TimeoutError()), max_messages=1)
    # No slice count or sum: on a loaded machine a poll may block longer than asked, so
    # fewer slices are needed. What cannot vary: the whole 300 ms backoff was waited, with
    # the partition paused, by polls of a full 50 ms slice each, the last one the remainder.
    slices = fake.poll_timeouts_while_paused
    assert time.monotonic() - started >= 0.3
    assert slices, "the backoff did not poll"
    assert all(timeout == 0.05 for timeout in slices[:-1])
    assert 0 < slices[-1] <= 0.05


def test_always_failing_record_goes_to_dlq_after_max_attempts_and_later_ones_still_run() -> None:
    consumer, fake = make(*ids(0, 1, 2))
    stats = consumer.run(failing({1: 99}, lambda: RuntimeError("always fails")), max_messages=3)
    assert (stats.processed, stats.dlq, stats.retries) == (2, 1, 2)
    assert stats.dlq_sources == [(TOPIC, 0, 1)]
    [(topic, value, key, headers)] = FakeDlqProducer.instances[0].sent
    assert (topic, value, key) == ("user-events-dlq", ids(1)[0], b"k1")
    info = parse_dlq_headers(headers)
    assert info.attempts == 3 and info.error_class == "RuntimeError"
    assert info.original_offset == 1 and info.consumer_group == "analytics-group"
    assert info.original_headers == (("trace", b"\x00\xff"),)
    assert fake.stored == {(TOPIC, 0): 3}


def test_undecodable_value_goes_to_dlq_on_the_first_attempt_without_calling_the_handler() -> None:
    consumer, _ = make(b"\xff not json", None)
    calls: list[Any] = []
    stats = consumer.run(lambda value, message: calls.append(value), max_messages=2)
    assert calls == [] and stats.dlq == 2 and stats.retries == 0
    sent = FakeDlqProducer.instances[0].sent
    assert [value for _, value, _, _ in sent] == [b"\xff not json", None]
    assert {parse_dlq_headers(h).attempts for *_, h in sent} == {1}
    assert {parse_dlq_headers(h).error_class for *_, h in sent} == {"harness.errors.DecodeError"}


def test_user_marked_non_retryable_error_goes_to_dlq_at_once() -> None:
    class Invalid(Exception):
        pass

    consumer, _ = make(*ids(0), policy=RetryPolicy(max_attempts=5, non_retryable=(Invalid,)))
    stats = consumer.run(failing({0: 1}, lambda: Invalid("bad order")), max_messages=1)
    assert (stats.dlq, stats.retries) == (1, 0)


def test_failed_dlq_write_stores_nothing_until_a_write_is_acknowledged() -> None:
    FakeDlqProducer.failures = 2
    consumer, fake = make(*ids(0, 1))
    events_before_success: list[str] = []

    def handler(value: Any, message: Message) -> None:
        if value["id"] == 0:
            events_before_success.extend(fake.events)
            raise NonRetryableError("poison")

    stats = consumer.run(handler, max_messages=2)
    assert stats.dlq_write_failures == 2
    assert (stats.dlq, stats.processed) == (1, 1)
    assert fake.events == ["store 0", "store 1"]  # record 0 stored only after the DLQ ack
    assert len(FakeDlqProducer.instances[0].sent) == 1


def test_dlq_write_failing_past_its_bound_raises_and_stores_nothing() -> None:
    FakeDlqProducer.failures = 10
    consumer, fake = make(*ids(0, 1), dlq_max_attempts=2)
    with pytest.raises(DlqWriteError, match="failed 2 time"):
        consumer.run(failing({0: 9}, lambda: NonRetryableError("poison")))
    assert fake.stored == {}
    # Final: the client's position is past record 0, so handling record 1 would store past it.
    again = consumer.run(lambda value, message: None, idle_timeout_s=0.1)
    assert again.received == 0 and "DLQ write failed" in again.stop_reason
    consumer.close()
    assert fake.committed == {}


def test_the_dlq_producer_keeps_no_acks() -> None:
    make()
    assert FakeDlqProducer.instances[0].kwargs["record_acks"] is False


def test_stop_during_a_backoff_abandons_the_record_without_storing_it() -> None:
    slow = RetryPolicy(max_attempts=5, initial_backoff_ms=10_000, max_backoff_ms=10_000)
    consumer, fake = make(*ids(0, 1), policy=slow)

    def on_retry(message: Message, attempt: int, backoff_ms: float, error: BaseException) -> None:
        consumer.stop("test asked")

    stats = consumer.run(failing({1: 9}, lambda: TimeoutError()), on_retry=on_retry)
    assert stats.abandoned == 1 and stats.processed == 1
    assert stats.stop_reason == "test asked"
    assert fake.stored == {(TOPIC, 0): 1}  # record 1 will be redelivered


def test_records_polled_during_a_backoff_are_handled_by_the_next_run() -> None:
    # Partition 1 is assigned while record 0 of partition 0 backs off; records of partition 1
    # arrive during the wait. The run ends on max_messages with them still queued: the client
    # is past them, so the next run must handle them (a later store would commit past them).
    slow = RetryPolicy(max_attempts=2, initial_backoff_ms=200, max_backoff_ms=200, jitter=0)
    consumer, fake = make(*ids(0, 1), policy=slow)
    fake.logs[P1] = [record(i, ids(10 + i)[0], partition=1) for i in range(3)]
    fake.during_backoff.append(lambda: fake.assign(P1))
    flaky = failing({0: 1}, lambda: TimeoutError("transient"))
    handled: list[tuple[int | None, int | None]] = []

    def handler(value: Any, message: Message) -> None:
        flaky(value, message)
        handled.append((message.partition(), message.offset()))

    first = consumer.run(handler, max_messages=1)
    assert (first.processed, handled) == (1, [(0, 0)])
    consumer.run(handler, idle_timeout_s=0.2)
    consumer.close()
    assert sorted(handled) == [(0, 0), (0, 1), (1, 0), (1, 1), (1, 2)]
    assert fake.committed == {P0: 2, P1: 3}


def test_a_partition_revoked_and_reassigned_during_a_backoff_handles_its_record_once() -> None:
    # An eager rebalance during record 0's backoff takes partition 0 away and gives it back:
    # its position restarts at the committed offset and it is no longer paused, so records
    # 0, 1, 2 are fetched again during the wait. The copy in hand must be abandoned.
    slow = RetryPolicy(max_attempts=3, initial_backoff_ms=200, max_backoff_ms=200, jitter=0)
    consumer, fake = make(*ids(0, 1, 2), policy=slow)
    fake.during_backoff.extend([lambda: fake.revoke(P0), lambda: fake.assign(P0)])
    flaky = failing({0: 1}, lambda: TimeoutError("transient"))
    succeeded: list[int | None] = []

    def handler(value: Any, message: Message) -> None:
        flaky(value, message)
        succeeded.append(message.offset())

    stats = consumer.run(handler, idle_timeout_s=0.3)
    consumer.close()
    assert succeeded == [0, 1, 2]  # record 0 once, from its redelivery
    assert (stats.processed, stats.abandoned) == (3, 1)
    assert fake.committed == {P0: 3}


def test_close_commits_stored_offsets_synchronously_and_closes() -> None:
    consumer, fake = make(*ids(0, 1, 2))
    consumer.run(lambda value, message: None, max_messages=3)
    assert fake.committed == {}
    consumer.close()
    assert fake.committed == {(TOPIC, 0): 3}
    assert fake.closed
    consumer.close()  # idempotent


def test_idle_timeout_ends_the_run() -> None:
    consumer, _ = make()
    stats = consumer.run(lambda value, message: None, idle_timeout_s=0.05)
    assert stats.received == 0 and "idle" in stats.stop_reason


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
    assert fake.committed == {(TOPIC, 0): 1}
    assert signal.getsignal(signal.SIGTERM) is previous
