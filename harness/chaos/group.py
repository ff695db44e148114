"""The consumer-group scenario: 3 retrying consumers (retry + DLQ) while a broker dies.

Three :class:`~harness.consumer.RetryingConsumer` members of one group consume the
workload's topic in threads. The handler fails some records once (retried), and refuses
others for good (dead-lettered to ``<topic>-dlq``). While they run, the group's coordinator
is SIGKILLed and restarted. Afterwards every acknowledged record must have been handled or
dead-lettered (not both), at the position its delivery report gave: delivery accounting by
id and by position (:func:`~harness.accounting.account_records`). Redeliveries are allowed
(at-least-once) and counted.
"""

from __future__ import annotations

import threading
import time
import uuid
from collections import Counter
from dataclasses import dataclass, field
from typing import Any, Final

from confluent_kafka import Message

from harness.accounting import account_records
from harness.chaos.runner import ScenarioRun
from harness.checker import Read
from harness.consumer import RetryingConsumer, RunStats
from harness.dlq import parse_dlq_headers
from harness.errors import DeliveryAccountingError, NonRetryableError, RetryableError
from harness.history import as_read, read_messages
from harness.retry import RetryPolicy
from infra.console import step

MEMBERS: Final = 3
#: Every POISON_EVERY-th record of a key is refused for good (DLQ), every FLAKY_EVERY-th
#: fails once (retried).
POISON_EVERY: Final = 211
FLAKY_EVERY: Final = 97
GROUP_CONFIG: Final = {
    "session.timeout.ms": 10_000,
    "heartbeat.interval.ms": 1000,
    "auto.commit.interval.ms": 200,
}
POLICY: Final = RetryPolicy(max_attempts=3, initial_backoff_ms=20, max_backoff_ms=100)
DRAIN_TIMEOUT_S: Final = 300.0


@dataclass
class Group:
    """The members, their threads, and what their handlers saw."""

    group_id: str
    members: list[RetryingConsumer] = field(default_factory=list)
    threads: list[threading.Thread] = field(default_factory=list)
    processed: list[Read] = field(default_factory=list)
    failed_once: set[str] = field(default_factory=set)
    stats: list[RunStats] = field(default_factory=list)
    errors: list[BaseException] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def handle(self, value: Any, message: Message) -> None:
        """Handle one record: poison ones go to the DLQ, flaky ones fail once."""
        seq = int(value["seq"])
        if seq % POISON_EVERY == POISON_EVERY - 1:
            raise NonRetryableError(f"poison record {value['id']}")
        with self.lock:
            if seq % FLAKY_EVERY == 0 and value["id"] not in self.failed_once:
                self.failed_once.add(value["id"])
                raise RetryableError(f"transient failure of {value['id']}")
            self.processed.append(
                Read(
                    str(value["key"]),
                    str(value["id"]),
                    message.partition() or 0,
                    message.offset() or 0,
                    seq,
                )
            )

    def stop(self) -> None:
        """Stop every member and wait for its thread (a stopped group stops at once)."""
        for consumer in self.members:
            consumer.stop("the scenario is over")
        for thread in self.threads:
            thread.join(timeout=60)

    def finished_ids(self) -> set[str]:
        """Value ids handled so far."""
        with self.lock:
            return {read.value for read in self.processed}


def _member(group: Group, consumer: RetryingConsumer) -> None:
    try:
        with consumer:
            stats = consumer.run(group.handle)
        with group.lock:
            group.stats.append(stats)
    except BaseException as error:
        with group.lock:
            group.errors.append(error)


def consumer_group_plan(run: ScenarioRun) -> None:
    """Start the group, let it work, SIGKILL its coordinator, restart it, let it work."""
    group = Group(group_id=f"chaos-group-{uuid.uuid4().hex[:8]}")
    run.extra["group"] = group
    run.cleanups.append(group.stop)
    for _ in range(MEMBERS):
        consumer = RetryingConsumer(
            run.cluster.bootstrap_servers,
            run.topic,
            group_id=group.group_id,
            policy=POLICY,
            config=GROUP_CONFIG,
        )
        group.members.append(consumer)
        thread = threading.Thread(target=_member, args=(group, consumer), daemon=True)
        group.threads.append(thread)
        thread.start()
    run.hold(10, "the group takes its partitions and consumes")
    coordinator = run.cluster.coordinator_of(group.group_id)
    with run.faults.killed(coordinator):
        run.hold(5, f"group coordinator {coordinator} dead")
    run.wait_whole()
    run.hold(5, "the group consumes after the broker came back")


def dlq_reads(run: ScenarioRun) -> list[Read]:
    """The DLQ copies, each read at the source position its ``dlq.original.*`` headers name."""
    reads = []
    for copy in read_messages(run.cluster.bootstrap_servers, f"{run.topic}-dlq"):
        info = parse_dlq_headers(copy.headers())
        reads.append(as_read(copy, info.original_partition, info.original_offset))
    return reads


def consumer_group_after(run: ScenarioRun) -> list[str]:
    """Drain the topic, stop the group, and account for every acknowledged record."""
    group: Group = run.extra["group"]
    writes = run.workload.writes()
    poison = {w.value for w in writes if (w.seq or 0) % POISON_EVERY == POISON_EVERY - 1}
    wanted = {w.value for w in writes} - poison
    deadline = time.monotonic() + DRAIN_TIMEOUT_S
    step(f"waiting for the group to handle {len(wanted)} records")
    drain_started = time.monotonic()
    while not wanted <= group.finished_ids() and time.monotonic() < deadline:
        time.sleep(0.5)
    handled = group.finished_ids()
    step(
        f"the group handled {len(handled & wanted)} of {len(wanted)} in "
        f"{time.monotonic() - drain_started:.0f}s after the workload stopped"
    )
    late = wanted - handled
    group.stop()
    problems = [f"a consumer failed: {error!r}" for error in group.errors]
    if late:
        behind = dict(sorted(Counter(w.partition for w in writes if w.value in late).items()))
        problems.append(
            f"the group did not finish: {len(late)} records unhandled {DRAIN_TIMEOUT_S:.0f} s "
            f"after the workload stopped (by partition: {behind}); a member is stuck or "
            "consumes too slowly"
        )
    dlq = dlq_reads(run)
    try:
        result = account_records(
            writes, group.processed, dlq, indeterminate=run.workload.indeterminate()
        )
    except DeliveryAccountingError as error:
        return [*problems, error.message[:1000]]
    notes = run.extra.setdefault("notes", [])
    notes.append(f"group accounting: {result.summary()}")
    notes.extend(
        f"member: processed={stats.processed} dlq={stats.dlq} retries={stats.retries} "
        f"stop={stats.stop_reason!r}"
        for stats in group.stats
    )
    if result.ids.dlq_unique != len(poison):
        problems.append(f"{result.ids.dlq_unique} records dead-lettered, expected {len(poison)}")
    return problems
