"""The DLQ writers against a fake producer: one copy in flight at most, transactions kept whole."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any, ClassVar

import pytest
from confluent_kafka import KafkaError, KafkaException, TopicPartition

import harness.dlq_writer as writer_module
from harness.dlq_writer import (
    AtLeastOnceDlqWriter,
    DeadLetter,
    DlqOptions,
    TransactionalDlqWriter,
    check_topics_exist,
    default_transactional_id,
    new_writer,
)
from harness.errors import ConfigurationError, ConsumerError, DeliveryError
from tests.unit.fake_kafka import FakeConsumer, Metadata, TopicInfo

LETTER = DeadLetter(
    topic="user-events-dlq",
    key=b"k1",
    value=b'{"id": 1}',
    headers=[("dlq.original.offset", b"7")],
    source=("user-events", 2, 7),
    source_leader_epoch=3,
)


class FakeProducer:
    """Records calls; delivery reports are handed out by :meth:`deliver`, not by flush."""

    instances: ClassVar[list[FakeProducer]] = []
    #: Errors to raise, by method name, one per call, in order.
    fail: ClassVar[dict[str, list[KafkaError]]] = {}

    def __init__(self, config: dict[str, Any]) -> None:
        self.config = config
        self.calls: list[str] = []
        self.waiting: list[Callable[[KafkaError | None, Any], None]] = []
        self.hold_reports = False  # True: flush hands out no delivery report
        self.report_error: KafkaError | None = None  # the error the next reports carry
        FakeProducer.instances.append(self)

    def _maybe_fail(self, name: str) -> None:
        self.calls.append(name)
        errors = FakeProducer.fail.get(name)
        if errors:
            raise KafkaException(errors.pop(0))

    def produce(self, topic: str, value: Any, key: Any, **kwargs: Any) -> None:
        self._maybe_fail("produce")
        if "on_delivery" in kwargs:
            self.waiting.append(kwargs["on_delivery"])

    def flush(self, timeout: float = -1) -> int:
        self.calls.append("flush")
        if not self.hold_reports:
            for report in self.waiting:
                report(self.report_error, None)
            self.waiting.clear()
        return len(self.waiting)

    def init_transactions(self, timeout: float = -1) -> None:
        self._maybe_fail("init_transactions")

    def begin_transaction(self) -> None:
        self._maybe_fail("begin_transaction")

    def send_offsets_to_transaction(
        self, offsets: list[TopicPartition], metadata: object, timeout: float = -1
    ) -> None:
        self._maybe_fail("send_offsets_to_transaction")
        self.offsets = offsets
        self.metadata = metadata

    def commit_transaction(self, timeout: float = -1) -> None:
        self._maybe_fail("commit_transaction")

    def abort_transaction(self, timeout: float = -1) -> None:
        self._maybe_fail("abort_transaction")


def kafka_error(
    code: int, *, retriable: bool = False, abort: bool = False, fatal: bool = False
) -> KafkaError:
    return KafkaError(code, "injected", fatal=fatal, retriable=retriable, txn_requires_abort=abort)


@pytest.fixture(autouse=True)
def fake_producer(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    FakeProducer.instances.clear()
    FakeProducer.fail = {}
    monkeypatch.setattr(writer_module, "Producer", FakeProducer)
    yield


def metadata() -> str:
    return "group metadata"


# -- at least once -----------------------------------------------------------------------


def test_the_at_least_once_writer_is_idempotent_with_all_acks_and_a_bounded_delivery() -> None:
    AtLeastOnceDlqWriter("b:9092", DlqOptions(timeout_s=4, producer_config={"linger.ms": 2}))
    config = FakeProducer.instances[-1].config
    assert (config["enable.idempotence"], config["acks"]) == (True, "all")
    assert config["message.timeout.ms"] == 4000
    assert config["linger.ms"] == 2, "the caller's producer settings win"


def test_a_copy_still_in_flight_is_waited_for_and_never_sent_twice() -> None:
    writer = AtLeastOnceDlqWriter("b:9092", DlqOptions())
    producer = FakeProducer.instances[-1]
    producer.hold_reports = True  # the flush times out with the copy in flight
    with pytest.raises(DeliveryError, match="not sent again"):
        writer.write(LETTER, metadata)
    producer.hold_reports = False
    writer.write(LETTER, metadata)  # the same record again: waits for the first copy
    assert producer.calls.count("produce") == 1


def test_a_copy_reported_failed_is_sent_again_on_the_next_write() -> None:
    writer = AtLeastOnceDlqWriter("b:9092", DlqOptions())
    producer = FakeProducer.instances[-1]
    producer.report_error = kafka_error(KafkaError.MSG_SIZE_TOO_LARGE)
    with pytest.raises(DeliveryError, match="did not take it"):
        writer.write(LETTER, metadata)
    producer.report_error = None
    writer.write(LETTER, metadata)
    assert producer.calls.count("produce") == 2


# -- transactional -----------------------------------------------------------------------


def test_a_dead_letter_and_its_source_offset_commit_in_one_transaction() -> None:
    writer = TransactionalDlqWriter("b:9092", DlqOptions(transactional=True), "tx-1")
    producer = FakeProducer.instances[-1]
    writer.write(LETTER, metadata)
    assert producer.config["transactional.id"] == "tx-1"
    assert producer.calls == [
        "init_transactions",
        "begin_transaction",
        "produce",
        "send_offsets_to_transaction",
        "commit_transaction",
    ]
    [offset] = producer.offsets
    assert (offset.topic, offset.partition, offset.offset, offset.leader_epoch) == (
        "user-events",
        2,
        8,
        3,
    )
    assert producer.metadata == "group metadata"


def test_a_commit_that_timed_out_is_finished_before_anything_else_and_not_produced_again() -> None:
    writer = TransactionalDlqWriter("b:9092", DlqOptions(transactional=True), "tx-1")
    producer = FakeProducer.instances[-1]
    FakeProducer.fail = {"commit_transaction": [kafka_error(KafkaError._TIMED_OUT, retriable=True)]}
    with pytest.raises(DeliveryError, match="transaction failed"):
        writer.write(LETTER, metadata)
    writer.write(LETTER, metadata)
    assert producer.calls.count("produce") == 1
    assert producer.calls.count("commit_transaction") == 2
    assert "abort_transaction" not in producer.calls


def test_an_abortable_error_aborts_and_the_next_write_starts_a_new_transaction() -> None:
    writer = TransactionalDlqWriter("b:9092", DlqOptions(transactional=True), "tx-1")
    producer = FakeProducer.instances[-1]
    FakeProducer.fail = {
        "send_offsets_to_transaction": [kafka_error(KafkaError.ILLEGAL_GENERATION, abort=True)]
    }
    with pytest.raises(DeliveryError):
        writer.write(LETTER, metadata)
    assert producer.calls[-1] == "abort_transaction"
    writer.write(LETTER, metadata)
    assert producer.calls.count("begin_transaction") == 2
    assert producer.calls[-1] == "commit_transaction"


def test_a_fatal_error_starts_a_new_producer_that_fences_the_old_one() -> None:
    writer = TransactionalDlqWriter("b:9092", DlqOptions(transactional=True), "tx-1")
    FakeProducer.fail = {"produce": [kafka_error(KafkaError._FENCED, fatal=True)]}
    with pytest.raises(DeliveryError):
        writer.write(LETTER, metadata)
    assert len(FakeProducer.instances) == 2
    assert FakeProducer.instances[-1].calls == ["init_transactions"]
    writer.write(LETTER, metadata)


def test_a_cluster_without_transactions_is_a_clear_error() -> None:
    FakeProducer.fail = {"init_transactions": [kafka_error(KafkaError._TIMED_OUT)]}
    with pytest.raises(ConfigurationError, match="cannot use transactions") as caught:
        TransactionalDlqWriter("b:9092", DlqOptions(transactional=True), "tx-1")
    assert "transactional=False" in caught.value.render()


def test_close_aborts_an_open_transaction() -> None:
    writer = TransactionalDlqWriter("b:9092", DlqOptions(transactional=True), "tx-1")
    producer = FakeProducer.instances[-1]
    FakeProducer.fail = {
        "send_offsets_to_transaction": [kafka_error(KafkaError._TIMED_OUT, retriable=True)],
        "abort_transaction": [kafka_error(KafkaError._TIMED_OUT, retriable=True)],
    }
    with pytest.raises(DeliveryError):
        writer.write(LETTER, metadata)
    writer.close()
    assert producer.calls[-2:] == ["abort_transaction", "flush"]


# -- options and topics ------------------------------------------------------------------


def test_options_choose_the_writer_and_a_stable_transactional_id() -> None:
    plain = new_writer("b:9092", DlqOptions(), group_id="g", instance_id=None)
    assert isinstance(plain, AtLeastOnceDlqWriter) and not plain.exactly_once
    exact = new_writer("b:9092", DlqOptions(transactional=True), group_id="g", instance_id="m1")
    assert isinstance(exact, TransactionalDlqWriter) and exact.exactly_once
    assert exact.transactional_id == default_transactional_id("g", "m1") == "kafkarig-dlq-g-m1"
    assert default_transactional_id("g", None) != default_transactional_id("g", None)


def test_invalid_options_are_refused() -> None:
    with pytest.raises(ConfigurationError, match="timeout_s"):
        DlqOptions(timeout_s=0)
    with pytest.raises(ConfigurationError, match="needs transactional=True"):
        DlqOptions(transactional_id="x")
    assert DlqOptions().topic_for("t") == "t-dlq"
    assert DlqOptions(topic="all-dlq").topic_for("t") == "all-dlq"


def test_check_topics_exist_names_every_missing_topic() -> None:
    FakeConsumer.missing_topics = {"a-dlq", "c-dlq"}
    client = FakeConsumer({})
    with pytest.raises(ConfigurationError, match="'a-dlq', 'c-dlq'"):
        check_topics_exist(client.list_topics, ["a-dlq", "b-dlq", "c-dlq"], timeout_s=1)
    FakeConsumer.missing_topics = set()
    check_topics_exist(client.list_topics, ["a-dlq"], timeout_s=1)


def test_a_dlq_topic_created_a_moment_ago_is_waited_for_not_refused() -> None:
    FakeConsumer.missing_topics = {"new-dlq"}
    client = FakeConsumer({})
    asked = 0

    def list_topics(topic: str, timeout: float) -> object:
        nonlocal asked
        asked += 1
        if asked == 3:  # the metadata shows it from the third request on
            FakeConsumer.missing_topics = set()
        return client.list_topics(topic, timeout=timeout)

    try:
        check_topics_exist(list_topics, ["new-dlq"], timeout_s=10)
    finally:
        FakeConsumer.missing_topics = set()
    assert asked == 3


def test_check_topics_exist_says_when_the_broker_cannot_be_asked() -> None:
    def unreachable(topic: str, timeout: float) -> Metadata:
        raise KafkaException(KafkaError(KafkaError._TRANSPORT))

    with pytest.raises(ConsumerError, match="cannot check that the DLQ topic"):
        check_topics_exist(unreachable, ["a-dlq"], timeout_s=1)
    errored = Metadata({"a-dlq": TopicInfo(error=KafkaError(KafkaError.UNKNOWN_TOPIC_OR_PART))})
    with pytest.raises(ConfigurationError):
        check_topics_exist(lambda topic, timeout: errored, ["a-dlq"], timeout_s=1)
