"""Topics as declared in ``stack.toml``: described, planned, applied and verified through the
AdminClient.

``up`` creates missing topics, adds partitions and sets configs (create_topics,
create_partitions, incremental_alter_configs), then waits until the cluster shows every
topic as declared. It changes nothing when the plan refuses something (fewer partitions,
another replication factor, a value the broker rejects). Whatever the cause of a topic
failure, ``up`` raises :class:`~infra.errors.TopicError` and leaves the running stack as it
is: the cluster is healthy, the topics need the user's decision.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from concurrent.futures import Future
from concurrent.futures import TimeoutError as FutureTimeoutError
from dataclasses import dataclass
from typing import Any

from confluent_kafka import KafkaError, KafkaException
from confluent_kafka.admin import (
    AdminClient,
    AlterConfigOpType,
    ConfigEntry,
    ConfigResource,
    ConfigSource,
    NewPartitions,
    NewTopic,
)

from infra.config import Stack, TopicSpec
from infra.errors import KafkarigError, StackError, TopicError
from infra.plan import Action, Plan
from infra.readiness import WaitFor
from infra.topic_plan import (
    AddPartitions,
    AlterTopicConfigs,
    CreateTopic,
    RefuseTopicChange,
    TopicAction,
    TopicPlanContext,
    TopicState,
    differences,
    plan_topics,
    same_config_value,
)

__all__ = [
    "TopicReport",
    "TopicResources",
    "TopicState",
    "admin_client",
    "describe_topics",
    "differences",
    "same_config_value",
    "topic_reports",
]

_LOGGER = logging.getLogger("kafkarig.topics.librdkafka")
AUTO_CREATE_SETTINGS = ("num.partitions", "default.replication.factor")


@dataclass(frozen=True)
class TopicReport:
    """What ``up`` did with one declared topic."""

    spec: TopicSpec
    created: bool
    changed: tuple[str, ...]
    """The updates applied (``partitions 3 -> 6``, ``retention.ms 1 -> 2``); empty if none."""
    state: TopicState


def admin_client(bootstrap_servers: str, config: Mapping[str, str] | None = None) -> AdminClient:
    """An AdminClient whose librdkafka chatter goes to Python logging, not the terminal;
    ``config`` is the client config of a secure stack (its admin's login)."""
    return AdminClient({**(config or {}), "bootstrap.servers": bootstrap_servers}, logger=_LOGGER)


def describe_topics(
    admin: AdminClient, names: Sequence[str] | None = None, timeout_s: float = 15.0
) -> dict[str, TopicState]:
    """Partitions, replication, smallest ISR and configs of the named existing topics (of
    every topic when ``names`` is None)."""
    metadata = admin.list_topics(timeout=timeout_s)
    wanted = list(metadata.topics) if names is None else names
    present = [name for name in wanted if name in metadata.topics]
    entries: dict[str, dict[str, ConfigEntry]] = {}
    if present:
        futures = admin.describe_configs(
            [ConfigResource(ConfigResource.Type.TOPIC, name) for name in present],
            request_timeout=timeout_s,
        )
        for resource, future in futures.items():
            entries[resource.name] = future.result(timeout=timeout_s)
    states = {}
    for name in present:
        partitions = metadata.topics[name].partitions.values()
        configs = entries.get(name, {})
        states[name] = TopicState(
            name=name,
            partitions=len(partitions),
            replication_factor=max((len(p.replicas) for p in partitions), default=0),
            in_sync_replicas=min((len(p.isrs) for p in partitions), default=0),
            configs={key: e.value for key, e in configs.items() if e.value is not None},
            overrides=frozenset(
                key for key, e in configs.items() if e.source == ConfigSource.DYNAMIC_TOPIC_CONFIG
            ),
        )
    return states


class TopicResources:
    """The topics of a stack as a kind of declared resource (see :mod:`infra.plan`)."""

    kind = "topic"
    refusal_error: type[KafkarigError] = TopicError

    def __init__(self, stack: Stack, *, timeout_s: float = 60.0) -> None:
        self.specs = stack.all_topics
        self.bootstrap_servers = stack.bootstrap_servers
        self.timeout_s = timeout_s
        settings = stack.cluster.broker_config
        self.context = TopicPlanContext(
            broker_service=stack.brokers[0].service,
            auto_create=stack.cluster.auto_create_topics,
            auto_create_settings={k: settings[k] for k in AUTO_CREATE_SETTINGS if k in settings},
        )

    def plan_offline(self) -> Plan:
        """The plan for a cluster that is not running yet: every topic is created."""
        return plan_topics(self.specs, {}, self.context)

    def plan(self, admin: AdminClient, *, validate: bool) -> Plan:
        """Compare the declared topics with the cluster; with ``validate``, a change the broker
        would reject (validate_only) is a refusal carrying the broker's reason."""
        states = self._describe(admin, names=None)
        plan = plan_topics(self.specs, states, self.context)
        if not validate:
            return plan
        actions = [self._validated(admin, action) for action in plan.actions]
        return Plan(tuple(actions), plan.notes)

    def apply(self, admin: AdminClient, plan: Plan) -> None:
        """Create, add partitions, set configs; then wait until every topic is as declared."""
        actions = plan.of_kind(self.kind)
        creates = [a.spec for a in actions if isinstance(a, CreateTopic)]
        increases = [a for a in actions if isinstance(a, AddPartitions)]
        alters = [a for a in actions if isinstance(a, AlterTopicConfigs)]
        failures = []
        if creates:
            futures = admin.create_topics(
                [_new_topic(spec) for spec in creates], request_timeout=self.timeout_s
            )
            failures += self._run(futures, "creation")
        if increases:
            futures = admin.create_partitions(
                [NewPartitions(a.topic, a.declared) for a in increases],
                request_timeout=self.timeout_s,
            )
            failures += self._run(futures, "partition increase")
        if alters:
            resources = [_config_resource(a) for a in alters]
            futures = _by_name(
                admin.incremental_alter_configs(resources, request_timeout=self.timeout_s)
            )
            failures += self._run(futures, "config change")
        if failures:
            raise TopicError(
                "the topic changes were not all applied:\n  " + "\n  ".join(failures),
                hint="the stack is left running; fix stack.toml and run `kafkarig up` again "
                "(`kafkarig plan` shows what it would do).",
            )
        self.wait_until_declared(admin)

    def wait_until_declared(self, admin: AdminClient) -> dict[str, TopicState]:
        """Wait until the cluster shows every declared topic as declared, with an ISR."""
        names = [spec.name for spec in self.specs]

        def remaining() -> list[str]:
            states = describe_topics(admin, names)
            missing = [f"{name}: not in the metadata yet" for name in names if name not in states]
            lagging = [
                f"{s.name}: no in-sync replica yet"
                for s in states.values()
                if not s.in_sync_replicas
            ]
            different = [
                f"{spec.name}: " + "; ".join(found)
                for spec in self.specs
                if spec.name in states and (found := differences(spec, states[spec.name]))
            ]
            return missing + lagging + different

        try:
            WaitFor(
                expected=f"topics {', '.join(names)} as declared",
                probe=remaining,
                accept=lambda found: not found,
                timeout_s=self.timeout_s,
            ).wait()
        except StackError as error:
            raise TopicError(
                error.message,
                hint="the stack is left running; `kafkarig plan` shows what still differs.",
            ) from error
        return describe_topics(admin, names)

    # ---- helpers ---------------------------------------------------------------------

    def _describe(self, admin: AdminClient, names: Sequence[str] | None) -> dict[str, TopicState]:
        try:
            return describe_topics(admin, names, timeout_s=self.timeout_s / 4)
        except (KafkaException, FutureTimeoutError, TimeoutError) as error:
            raise TopicError(
                f"could not describe the topics on {self.bootstrap_servers}: {error}",
                hint="the stack is left running; `kafkarig status` shows its containers.",
            ) from error

    def _validated(self, admin: AdminClient, action: Action) -> Action:
        """The action, or a refusal with the broker's reason when it would reject it."""
        futures: dict[str, Future[Any]] = {}
        if isinstance(action, CreateTopic):
            futures = admin.create_topics([_new_topic(action.spec)], validate_only=True)
        elif isinstance(action, AddPartitions):
            futures = admin.create_partitions(
                [NewPartitions(action.topic, action.declared)], validate_only=True
            )
        elif isinstance(action, AlterTopicConfigs):
            futures = _by_name(
                admin.incremental_alter_configs([_config_resource(action)], validate_only=True)
            )
        failures = self._run(futures, "validation")
        if not failures or not isinstance(action, TopicAction):
            return action
        return RefuseTopicChange(
            action.name,
            what=action.describe(),
            why="the broker rejects it: " + "; ".join(f.split(": ", 1)[-1] for f in failures),
            instead="fix the topic's entry in stack.toml",
        )

    def _run(self, futures: dict[str, Future[Any]], what: str) -> list[str]:
        """Wait for AdminClient futures; one line per topic that failed."""
        failures = []
        for name, future in futures.items():
            try:
                future.result(timeout=self.timeout_s)
            except (FutureTimeoutError, TimeoutError):
                failures.append(
                    f"topic {name}: no answer to the {what} within {self.timeout_s:.0f}s"
                )
            except KafkaException as error:
                kafka_error = error.args[0] if error.args else None
                if isinstance(kafka_error, KafkaError):
                    if kafka_error.code() == KafkaError.TOPIC_ALREADY_EXISTS and what == "creation":
                        continue  # created concurrently; verified like any other
                    failures.append(f"topic {name}: {what} failed: {kafka_error.str()}")
                else:
                    failures.append(f"topic {name}: {what} failed: {error}")
        return failures


def _new_topic(spec: TopicSpec) -> NewTopic:
    return NewTopic(
        spec.name,
        num_partitions=spec.partitions,
        replication_factor=spec.replication_factor,
        config=dict(spec.config),
    )


def _config_resource(action: AlterTopicConfigs) -> ConfigResource:
    return ConfigResource(
        ConfigResource.Type.TOPIC,
        action.topic,
        incremental_configs=[
            ConfigEntry(change.key, change.declared, incremental_operation=AlterConfigOpType.SET)
            for change in action.changes
        ],
    )


def _by_name(futures: dict[ConfigResource, Future[Any]]) -> dict[str, Future[Any]]:
    return {resource.name: future for resource, future in futures.items()}


def topic_reports(
    plan: Plan, states: dict[str, TopicState], specs: Sequence[TopicSpec]
) -> list[TopicReport]:
    """What ``up`` did with each declared topic, from the plan it applied."""
    reports = []
    for spec in specs:
        actions = [a for a in plan.of_kind("topic") if a.name == spec.name]
        reports.append(
            TopicReport(
                spec=spec,
                created=any(isinstance(a, CreateTopic) for a in actions),
                changed=tuple(
                    a.describe()
                    for a in actions
                    if isinstance(a, AddPartitions | AlterTopicConfigs)
                ),
                state=states[spec.name],
            )
        )
    return reports
