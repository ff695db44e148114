"""The same failures through both routes: kafkarig's retry + DLQ, and a share group + broker DLQ.

Four scenarios, each on five records keyed ``<run>-0..4`` whose third record is the victim:

``transient``    the handler fails twice on the victim (``RetryableError``), then succeeds;
``poison``       the handler always fails on the victim (a retryable ``ValueError``);
``undecodable``  the victim's value is not JSON;
``crash``        the consumer process is SIGKILLed while handling the victim, then restarted.

Route ``kafkarig``: :class:`~harness.consumer.RetryingConsumer` (3 attempts), DLQ
``<topic>-dlq`` written by the consumer. Route ``share``:
:class:`~harness.share_consumer.ShareGroupConsumer` on a group with delivery count limit 3 and
a KIP-1191 DLQ written by the broker. Both are counted alike: ids acknowledged by the
producer, ids the handler finished (with repeats), ids read back from the DLQ, handler calls
per id; :func:`~harness.accounting.account_deliveries` checks nothing was lost.
"""

from __future__ import annotations

import signal
import subprocess
import sys
import time
import uuid
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final, Literal

from confluent_kafka import Message
from confluent_kafka.admin import AdminClient

from harness.accounting import AccountingReport, account_deliveries
from harness.consumer import RetryingConsumer, committed_offsets
from harness.dlq_cli import read_topic
from harness.dlq_dialects import DeadLetterContext, read_dead_letter
from harness.errors import HarnessError, RetryableError
from harness.producer import JsonProducer
from harness.retry import RetryPolicy
from harness.share_admin import (
    AUTO_OFFSET_RESET,
    BROKER_MIN_LOCK_DURATION_MS,
    DELIVERY_COUNT_LIMIT,
    DLQ_COPY_RECORD,
    DLQ_TOPIC,
    RECORD_LOCK_DURATION_MS,
    broker_configs,
    dlq_problems,
    set_group_configs,
)
from harness.share_consumer import ShareGroupConsumer

Route = Literal["kafkarig", "share"]
Scenario = Literal["transient", "poison", "undecodable", "crash"]
SCENARIOS: Final[tuple[Scenario, ...]] = ("transient", "poison", "undecodable", "crash")
ROUTE_NAMES: Final[dict[Route, str]] = {
    "kafkarig": "kafkarig retry + DLQ",
    "share": "share group + broker DLQ",
}
HEADER_FAMILIES: Final[dict[str, str]] = {
    "kafkarig": "dlq.*",
    "share-group": "__dlq.errors.*",
    "streams": "__streams.errors.*",
    "spring": "kafka_dlt-*",
    "connect": "__connect.errors.*",
}
ATTEMPTS: Final = 3
RECORDS: Final = 5
REPO_ROOT: Final = Path(__file__).resolve().parents[2]
POLICY: Final = RetryPolicy(max_attempts=ATTEMPTS, initial_backoff_ms=20, max_backoff_ms=100)
#: RetryingConsumer's group settings (a dead member is noticed within 6 s).
FAST_GROUP: Final[dict[str, Any]] = {
    "session.timeout.ms": 6000,
    "heartbeat.interval.ms": 1000,
    "auto.commit.interval.ms": 200,
}


@dataclass
class RouteRun:
    """One scenario through one route: what was produced, handled and dead-lettered."""

    route: Route
    scenario: Scenario
    ids: list[str]
    source_topic: str = ""
    group: str = ""
    victim_offset: int = -1
    processed: list[str] = field(default_factory=list)
    dlq: list[str] = field(default_factory=list)
    calls: Counter[str] = field(default_factory=Counter)
    dead_letters: list[DeadLetterContext] = field(default_factory=list)
    report: AccountingReport | None = None

    @property
    def victim(self) -> str:
        """The record every scenario targets."""
        return self.ids[2]

    @property
    def redeliveries(self) -> int:
        """Handler calls beyond the first, over every record (retries and redeliveries)."""
        return sum(count - 1 for count in self.calls.values() if count > 1)

    @property
    def dlq_headers(self) -> str:
        """The DLQ context headers written, as ``prefix* (count)``; ``-`` when none."""
        if not self.dead_letters:
            return "-"
        first = self.dead_letters[0]
        return f"{HEADER_FAMILIES[first.dialect]} ({len(first.context_headers)})"


@dataclass(frozen=True)
class Topics:
    """The topics of one route run: the source topic and its DLQ."""

    source: str
    dlq: str


# -- producing and reading back ------------------------------------------------------------


def produce(bootstrap: str, topic: str, ids: list[str], undecodable: str | None) -> dict[str, Any]:
    """Send ``{"id": id}`` per id (raw bytes for ``undecodable``); the acks by id."""
    with JsonProducer(bootstrap) as producer:
        for record_id in ids:
            if record_id == undecodable:
                producer.send_raw(topic, b"\xff\xfe not JSON", key=record_id)
            else:
                producer.send(topic, {"id": record_id}, key=record_id)
        producer.flush()
        return {
            ack.key_text: ack
            for ack in producer.acked
            if ack.topic == topic and ack.key_text is not None
        }


