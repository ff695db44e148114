"""Run one chaos scenario: a fresh topic, a produce workload, the scenario's faults, a check.

Produce-fault-validate as one reusable helper (as Kafka's system tests do): a scratch topic
shaped like the stack's declared topic (partitions, replication factor, configs), a
:class:`~harness.history.ProduceWorkload` with the scenario's producer settings, the
scenario's fault plan through a :class:`~infra.faults.FaultInjector` (every fault undone when
the plan ends, however it ends), the cluster waited for until whole, the topic read back and
the history handed to the delivery checker. The suite joins ``infra`` and ``harness`` here.
"""

from __future__ import annotations

import contextlib
import time
import uuid
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

from confluent_kafka import KafkaException
from confluent_kafka.admin import AdminClient, NewTopic

from harness.chaos.results import FaultMark, ScenarioResult, timeline
from harness.checker import CheckReport, check_history
from harness.errors import ConfigurationError
from harness.history import ProduceWorkload, read_topic
from infra.cluster import BrokerContainer, StackCluster
from infra.config import Stack
from infra.console import step
from infra.faults import Fault, FaultInjector


@dataclass(frozen=True)
class TopicShape:
    """Partitions, replication factor and configs of the topics a scenario creates."""

    partitions: int
    replication_factor: int
    config: Mapping[str, str] = field(default_factory=dict)


@dataclass
class ScenarioRun:
    """What a fault plan works with while the workload runs."""

    cluster: StackCluster
    faults: FaultInjector
    workload: ProduceWorkload
    topic: str
    admin: AdminClient
    extra: dict[str, Any] = field(default_factory=dict)
    cleanups: list[Callable[[], None]] = field(default_factory=list)
    """Run when the scenario ends, however it ends (e.g. stop the consumers it started)."""

    def hold(self, seconds: float, why: str = "") -> None:
        """Let the workload run for ``seconds`` (the fault, if any, stays in place)."""
        step(f"holding {seconds:.0f}s" + (f": {why}" if why else ""))
        time.sleep(seconds)

    def leader(self, partition: int = 0) -> BrokerContainer:
        """The broker leading ``partition`` of the scenario's topic now."""
        return self.cluster.leader_of(self.topic, partition)

    def wait_whole(self) -> None:
        """Wait until every broker is healthy and every partition is fully in sync."""
        self.cluster.wait_whole(timeout_s=self.faults.wait_timeout_s)


def topic_shape_of(stack: Stack, min_replication: int = 3) -> TopicShape:
    """The shape of the stack's first declared topic (3 partitions, RF 3 without one)."""
    if not stack.topics:
        return TopicShape(partitions=3, replication_factor=min_replication)
    spec = stack.topics[0]
    return TopicShape(spec.partitions, spec.replication_factor, dict(spec.config))


Plan = Callable[[ScenarioRun], None]


@dataclass(frozen=True)
class Scenario:
    """A named failure mode: producer settings, a topic shape override, and a fault plan.

    ``safe`` scenarios must lose and duplicate nothing that was acknowledged; an unsafe one
    (a control) is expected to lose records, and it shows the checker can see that.
    """

    name: str
    description: str
    plan: Plan
    safe: bool = True
    min_records: int = 10_000
    rate_per_s: float = 1000.0
    max_records: int | None = None
    """Stop producing after this many records (the workload otherwise runs to the end)."""
    producer_config: Mapping[str, Any] = field(default_factory=dict)
    topic_config: Mapping[str, str] = field(default_factory=dict)
    replication_factor: int | None = None
    partitions: int | None = None
    create_topic: Callable[[AdminClient, str, TopicShape, StackCluster], None] | None = None
    """Makes the topic itself (a control needs a given replica assignment)."""
    with_dlq: bool = False
    """Also create ``<topic>-dlq`` shaped like the topic."""
    after: Callable[[ScenarioRun], list[str]] | None = None
    """Runs once the workload stopped and the cluster is whole; returns problems found."""

    def __post_init__(self) -> None:
        if self.max_records is not None and self.max_records < self.min_records:
            raise ConfigurationError(
                f"scenario {self.name}: max_records={self.max_records} is below "
                f"min_records={self.min_records}; the workload could never reach it"
            )


def create_topics(
    admin: AdminClient, topics: Mapping[str, NewTopic], timeout_s: float = 60
) -> None:
    """Create the topics and wait for the cluster to confirm them."""
    futures = admin.create_topics(list(topics.values()), request_timeout=timeout_s)
    for name, future in futures.items():
        try:
            future.result(timeout=timeout_s)
        except KafkaException as error:
            raise AssertionError(
                f"could not create the scenario's topic {name}: {error}"
            ) from error


