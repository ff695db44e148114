"""The topic plan: what ``up`` would do to each declared topic, from what the cluster shows.

Pure: it compares :class:`~infra.config.TopicSpec` declarations with described
:class:`TopicState` values. Safe changes are creating a topic, adding partitions and setting
configs; Kafka cannot take partitions away, and kafkarig does not reassign replicas, so
those are refused with why and what to do instead. Config values are compared as the broker
normalises them (see :func:`same_config_value`): ``1e3``, ``1000`` and ``"1000"`` are one
value; the broker's defaults and the broker-level synonyms (``log.retention.hours`` for
``retention.ms``) are what describe_configs reports for a topic without its own value.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from typing import ClassVar

from infra.config import INTERNAL_PORT, TopicSpec
from infra.plan import Action, Plan, Verb

INTERNAL_TOPIC_PREFIXES = ("__", "_confluent", "_schemas")


@dataclass(frozen=True)
class TopicState:
    """A topic as the cluster describes it."""

    name: str
    partitions: int
    replication_factor: int
    in_sync_replicas: int  # the smallest ISR over its partitions
    configs: dict[str, str]
    """Every config's effective value: the topic's own, a broker synonym's, or the default."""
    overrides: frozenset[str] = frozenset()
    """The configs set on the topic itself (describe_configs source DYNAMIC_TOPIC_CONFIG)."""


# --------------------------------------------------------------------------- values


def _number(value: str) -> Decimal | None:
    try:
        number = Decimal(value.strip())
    except InvalidOperation:
        return None
    return number if number.is_finite() else None


def same_config_value(declared: str, actual: str | None) -> bool:
    """Whether a declared config value is the value the broker shows.

    The broker normalises what it stores: numbers (``1e3`` and ``1000``), booleans in any
    case, and lists with or without spaces after the commas are each one value.
    """
    if actual is None:
        return False
    if declared == actual:
        return True
    if {declared.lower(), actual.lower()} <= {"true", "false"}:
        return declared.lower() == actual.lower()
    declared_number, actual_number = _number(declared), _number(actual)
    if declared_number is not None and actual_number is not None:
        return declared_number == actual_number
    if "," in declared or "," in actual:
        return [item.strip() for item in declared.split(",")] == [
            item.strip() for item in actual.split(",")
        ]
    return False


# --------------------------------------------------------------------------- actions


class TopicAction(Action):
    """An action on one topic."""

    kind: ClassVar[str] = "topic"


@dataclass(frozen=True)
class CreateTopic(TopicAction):
    """Create a declared topic that does not exist."""

    spec: TopicSpec
    verb: ClassVar[Verb] = "create"

    @property
    def name(self) -> str:
        return self.spec.name

    def describe(self) -> str:
        configs = "".join(f", {key}={value}" for key, value in sorted(self.spec.config.items()))
        return (
            f"{self.spec.partitions} partition(s), replication factor "
            f"{self.spec.replication_factor}{configs}"
        )


@dataclass(frozen=True)
class AddPartitions(TopicAction):
    """Raise a topic's partition count (Kafka can add partitions, never remove them)."""

    topic: str
    current: int
    declared: int
    verb: ClassVar[Verb] = "update"

    @property
    def name(self) -> str:
        return self.topic

    def describe(self) -> str:
        return f"partitions {self.current} -> {self.declared}"

    def explain(self) -> list[str]:
        return [
            "new records of a key may go to another partition than its earlier ones: "
            "consumers that rely on per-key order see keys move once"
        ]


@dataclass(frozen=True)
class ConfigChange:
    """One config of a topic: its value now (None: not known to the topic) and the declared one."""

    key: str
    current: str | None
    declared: str


@dataclass(frozen=True)
class AlterTopicConfigs(TopicAction):
    """Set declared configs whose values differ (incremental: other configs are untouched)."""

    topic: str
    changes: tuple[ConfigChange, ...]
    verb: ClassVar[Verb] = "update"

    @property
    def name(self) -> str:
        return self.topic

    def describe(self) -> str:
        return ", ".join(
            f"{change.key} {change.current if change.current is not None else '(unset)'} -> "
            f"{change.declared}"
            for change in self.changes
        )


@dataclass(frozen=True)
class KeepTopic(TopicAction):
    """A topic that exists as declared."""

    state: TopicState
    verb: ClassVar[Verb] = "keep"

    @property
    def name(self) -> str:
        return self.state.name

    def describe(self) -> str:
        return (
            f"{self.state.partitions} partition(s), replication factor "
            f"{self.state.replication_factor}, as declared"
        )


