"""[share_groups] of stack.toml: the model, the broker/group/topic configs it implies."""

from __future__ import annotations

import tomllib

import pytest
from pydantic import ValidationError

from infra.config.share_groups import (
    ShareGroupsSection,
    broker_properties,
    dlq_topics,
    feature_upgrade_args,
    required_share_version,
    stack_problems,
    storage_format_features,
)
from infra.share_groups import parse_feature_describe

STACK_TOML = """
[share_groups]
min_record_lock_duration_ms = 1000

[[share_groups.groups]]
name = "user-events-workers"
topics = ["user-events"]
delivery_count_limit = 3
record_lock_duration_ms = 5000
dlq = true
"""

MINIMAL = """
[share_groups]
min_record_lock_duration_ms = 1000
[[share_groups.groups]]
name = "g"
topics = ["t"]
dlq = true
"""

# `kafka-features describe` of our Kafka 4.4.0 broker (space-padded columns, three of its lines).
FEATURES_4_4 = "\n".join(
    "Feature: {:<43}SupportedMinVersion: {:<17}SupportedMaxVersion: {:<17}"
    "FinalizedVersionLevel: {:<17}Epoch: 43".format(*row)
    for row in [
        ("eligible.leader.replicas.version", "0", "1", "1"),
        ("metadata.version", "3.3-IV3", "4.4-IV2", "4.4-IV2"),
        ("share.version", "0", "2", "2"),
    ]
)


def _section(text: str = STACK_TOML) -> ShareGroupsSection:
    return ShareGroupsSection.model_validate(tomllib.loads(text)["share_groups"])


def test_a_group_with_a_dlq_implies_share_version_2_and_its_configs() -> None:
    section = _section()
    (group,) = section.groups
    assert required_share_version(section) == 2
    assert storage_format_features(section) == ["share.version=2"]
    assert group.group_configs(section.dlq_topic_prefix) == {
        "errors.deadletterqueue.copy.record.enable": "true",
        "errors.deadletterqueue.topic.name": "dlq.user-events",
        "share.auto.offset.reset": "earliest",
        "share.delivery.count.limit": "3",
        "share.heartbeat.interval.ms": "5000",
        "share.record.lock.duration.ms": "5000",
        "share.session.timeout.ms": "45000",
    }


def test_the_dlq_topic_opts_in_with_the_kip_1191_topic_config() -> None:
    (topic,) = dlq_topics(_section(), replication_factor=3)
    assert (topic.name, topic.partitions, topic.replication_factor) == ("dlq.user-events", 1, 3)
    assert topic.config == {"errors.deadletterqueue.group.enable": "true"}


def test_broker_properties_carry_the_prefix_and_the_lowered_bound() -> None:
    assert broker_properties(_section()) == {
        "errors.deadletterqueue.auto.create.topics.enable": "false",
        "errors.deadletterqueue.topic.name.prefix": "dlq.",
        "group.share.min.heartbeat.interval.ms": "5000",
        "group.share.min.record.lock.duration.ms": "1000",
        "group.share.min.session.timeout.ms": "45000",
    }


def test_share_groups_without_a_dlq_need_level_1_and_disabled_need_nothing() -> None:
    plain = _section('[share_groups]\n[[share_groups.groups]]\nname = "g"\ntopics = ["t"]\n')
    assert required_share_version(plain) == 1
    assert feature_upgrade_args(plain, "kafka:19092") == [
        "--bootstrap-server",
        "kafka:19092",
        "upgrade",
        "--feature",
        "share.version=1",
    ]
    off = _section("[share_groups]\nenabled = false\n")
    assert (required_share_version(off), broker_properties(off), dlq_topics(off, 1)) == (0, {}, [])


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        ("delivery_count_limit = 11", "Kafka allows 2..10"),
        ("record_lock_duration_ms = 500", "record_lock_duration_ms 500 outside 1000..60000"),
        ('dlq_topic = "orders-dead"', "must start with dlq_topic_prefix 'dlq.'"),
        ('auto_offset_reset = "yesterday"', "use earliest, latest or by_duration"),
        ("heartbeat_interval_ms = 15000\nsession_timeout_ms = 15000", "outside 45000..60000"),
        ("colour = 1", "Extra inputs are not permitted"),
    ],
)
def test_a_bad_group_value_is_refused_with_the_allowed_range(extra: str, message: str) -> None:
    text = MINIMAL + extra + "\n"
    with pytest.raises(ValidationError, match=message):
        _section(text)


