"""The retrying consumer on real Kafka: a group that changes during backoffs, and crashes.

The module brings up its own one-broker stack (``stacks/consumer-1-broker.toml``) and runs
each test under both group protocols: ``classic`` and KIP-848's ``consumer``.
"""

from __future__ import annotations

import tempfile
import threading
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final

import pytest
from confluent_kafka import Message, Producer
from confluent_kafka.admin import AdminClient, NewTopic

from harness.accounting import account_deliveries
from harness.consumer import RetryingConsumer, RunStats, committed_offsets
from harness.errors import RetryableError
from harness.retry import RetryPolicy
from infra import lifecycle
from infra.config import load_stack
from tests.crash_matrix import read_committed_keys, run_matrix

STACK_FILE: Final = Path(__file__).parent / "stacks" / "consumer-1-broker.toml"
PARTITIONS: Final = 6
BACKOFF: Final = RetryPolicy(max_attempts=3, initial_backoff_ms=300, max_backoff_ms=300, jitter=0)


@pytest.fixture(scope="module")
def bootstrap(local_images: list[str]) -> Iterator[str]:
    """A one-broker stack of the local images for this module; taken down afterwards."""
    stack = load_stack(STACK_FILE)
    root = Path(tempfile.mkdtemp(prefix="kafkarig-consumer-"))
    lifecycle.up(stack, root)
    try:
        yield stack.bootstrap_servers
    finally:
        lifecycle.down(stack)


@pytest.fixture(params=["classic", "consumer"])
def protocol(request: pytest.FixtureRequest) -> str:
    """Each group protocol in turn."""
    return str(request.param)


def group_config(protocol: str) -> dict[str, Any]:
    """Fast failure detection; under KIP-848 the stack's brokers set it (6 s)."""
    if protocol == "consumer":
        return {"group.protocol": "consumer", "auto.commit.interval.ms": 200}
    return {
        "session.timeout.ms": 6000,
        "heartbeat.interval.ms": 1000,
        "auto.commit.interval.ms": 200,
    }


@dataclass
class Member:
    """One group member running in a thread, until :meth:`leave`."""

    name: str
    consumer: RetryingConsumer
    handled: list[str]
    thread: threading.Thread | None = None
    stats: list[RunStats | BaseException] = field(default_factory=list)

    def start(self) -> None:
        """Run the loop in a thread."""
        self.thread = threading.Thread(target=self._run, name=self.name, daemon=True)
        self.thread.start()

    def _run(self) -> None:
        try:
            with self.consumer:
                self.stats.append(self.consumer.run(self._handle))
        except BaseException as error:
            self.stats.append(error)

    def _handle(self, value: Any, message: Message) -> None:
        number = int(value["id"].rsplit("-", 1)[1])
        if number % 100 == 7:
            raise RetryableError("always fails")  # dead-lettered after its 3 attempts
        if number % 10 == 3 and value["id"] not in self._failed_once:
            self._failed_once.add(value["id"])
            raise RetryableError("fails once")
        self.handled.append(value["id"])

    def __post_init__(self) -> None:
        self._failed_once: set[str] = set()

    def leave(self) -> RunStats:
        """Stop the loop and close the consumer (it leaves the group)."""
        self.consumer.stop("leaves the group")
        assert self.thread is not None
        self.thread.join(timeout=60)
        assert not self.thread.is_alive(), f"{self.name} did not stop"
        (outcome,) = self.stats
        assert isinstance(outcome, RunStats), f"{self.name} failed: {outcome!r}"
        return outcome