@dataclass(frozen=True)
class RefuseTopicChange(TopicAction):
    """A change kafkarig will not make, with why and what to do instead."""

    topic: str
    what: str
    why: str
    instead: str
    verb: ClassVar[Verb] = "refuse"

    @property
    def name(self) -> str:
        return self.topic

    def describe(self) -> str:
        return self.what

    def explain(self) -> list[str]:
        return [f"why: {self.why}", f"instead: {self.instead}"]


# --------------------------------------------------------------------------- planning


@dataclass(frozen=True)
class TopicPlanContext:
    """What the plan needs to know about the stack beyond its topics."""

    broker_service: str = "kafka"
    """A broker container, for the commands a refusal suggests."""
    auto_create: bool = False
    auto_create_settings: Mapping[str, str] = field(default_factory=dict)

    def delete_command(self, topic: str) -> str:
        """The command that deletes a topic, run inside a broker container."""
        return (
            f"docker exec {self.broker_service} kafka-topics --bootstrap-server "
            f"localhost:{INTERNAL_PORT} --delete --topic {topic}"
        )


def plan_topic(
    spec: TopicSpec, state: TopicState | None, context: TopicPlanContext
) -> list[TopicAction]:
    """The actions that make one topic as declared (a KeepTopic when it already is)."""
    if state is None:
        return [CreateTopic(spec)]
    actions: list[TopicAction] = []
    if state.partitions > spec.partitions:
        actions.append(
            RefuseTopicChange(
                spec.name,
                what=f"{state.partitions} partitions, stack.toml declares {spec.partitions}",
                why="Kafka cannot take partitions away from a topic",
                instead=f"declare partitions = {state.partitions}, or delete the topic (its "
                f"records are lost) and run up again: {context.delete_command(spec.name)}",
            )
        )
    elif state.partitions < spec.partitions:
        actions.append(AddPartitions(spec.name, state.partitions, spec.partitions))
    if state.replication_factor != spec.replication_factor:
        actions.append(
            RefuseTopicChange(
                spec.name,
                what=f"replication factor {state.replication_factor}, stack.toml declares "
                f"{spec.replication_factor}",
                why="changing the replication factor moves replicas between brokers "
                "(kafka-reassign-partitions); kafkarig does not reassign",
                instead=f"declare replication_factor = {state.replication_factor}, or delete "
                f"the topic (its records are lost) and run up again: "
                f"{context.delete_command(spec.name)}",
            )
        )
    changes = tuple(
        ConfigChange(key, state.configs.get(key), wanted)
        for key, wanted in sorted(spec.config.items())
        if not same_config_value(wanted, state.configs.get(key))
    )
    if changes:
        actions.append(AlterTopicConfigs(spec.name, changes))
    return actions or [KeepTopic(state)]


def plan_topics(
    specs: Sequence[TopicSpec], states: Mapping[str, TopicState], context: TopicPlanContext
) -> Plan:
    """The plan for every declared topic, with notes on what the plan leaves alone."""
    actions: list[Action] = []
    notes: list[str] = []
    declared = {spec.name for spec in specs}
    for spec in specs:
        state = states.get(spec.name)
        actions.extend(plan_topic(spec, state, context))
        if state is not None:
            notes.extend(_undeclared_override_notes(spec, state))
    notes.extend(
        f"topic {name} exists but stack.toml does not declare it; up leaves it alone"
        for name in sorted(set(states) - declared)
        if not name.startswith(INTERNAL_TOPIC_PREFIXES)
    )
    if context.auto_create:
        settings = "".join(
            f", {key}={value}" for key, value in sorted(context.auto_create_settings.items())
        )
        notes.append(
            "auto.create.topics.enable is true: topics a client names but stack.toml does not "
            f"declare may appear (created by the broker{settings})"
        )
    return Plan(tuple(actions), tuple(notes))


def _undeclared_override_notes(spec: TopicSpec, state: TopicState) -> Iterable[str]:
    for key in sorted(state.overrides - set(spec.config)):
        yield (
            f"topic {spec.name} has {key}={state.configs.get(key)} set on it, which stack.toml "
            f"does not declare; up leaves it (`kafka-configs --alter --entity-type topics "
            f"--entity-name {spec.name} --delete-config {key}` removes it)"
        )


def differences(spec: TopicSpec, state: TopicState) -> list[str]:
    """How an existing topic differs from its declaration, one phrase per difference."""
    found = []
    for action in plan_topic(spec, state, TopicPlanContext()):
        if isinstance(action, AddPartitions):
            found.append(f"{action.current} partition(s), stack.toml declares {action.declared}")
        elif isinstance(action, RefuseTopicChange):
            found.append(action.what)
        elif isinstance(action, AlterTopicConfigs):
            found.extend(
                f"{change.key}={change.current}, stack.toml declares {change.key}={change.declared}"
                for change in action.changes
            )
    return found