def delete_topics(admin: AdminClient, names: list[str]) -> None:
    """Delete the scenario's topics; a refusal is logged, not raised (cleanup must go on)."""
    for name, future in admin.delete_topics(names, request_timeout=30).items():
        try:
            future.result(timeout=30)
        except KafkaException as error:
            step(f"could not delete topic {name}: {error}")


@contextlib.contextmanager
def scratch_topic(
    admin: AdminClient, scenario: Scenario, shape: TopicShape, cluster: StackCluster
) -> Iterator[str]:
    """A topic for the scenario, shaped like the declared topic unless it overrides that."""
    name = f"chaos-{scenario.name}-{uuid.uuid4().hex[:8]}"
    names = [name, f"{name}-dlq"] if scenario.with_dlq else [name]
    if scenario.create_topic is not None:
        scenario.create_topic(admin, name, shape, cluster)
    else:
        topics = {
            topic: NewTopic(
                topic,
                scenario.partitions or shape.partitions,
                scenario.replication_factor or shape.replication_factor,
                config={**shape.config, **scenario.topic_config},
            )
            for topic in names
        }
        create_topics(admin, topics)
    try:
        yield name
    finally:
        delete_topics(admin, names)


def marks_of(faults: list[Fault], origin: float) -> list[FaultMark]:
    """The faults on the workload's clock (seconds since it started)."""
    return [
        FaultMark(
            kind=fault.kind,
            target=fault.target,
            start_s=fault.started_at - origin,
            end_s=(fault.ended_at or time.monotonic()) - origin,
            effective_s=None if fault.in_effect_at is None else fault.in_effect_at - origin,
        )
        for fault in faults
    ]


def run_scenario(
    scenario: Scenario,
    cluster: StackCluster,
    shape: TopicShape,
    *,
    min_records: int | None = None,
) -> ScenarioResult:
    """Run ``scenario`` against the cluster and check what was acknowledged survived."""
    wanted = min_records if min_records is not None else scenario.min_records
    started = time.monotonic()
    cluster.wait_whole(timeout_s=180)
    with scratch_topic(cluster.admin, scenario, shape, cluster) as topic:
        step(f"scenario {scenario.name}: {scenario.description} (topic {topic})")
        workload = ProduceWorkload(
            cluster.bootstrap_servers,
            topic,
            rate_per_s=scenario.rate_per_s,
            config=scenario.producer_config,
            label=scenario.name,
            max_records=scenario.max_records,
        )
        faults = FaultInjector(cluster)
        run = ScenarioRun(cluster, faults, workload, topic, cluster.admin)
        try:
            with workload, faults:
                workload.wait_for_acks(int(scenario.rate_per_s), timeout_s=60)
                scenario.plan(run)
                faults.undo_all()
                cluster.wait_whole(timeout_s=faults.wait_timeout_s)
                remaining_s = max(0.0, (wanted - workload.acked_count()) / scenario.rate_per_s)
                workload.wait_for_acks(wanted, timeout_s=remaining_s * 2 + 60)
            step(f"reading {topic} back")
            reads = read_topic(cluster.bootstrap_servers, topic)
            report = check_history(workload.writes(), reads, workload.indeterminate())
            marks = marks_of(faults.history, workload.started_at)
            problems = scenario.after(run) if scenario.after is not None else []
        finally:
            for cleanup in reversed(run.cleanups):
                cleanup()
    result = result_of(scenario, workload, report, marks, time.monotonic() - started)
    result.problems.extend(problems)
    result.notes.extend(str(note) for note in run.extra.get("notes", []))
    return result


def result_of(
    scenario: Scenario,
    workload: ProduceWorkload,
    report: CheckReport,
    marks: list[FaultMark],
    duration_s: float,
) -> ScenarioResult:
    """The figures of a finished scenario."""
    deliveries = workload.deliveries()
    acked = [d for d in deliveries if d.acked]
    recoveries = [workload.first_ack_after(mark.in_effect_s) for mark in marks]
    return ScenarioResult(
        name=scenario.name,
        description=scenario.description,
        safe=scenario.safe,
        sent=workload.sent,
        failed=sum(1 for d in deliveries if not d.acked),
        check=report,
        faults=marks,
        recovery_s=recoveries,
        worst_latency_s=max((d.latency_s for d in acked), default=0.0),
        duration_s=duration_s,
        series=timeline(acked),
    )