def test_a_changing_group_handles_every_record_and_leaves_no_partition_unconsumed(
    bootstrap: str, protocol: str
) -> None:
    """3 of 5 members on 6 partitions, joining and leaving during 300 ms backoffs."""
    run = uuid.uuid4().hex[:8]
    topic, group = f"churn-{run}", f"churn-{run}"
    admin = AdminClient({"bootstrap.servers": bootstrap})
    for future in admin.create_topics(
        [NewTopic(topic, PARTITIONS, 1), NewTopic(f"{topic}-dlq", PARTITIONS, 1)]
    ).values():
        future.result(timeout=30)
    acked: list[str] = []
    producer = Producer({"bootstrap.servers": bootstrap, "linger.ms": 5, "acks": "all"})
    producing = threading.Event()
    produced = 0

    def on_delivery(error: Any, message: Message) -> None:
        if error is None and message.key() is not None:
            acked.append(message.key().decode())  # type: ignore[union-attr]

    def produce(count: int) -> None:
        nonlocal produced
        for _ in range(count):
            record_id = f"churn-{run}-{produced}"
            producer.produce(
                topic,
                f'{{"id": "{record_id}"}}'.encode(),
                record_id.encode(),
                partition=produced % PARTITIONS,
                on_delivery=on_delivery,
            )
            produced += 1
        producer.poll(0)

    def keep_producing() -> None:
        while producing.is_set():  # about 100 records/s: what the group handles with its backoffs
            produce(10)
            time.sleep(0.1)

    handled: list[str] = []
    members: dict[str, Member] = {}
    everyone: list[Member] = []

    def join(name: str) -> Member:
        consumer = RetryingConsumer(
            bootstrap,
            topic,
            group_id=group,
            policy=BACKOFF,
            config=group_config(protocol),
            backlog_limit=2,  # pause a held partition early: the stall needs a pause
        )
        member = Member(name, consumer, handled)
        member.start()
        members[name] = member
        everyone.append(member)
        return member

    producing.set()
    writer = threading.Thread(target=keep_producing, daemon=True)
    writer.start()
    finished: list[RunStats] = []
    try:
        join("a")
        for name in ["b", "c", "-b", "d", "-a", "e"]:  # "-b": b leaves
            time.sleep(3)
            if name.startswith("-"):
                finished.append(members.pop(name[1:]).leave())
            else:
                join(name)
        time.sleep(3)
    finally:
        producing.clear()
        writer.join(timeout=10)
        produce(PARTITIONS)  # a last record on every partition: each must be consumed
        producer.flush(30)

    dlq_topic = f"{topic}-dlq"
    permanent = {i for i in acked if int(i.rsplit("-", 1)[1]) % 100 == 7}
    deadline = time.monotonic() + 60
    dlq: Counter[str] = Counter()
    while time.monotonic() < deadline:
        dlq = read_committed_keys(bootstrap, dlq_topic, PARTITIONS)
        if set(acked) <= set(handled) | set(dlq):
            break
        time.sleep(1)
    for member in list(members.values()):
        finished.append(member.leave())
    try:
        missing = set(acked) - set(handled) - set(dlq)
        stalled = sorted({int(i.rsplit("-", 1)[1]) % PARTITIONS for i in missing})
        assert not missing, f"{len(missing)} record(s) never handled; partitions {stalled} stalled"
        report = account_deliveries(acked, handled, dlq)
        print(f"{protocol}: {len(acked)} records, {report.summary()}")
        assert set(dlq) == permanent, "the DLQ holds exactly the records that always fail"
        assert sum(stats.abandoned for stats in finished) >= 1, "a rebalance hit a backoff"
        assert sum(member.consumer.pauses for member in everyone) >= 1, "held partitions paused"
        ends = committed_offsets(bootstrap, group, topic)
        expected = {p: (produced - p + PARTITIONS - 1) // PARTITIONS for p in range(PARTITIONS)}
        assert ends == expected, "every partition committed to its end"
    finally:
        admin.delete_topics([topic, dlq_topic])


@pytest.mark.timeout(600)
def test_crashes_at_every_point_lose_nothing_and_dead_letter_each_failure_once(
    bootstrap: str, protocol: str, tmp_path: Path
) -> None:
    """The crash-point matrix, short: each named point and a random kill, transactional DLQ."""
    report = run_matrix(
        bootstrap,
        records=2_000,
        kills=7,
        workdir=tmp_path,
        protocol=protocol,
        dlq_mode="transactional",
        commit="manual",
        seed=7,
        log=False,
    )
    print(report.summary())
    assert report.problems() == []
    assert {kill.point for kill in report.kills} == {
        "handler-failed",
        "backoff",
        "dlq-write",
        "dlq-written",
        "stored",
        "commit",
        "random",
    }
    assert len(report.dlq) == 20 and set(report.dlq.values()) == {1}
