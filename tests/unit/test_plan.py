"""Plans from declared and observed state: topics and containers (pure logic, no Docker)."""

from __future__ import annotations

import pytest

from infra.config import TopicSpec
from infra.container_plan import (
    CreateContainer,
    KeepContainer,
    RecreateContainer,
    RemoveContainer,
    StartContainer,
    is_up_as_declared,
    plan_containers,
    what_changed,
)
from infra.plan import Plan
from infra.state import ServiceState, StackState
from infra.topic_plan import (
    AddPartitions,
    AlterTopicConfigs,
    ConfigChange,
    CreateTopic,
    KeepTopic,
    RefuseTopicChange,
    TopicPlanContext,
    TopicState,
    plan_topics,
    same_config_value,
)

CONTEXT = TopicPlanContext(broker_service="kafka")


def spec(name: str = "t", partitions: int = 3, replication: int = 1, **config: str) -> TopicSpec:
    return TopicSpec(
        name=name, partitions=partitions, replication_factor=replication, config=config
    )


def state(
    name: str = "t",
    partitions: int = 3,
    replication: int = 1,
    overrides: frozenset[str] = frozenset(),
    **configs: str,
) -> TopicState:
    return TopicState(name, partitions, replication, replication, dict(configs), overrides)


# --------------------------------------------------------------------------- config values


@pytest.mark.parametrize(
    ("declared", "actual"),
    [
        ("1000", "1000"),
        ("1e3", "1000"),
        ("1000.0", "1000"),
        ("0.50", "0.5"),
        ("TRUE", "true"),
        ("compact, delete", "compact,delete"),
    ],
)
def test_values_the_broker_normalises_alike_are_the_same(declared: str, actual: str) -> None:
    assert same_config_value(declared, actual)


@pytest.mark.parametrize(
    ("declared", "actual"),
    [("1000", "1001"), ("1000", None), ("compact", "delete"), ("true", "1"), ("CreateTime", "x")],
)
def test_different_values_are_different(declared: str, actual: str | None) -> None:
    assert not same_config_value(declared, actual)


# --------------------------------------------------------------------------- topics


def test_a_missing_topic_is_created() -> None:
    plan = plan_topics([spec(**{"retention.ms": "1000"})], {}, CONTEXT)

    [action] = plan.actions
    assert isinstance(action, CreateTopic)
    assert action.render() == (
        "  + create  topic t: 3 partition(s), replication factor 1, retention.ms=1000"
    )


def test_a_topic_as_declared_is_kept() -> None:
    plan = plan_topics(
        [spec(**{"retention.ms": "1000"})], {"t": state(**{"retention.ms": "1000"})}, CONTEXT
    )

    assert [type(action) for action in plan.actions] == [KeepTopic]
    assert plan.changes == []


def test_more_partitions_and_another_config_are_safe_changes() -> None:
    plan = plan_topics(
        [spec(partitions=6, **{"retention.ms": "3600000"})],
        {"t": state(partitions=3, **{"retention.ms": "604800000"})},
        CONTEXT,
    )

    assert plan.actions == (
        AddPartitions("t", 3, 6),
        AlterTopicConfigs("t", (ConfigChange("retention.ms", "604800000", "3600000"),)),
    )
    assert plan.refusals == []
    assert "per-key order" in plan.actions[0].render()


def test_fewer_partitions_are_refused_with_why_and_what_to_do() -> None:
    plan = plan_topics([spec(partitions=3)], {"t": state(partitions=6)}, CONTEXT)

    [refusal] = plan.refusals
    assert isinstance(refusal, RefuseTopicChange)
    text = refusal.render()
    assert "! refuse  topic t: 6 partitions, stack.toml declares 3" in text
    assert "why: Kafka cannot take partitions away from a topic" in text
    assert "instead: declare partitions = 6" in text
    assert "docker exec kafka kafka-topics --bootstrap-server localhost:19092 --delete" in text


def test_another_replication_factor_is_refused() -> None:
    plan = plan_topics([spec(replication=3)], {"t": state(replication=1)}, CONTEXT)

    [refusal] = plan.refusals
    assert "replication factor 1, stack.toml declares 3" in refusal.render()
    assert "kafka-reassign-partitions" in refusal.render()


def test_a_config_the_topic_takes_from_the_broker_is_compared_by_value() -> None:
    # retention.ms not set on the topic: describe_configs shows the broker's (synonym) value.
    topic = state(**{"retention.ms": "86400000"})

    assert plan_topics([spec(**{"retention.ms": "8.64e7"})], {"t": topic}, CONTEXT).changes == []


