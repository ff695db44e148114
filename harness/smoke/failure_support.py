"""What the failure-injection checks share: waits, records by id, the cluster under test,
group protocols and worker processes (:mod:`harness.smoke.test_failure_injection`)."""

from __future__ import annotations

import signal
import subprocess
import time
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

import pytest
from confluent_kafka import Message
from confluent_kafka.admin import AdminClient, ConfigResource

from harness import kcat
from harness.accounting import AccountingReport, account_deliveries
from harness.consumer import committed_offsets
from harness.dlq import dlq_topic_for
from harness.kcat import KcatRecord
from harness.producer import Ack, JsonProducer

POLL_INTERVAL_S: Final = 0.05
#: Group settings of every consumer here: a dead member is noticed within 6 s, offsets
#: stored after the work are committed within 200 ms.
FAST_GROUP: Final[Mapping[str, Any]] = {
    "session.timeout.ms": 6000,
    "heartbeat.interval.ms": 1000,
    "auto.commit.interval.ms": 200,
}

# -- waiting -------------------------------------------------------------------------------


def wait_until(
    check: Callable[[], bool],
    *,
    timeout_s: float,
    expected: str,
    seen: Callable[[], object],
    hint: str = "",
) -> None:
    """Poll ``check`` until it is true; fail after ``timeout_s`` saying what was seen."""
    deadline = time.monotonic() + timeout_s
    while not check():
        if time.monotonic() >= deadline:
            pytest.fail(
                f"timed out after {timeout_s} s waiting for {expected}; seen: {seen()}"
                + (f"\nHint: {hint}" if hint else ""),
                pytrace=False,
            )
        time.sleep(POLL_INTERVAL_S)


def holds_for(
    check: Callable[[], bool], *, duration_s: float, expected: str, seen: Callable[[], object]
) -> None:
    """Assert that ``check`` stays true on every poll for ``duration_s`` (a must-not-happen)."""
    deadline = time.monotonic() + duration_s
    while time.monotonic() < deadline:
        assert check(), f"expected {expected} for {duration_s} s; seen: {seen()}"
        time.sleep(POLL_INTERVAL_S)


# -- records -------------------------------------------------------------------------------


def new_ids(label: str, count: int) -> list[str]:
    """``count`` ids unique to this run: ``<label>-<random>-<n>``."""
    run = uuid.uuid4().hex[:8]
    return [f"{label}-{run}-{n}" for n in range(count)]


def acks_by_id(producer: JsonProducer, topic: str) -> dict[str, Ack]:
    """The acknowledged records of ``topic`` by id (the record key)."""
    acks: dict[str, Ack] = {}
    for ack in producer.acked:
        key = ack.key_text
        if ack.topic == topic and key is not None:
            acks[key] = ack
    return acks


def produce(
    producer: JsonProducer,
    topic: str,
    ids: list[str],
    *,
    headers: list[tuple[str, bytes | None]] | None = None,
    padding: int = 0,
) -> None:
    """Send ``{"id": id}`` keyed by its id for each id, then wait for every acknowledgement."""
    for record_id in ids:
        value: dict[str, Any] = {"id": record_id}
        if padding:
            value["padding"] = "." * padding
        producer.send(topic, value, key=record_id, headers=headers)
    producer.flush()


def key_of(message: Message) -> str:
    """A consumed record's id (its key)."""
    key = message.key()
    assert key is not None, f"record {message.topic()}@{message.offset()} has no key"
    return key.decode("utf-8")


@dataclass(frozen=True)
class Cluster:
    """The cluster under test: its bootstrap servers and the client config to log in with."""

    bootstrap: str
    config: Mapping[str, str]


def read_dlq(cluster: Cluster, topic: str) -> list[KcatRecord]:
    """Every record in the DLQ of ``topic``, read back with kcat (exact bytes)."""
    return kcat.consume(
        cluster.bootstrap, dlq_topic_for(topic), timeout_s=20, config=cluster.config
    )


def dlq_ids(records: list[KcatRecord]) -> list[str]:
    """The ids of DLQ records (their keys), with repeats."""
    return [r.key_text for r in records if r.key_text is not None]