def read_dlq(
    bootstrap: str, topic: str, expected: int, *, timeout_s: float
) -> list[tuple[str, DeadLetterContext]]:
    """``(id, context)`` of the DLQ's records, waiting until ``expected`` are there.

    The share route's broker writes dead letters asynchronously, so the topic is re-read
    until it holds ``expected`` records or ``timeout_s`` passed (then what is there).
    """
    deadline = time.monotonic() + timeout_s
    while True:
        records: list[Message] = list(read_topic(bootstrap, topic, max_records=1000, timeout_s=10))
        if len(records) >= expected or time.monotonic() >= deadline:
            found = []
            for record in records:
                key = record.key()
                found.append(
                    ("?" if key is None else key.decode(), read_dead_letter(record.headers()))
                )
            return found
        time.sleep(0.5)


# -- the kafkarig route --------------------------------------------------------------------


def _handler(run: RouteRun) -> Callable[[Any, Message], None]:
    def handle(value: Any, message: Message) -> None:
        record_id = value["id"]
        run.calls[record_id] += 1
        if record_id == run.victim and run.scenario == "transient" and run.calls[record_id] <= 2:
            raise RetryableError(f"transient failure {run.calls[record_id]} of 2")
        if record_id == run.victim and run.scenario == "poison":
            raise ValueError(f"{record_id} is poison")
        run.processed.append(record_id)

    return handle


def run_in_process(run: RouteRun, bootstrap: str, topics: Topics, group: str) -> None:
    """transient / poison / undecodable: one consumer in this process until all finished."""
    handler = _handler(run)
    if run.route == "kafkarig":
        with RetryingConsumer(
            bootstrap, topics.source, group_id=group, policy=POLICY, config=FAST_GROUP
        ) as consumer:
            finished = consumer.run(handler, max_messages=len(run.ids), idle_timeout_s=60).finished
    else:
        with ShareGroupConsumer(bootstrap, topics.source, group_id=group, policy=POLICY) as share:
            finished = share.run(handler, max_messages=len(run.ids), idle_timeout_s=60).finished
    if finished != len(run.ids):
        raise HarnessError(f"{run.route}/{run.scenario}: finished {finished} of {len(run.ids)}")


# -- crash: a consumer process killed mid-record -------------------------------------------


@dataclass
class _Process:
    process: subprocess.Popen[bytes]
    out: Path
    log: Path

    def events(self) -> list[list[str]]:
        if not self.out.exists():
            return []
        return [line.split(" ") for line in self.out.read_text().split("\n")[:-1]]

    def ids(self, event: str) -> list[str]:
        return [fields[1] for fields in self.events() if fields[0] == event]

    def wait_for(self, check: Callable[[], bool], what: str, timeout_s: float) -> None:
        deadline = time.monotonic() + timeout_s
        while not check():
            if self.process.poll() is not None or time.monotonic() >= deadline:
                output = self.log.read_text(errors="replace")[-2000:] if self.log.exists() else ""
                raise HarnessError(
                    f"waited {timeout_s} s for {what}; events {self.events()}\n{output}"
                )
            time.sleep(0.05)


def _spawn(module: str, label: str, work_dir: Path, *args: str) -> _Process:
    out, log = work_dir / f"{label}.events", work_dir / f"{label}.log"
    with log.open("wb") as output:
        process = subprocess.Popen(
            [sys.executable, "-m", module, "--out", str(out), *args],
            cwd=REPO_ROOT,
            stdout=output,
            stderr=subprocess.STDOUT,
        )
    return _Process(process, out, log)


def run_crash(
    run: RouteRun,
    bootstrap: str,
    topics: Topics,
    group: str,
    work_dir: Path,
    acks: dict[str, Any],
    *,
    redelivery_timeout_s: float,
) -> None:
    """Kill the consumer process while it handles the victim; restart it; wait for all."""
    if run.route == "kafkarig":
        module, member = "harness.smoke.worker", f"crash-{uuid.uuid4().hex[:8]}"
        common = ["--mode", "kafkarig", "--instance-id", member]
    else:
        module, common = "harness.smoke.share_worker", []
    args = ["--bootstrap", bootstrap, "--topic", topics.source, "--group", group, *common]
    first = _spawn(module, f"{run.route}-first", work_dir, *args, "--hang-on", run.victim)
    processes = [first]
    try:
        first.wait_for(lambda: run.victim in first.ids("started"), "the victim to start", 30)
        if run.route == "kafkarig":  # what came before the victim is committed, never the victim
            victim_offset = acks[run.victim].offset
            first.wait_for(
                lambda: committed_offsets(bootstrap, group, topics.source).get(0) == victim_offset,
                f"the commit of offset {victim_offset}",
                15,
            )
        first.process.send_signal(signal.SIGKILL)
        first.process.wait(timeout=10)
        second = _spawn(module, f"{run.route}-second", work_dir, *args)
        processes.append(second)
        second.wait_for(
            lambda: set(run.ids[2:]) <= set(second.ids("done")),
            "the restarted consumer to finish the victim and the rest",
            redelivery_timeout_s,
        )
    finally:
        for process in processes:
            if process.process.poll() is None:
                process.process.send_signal(signal.SIGTERM)
                try:
                    process.process.wait(timeout=20)
                except subprocess.TimeoutExpired:
                    process.process.kill()
                    process.process.wait(timeout=10)
    for process in processes:
        run.processed.extend(process.ids("done"))
        run.calls.update(process.ids("started"))