def test_the_plan_notes_what_it_leaves_alone() -> None:
    states = {
        "t": state(overrides=frozenset({"segment.ms"}), **{"segment.ms": "10"}),
        "other": state("other"),
        "__consumer_offsets": state("__consumer_offsets"),
    }
    context = TopicPlanContext(auto_create=True, auto_create_settings={"num.partitions": "3"})

    notes = plan_topics([spec()], states, context).notes

    assert any("segment.ms=10 set on it, which stack.toml does not declare" in n for n in notes)
    assert any("topic other exists but stack.toml does not declare it" in n for n in notes)
    assert not any("__consumer_offsets" in n for n in notes)
    assert any(
        "auto.create.topics.enable is true: topics a client names but stack.toml does not "
        "declare may appear (created by the broker, num.partitions=3)" in n
        for n in notes
    )


def test_plans_combine_and_summarise() -> None:
    first = plan_topics([spec("a")], {}, CONTEXT)
    second = plan_topics([spec("b", partitions=1)], {"b": state("b", partitions=2)}, CONTEXT)

    plan = Plan.combine([first, second])

    assert plan.summary() == "1 to create, 1 refused"
    assert "topics:" in plan.render(["topic"])


# --------------------------------------------------------------------------- containers


def service(
    name: str, *, status: str = "running", health: str | None = "healthy", **kw: str
) -> ServiceState:
    return ServiceState(
        service=name,
        container=name,
        status=status,
        health=health,
        exit_code=None,
        container_id=kw.get("container_id", f"id-{name}"),
        image_id=kw.get("image_id", "img"),
        config_hash=kw.get("config_hash", f"h-{name}"),
        started_at=kw.get("started_at", "t0"),
    )


def test_containers_as_declared_and_healthy_are_left_alone() -> None:
    running = StackState("p", [service("kafka")])

    plan = plan_containers(["kafka"], running, {"kafka": "h-kafka"}, {"kafka": "img"})

    assert [type(a) for a in plan.actions] == [KeepContainer]
    assert is_up_as_declared(plan)


def test_a_changed_declaration_or_image_recreates_and_a_missing_service_is_created() -> None:
    running = StackState(
        "p",
        [
            service("kafka-1", config_hash="old"),
            service("kafka-2", image_id="old-image"),
            service("kafka-3", status="exited", health=None),
            service("kafka-4"),
        ],
    )
    hashes = {f"kafka-{i}": f"h-kafka-{i}" for i in range(1, 6)}

    plan = plan_containers(list(hashes), running, hashes, dict.fromkeys(hashes, "img"))

    assert [type(a) for a in plan.actions] == [
        RecreateContainer,
        RecreateContainer,
        StartContainer,
        KeepContainer,
        CreateContainer,
    ]
    assert "stack.toml changed since it started" in plan.actions[0].describe()
    assert "image was rebuilt" in plan.actions[1].describe()
    assert not is_up_as_declared(plan)


def test_a_container_no_longer_declared_is_removed() -> None:
    running = StackState("p", [service("kafka-1"), service("kafka-2")])

    plan = plan_containers(["kafka-1"], running, {"kafka-1": "h-kafka-1"}, {"kafka-1": "img"})

    assert isinstance(plan.actions[-1], RemoveContainer)


def test_what_changed_tells_created_recreated_started_and_removed() -> None:
    before = StackState(
        "p",
        [
            service("kafka-1"),
            service("kafka-2", status="exited"),
            service("kafka-3"),
            service("kafka-4"),
        ],
    )
    after = StackState(
        "p",
        [
            service("kafka-1", container_id="new", config_hash="other"),
            service("kafka-2", started_at="t1"),
            service("kafka-4"),
            service("zookeeper"),
        ],
    )

    assert what_changed(before, after) == [
        "recreated kafka-1 (stack.toml changed since it started)",
        "started kafka-2",
        "removed kafka-3",
        "created zookeeper",
    ]


# --------------------------------------------------------------------------- stack states


def test_a_project_of_kafkarig_named_volumes_alone_is_a_kafkarig_stack() -> None:
    kept = StackState("orders", volumes=["orders_kafka-1-data", "orders_zookeeper-log"])
    foreign = StackState("orders", volumes=["orders_pgdata"])

    assert kept.is_kafkarig and kept.summary == "down, data kept"
    assert not foreign.is_kafkarig


def test_containers_make_a_stack_kafkarig_only_with_its_labels() -> None:
    unmarked = StackState("web", [service("kafka")])
    marked = StackState("web", [service("kafka")], marked=True)

    assert not unmarked.is_kafkarig
    assert marked.is_kafkarig and marked.summary == "up (1/1 healthy)"
    assert StackState("p", [service("a"), service("b", status="exited")], marked=True).summary == (
        "NOT HEALTHY (1/2 healthy)"
    )