def committed_at(cluster: Cluster, group: str, topic: str) -> int | None:
    """The group's committed offset on partition 0 of ``topic`` (``None``: none)."""
    return committed_offsets(cluster.bootstrap, group, topic, config=cluster.config).get(0)


def account(acked: Mapping[str, Ack], processed: list[str], dlq: list[str]) -> AccountingReport:
    """Delivery accounting, its summary printed for the test report."""
    report = account_deliveries(acked, processed, dlq)
    print(f"delivery accounting: {report.summary()}")
    return report


@dataclass(frozen=True)
class GroupProtocol:
    """A consumer group protocol the cluster offers, and what it means for these tests."""

    name: str
    #: How long a member that died keeps its partitions (a restart without static
    #: membership waits this long for them).
    session_timeout_s: float

    def consumer_config(self) -> dict[str, Any]:
        """Settings of an in-process consumer of this protocol."""
        if self.name == "consumer":  # the session timeout and heartbeat are the broker's
            return {"group.protocol": "consumer", "auto.commit.interval.ms": 200}
        return dict(FAST_GROUP)

    def member_options(self, member: str) -> list[str]:
        """Worker options that make a restart take over the dead ``member`` at once."""
        return [] if self.name == "consumer" else ["--instance-id", member]

    @property
    def takeover_s(self) -> float:
        """How long a restarted worker may wait for the dead one's partitions."""
        return 0.0 if self.name == "classic" else self.session_timeout_s


def broker_config(admin: AdminClient) -> dict[str, str]:
    """The configs of one of the cluster's brokers, by name."""
    broker_id = next(iter(admin.list_topics(timeout=10).brokers))
    resource = ConfigResource("broker", str(broker_id))
    entries = admin.describe_configs([resource])[resource].result(timeout=30)
    return {name: entry.value for name, entry in entries.items()}


# -- consumer processes ----------------------------------------------------------------------


@dataclass
class Worker:
    """A running ``python -m harness.smoke.worker`` and the events it logged."""

    label: str
    process: subprocess.Popen[bytes]
    out: Path
    log: Path

    def events(self) -> list[tuple[str, ...]]:
        """Every complete event line so far, split into fields."""
        if not self.out.exists():
            return []
        lines = self.out.read_text(encoding="utf-8").split("\n")[:-1]
        return [tuple(line.split(" ")) for line in lines]

    def ids(self, event: str) -> list[str]:
        """The ids of every ``event`` line (``started``, ``done``, ``retry``, ``dlq``)."""
        return [fields[1] for fields in self.events() if fields[0] == event]

    def describe(self) -> str:
        """Events and the tail of the process output, for failure messages."""
        output = self.log.read_text(encoding="utf-8", errors="replace") if self.log.exists() else ""
        tail = "\n    ".join(output.strip().splitlines()[-15:])
        state = "running" if self.process.poll() is None else f"exit {self.process.returncode}"
        return f"worker {self.label} ({state}) events {self.events()}\n  output:\n    {tail}"

    def wait_for(self, *fields: str, timeout_s: float = 20.0) -> None:
        """Wait until the event line ``fields`` was logged; fail at once if the process died."""
        wait_until(
            lambda: fields in self.events() or self.process.poll() is not None,
            timeout_s=timeout_s,
            expected=f"event {' '.join(fields)!r}",
            seen=self.describe,
        )
        assert fields in self.events(), f"worker died before {' '.join(fields)!r}: " + (
            self.describe()
        )

    def sigkill(self) -> None:
        """SIGKILL the process and reap it."""
        self.process.send_signal(signal.SIGKILL)
        self.process.wait(timeout=10)
        assert self.process.returncode == -signal.SIGKILL, self.describe()

    def stop(self) -> None:
        """SIGTERM the process (a graceful stop with a final commit) and expect exit 0."""
        self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            pytest.fail(f"worker ignored SIGTERM for 20 s: {self.describe()}", pytrace=False)
        assert self.process.returncode == 0, self.describe()
        assert self.events()[-1][0] == "stopped", self.describe()