# -- one scenario through one route ----------------------------------------------------------


def prepare_share_group(admin: AdminClient, group: str, dlq_topic: str) -> int:
    """Group configs of the share route: earliest, 3 deliveries, the DLQ, the shortest lock.

    Returns the lock duration in ms (the broker's minimum: a crashed member's records come
    back that much later). Raises when the broker would drop the group's dead letters.
    """
    lock_ms = int(broker_configs(admin).get(BROKER_MIN_LOCK_DURATION_MS, "15000"))
    set_group_configs(
        admin,
        group,
        {
            AUTO_OFFSET_RESET: "earliest",
            DELIVERY_COUNT_LIMIT: str(ATTEMPTS),
            RECORD_LOCK_DURATION_MS: str(lock_ms),
            DLQ_TOPIC: dlq_topic,
            DLQ_COPY_RECORD: "true",
        },
    )
    problems = dlq_problems(admin, group)
    if problems:
        raise HarnessError("the share group's DLQ would drop dead letters: " + "; ".join(problems))
    return lock_ms


def probe_share_dlq(
    bootstrap: str, admin: AdminClient, topics: Topics, group: str, *, timeout_s: float = 90.0
) -> str | None:
    """Reject one record through a share group; why the broker DLQ is unusable, or ``None``.

    Also a readiness wait: the first share group of a fresh broker waits for the share
    coordinator's state topic (``group.share.initialize.retry.interval.ms``, 30 s), so the
    probe allows ``timeout_s`` for its record to arrive.
    """
    try:
        prepare_share_group(admin, group, topics.dlq)
        produce(bootstrap, topics.source, ["probe"], undecodable="probe")
        with ShareGroupConsumer(bootstrap, topics.source, group_id=group) as consumer:
            stats = consumer.run(
                lambda value, message: None, max_messages=1, idle_timeout_s=timeout_s
            )
    except HarnessError as error:
        return f"this cluster has no share groups: {error.message}"
    if stats.dlq != 1:
        return f"the probe record was not rejected within {timeout_s} s ({stats})"
    if not read_dlq(bootstrap, topics.dlq, 1, timeout_s=20):
        return (
            "share groups work but the broker wrote no dead letter within 20 s: the cluster "
            "lacks the KIP-1191 DLQ (share.version < 2; kafka-features upgrade --feature "
            "share.version=2)"
        )
    return None


def run_scenario(
    route: Route,
    scenario: Scenario,
    bootstrap: str,
    topics: Topics,
    group: str,
    work_dir: Path,
    admin: AdminClient,
) -> RouteRun:
    """Produce, consume through ``route``, read the DLQ back and account for every id."""
    ids = [f"{scenario}-{uuid.uuid4().hex[:6]}-{n}" for n in range(RECORDS)]
    run = RouteRun(route, scenario, ids, source_topic=topics.source, group=group)
    lock_ms = prepare_share_group(admin, group, topics.dlq) if route == "share" else 0
    acks = produce(
        bootstrap, topics.source, run.ids, run.victim if scenario == "undecodable" else None
    )
    run.victim_offset = acks[run.victim].offset
    if scenario == "crash":
        run_crash(
            run, bootstrap, topics, group, work_dir, acks, redelivery_timeout_s=lock_ms / 1000 + 45
        )
    else:
        run_in_process(run, bootstrap, topics, group)
    expected_dlq = 1 if scenario in ("poison", "undecodable") else 0
    dead = read_dlq(bootstrap, topics.dlq, expected_dlq, timeout_s=30 if expected_dlq else 2)
    run.dlq = [record_id for record_id, _ in dead]
    run.dead_letters = [context for _, context in dead]
    run.report = account_deliveries(acks, run.processed, run.dlq)
    return run


def side_by_side_table(runs: list[RouteRun]) -> str:
    """The comparison as a Markdown table, one row per scenario and route."""
    header = (
        "| scenario | route | processed | dead-lettered | redeliveries | duplicates | "
        "DLQ headers written |"
    )
    lines = [header, "|" + "---|" * 7]
    for run in runs:
        report = run.report
        assert report is not None, f"{run.route}/{run.scenario} was not accounted"
        lines.append(
            f"| {run.scenario} | {ROUTE_NAMES[run.route]} | {report.processed_unique} | "
            f"{report.dlq_unique} | {run.redeliveries} | {report.duplicates} | {run.dlq_headers} |"
        )
    return "\n".join(lines)