def test_a_group_declared_twice_is_refused() -> None:
    text = STACK_TOML + '[[share_groups.groups]]\nname = "user-events-workers"\ntopics = ["x"]\n'
    with pytest.raises(ValidationError, match="declared twice"):
        _section(text)


def test_an_empty_prefix_allows_any_dlq_name() -> None:
    text = STACK_TOML.replace("[share_groups]\n", '[share_groups]\ndlq_topic_prefix = ""\n')
    section = _section(text + 'dlq_topic = "dead-letters"\n')
    assert [t.name for t in dlq_topics(section, 1)] == ["dead-letters"]


def test_the_rest_of_the_stack_must_be_kraft_kafka_4_4_and_declare_the_topics() -> None:
    section = _section()
    assert (
        stack_problems(
            section, mode="kraft", kafka_version="4.4.0", declared_topics=["user-events"]
        )
        == []
    )
    found = stack_problems(section, mode="zookeeper", kafka_version="4.2.0", declared_topics=[])
    assert [problem.message for problem in found] == [
        "share groups need KRaft mode",
        "a share-group DLQ (KIP-1191) needs Kafka 4.4.0+, the stack runs 4.2.0",
        "share group 'user-events-workers' reads undeclared topic(s) \"user-events\"",
    ]
    assert found[2].loc == ("groups", 0, "topics")


def test_feature_describe_output_is_parsed_into_finalized_levels() -> None:
    assert parse_feature_describe(FEATURES_4_4) == {
        "eligible.leader.replicas.version": "1",
        "metadata.version": "4.4-IV2",
        "share.version": "2",
    }


def test_a_stack_file_with_share_group_mistakes_names_each_where_it_is() -> None:
    from infra.config import parse_stack
    from infra.errors import ConfigError

    text = """
[cluster]
flavor = "local"
[[topics]]
name = "user-events"
partitions = 3
replication_factor = 1
[share_groups]
dlq_topic_prefixx = "dlq."
[[share_groups.groups]]
name = "workers"
topics = ["user-events", "orders"]
delivery_count_limit = 12
"""
    with pytest.raises(ConfigError) as info:
        parse_stack(text, env={})
    message = info.value.message
    assert "[[share_groups.groups]] #1 (workers) delivery_count_limit: delivery_count_limit 12" in (
        message
    )
    assert (
        "unknown key 'dlq_topic_prefixx' in [share_groups]; did you mean 'dlq_topic_prefix'?"
        in (message)
    )
    fixed = text.replace("prefixx", "prefix").replace("= 12", "= 3")
    with pytest.raises(ConfigError) as info:
        parse_stack(fixed, env={})
    assert (
        "[[share_groups.groups]] #1 (workers) topics: share group 'workers' reads "
        'undeclared topic(s) "orders"' in info.value.message
    )
    stack = parse_stack(fixed.replace(', "orders"', ""), env={})
    assert stack.implied_broker_properties["errors.deadletterqueue.topic.name.prefix"] == "dlq."
    assert "share.coordinator.state.topic.replication.factor" not in stack.implied_broker_properties


def test_a_share_group_dlq_topic_is_one_of_the_stacks_topics_with_the_opt_in() -> None:
    from infra.config import parse_stack

    stack = parse_stack(
        """
[cluster]
flavor = "local"
brokers = 3
[[topics]]
name = "user-events"
partitions = 3
replication_factor = 3
[[share_groups.groups]]
name = "workers"
topics = ["user-events"]
dlq = true
""",
        env={},
    )
    (dlq,) = [topic for topic in stack.all_topics if topic.name == "dlq.user-events"]
    assert dlq.replication_factor == 3
    assert dlq.config == {"errors.deadletterqueue.group.enable": "true"}
