"""The stack.toml model: every validation rule, the defaults and the derived values."""

from __future__ import annotations

import base64
import hashlib
import re
from pathlib import Path
from typing import Any

import pytest

from infra import versions
from infra.config import (
    Stack,
    build_stack,
    cluster_id_for,
    load_stack,
    parse_stack,
)
from infra.errors import ConfigError, KafkarigError

from .conftest import StackFactory

REPO_ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(autouse=True)
def _no_flavor_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("KAFKARIG_FLAVOR", raising=False)


def invalid(data: dict[str, Any], env: dict[str, str] | None = None) -> str:
    """Validate ``data``, expect a ConfigError, return its rendered message."""
    with pytest.raises(ConfigError) as caught:
        build_stack(data, env=env or {})
    return str(caught.value)


def cluster(**keys: Any) -> dict[str, Any]:
    return {"cluster": keys}


def topics(*entries: dict[str, Any], **cluster_keys: Any) -> dict[str, Any]:
    return {"cluster": cluster_keys, "topics": list(entries)}


# --------------------------------------------------------------------------- the shipped file


def test_shipped_stack_toml_reproduces_the_seed() -> None:
    stack = load_stack(REPO_ROOT / "stack.toml", env={})

    assert stack.cluster.mode == "kraft"
    assert [broker.service for broker in stack.brokers] == ["kafka"]
    assert stack.bootstrap_servers == "localhost:9092"
    assert stack.cluster.flavor == "local"
    assert stack.cluster.host == "127.0.0.1"
    [topic] = stack.topics
    assert (topic.name, topic.partitions, topic.replication_factor, topic.dlq) == (
        "user-events",
        3,
        1,
        True,
    )
    assert [t.name for t in stack.all_topics] == ["user-events", "user-events-dlq"]


def test_shipped_stack_toml_runs_where_images_can_be_pulled() -> None:
    stack = load_stack(REPO_ROOT / "stack.toml", env={"KAFKARIG_FLAVOR": "apache"})

    assert stack.kafka_image == f"apache/kafka:{versions.KAFKA_VERSION}"


# --------------------------------------------------------------------------- defaults


def test_an_empty_file_is_a_single_kraft_broker_on_apache_images() -> None:
    stack = parse_stack("", env={})

    assert stack.project == "kafkarig"
    assert stack.cluster.mode == "kraft"
    assert stack.cluster.flavor == "apache"
    assert stack.kafka_image == "apache/kafka:4.4.0"
    assert stack.zookeeper_image is None
    assert stack.cluster.host == "127.0.0.1"
    assert stack.cluster.advertised_host == "localhost"
    assert stack.cluster.port == 9092
    assert stack.cluster.heap == "512m"
    assert stack.topics == []


def test_zookeeper_mode_defaults_to_kafka_39_and_confluent_79(make_stack: StackFactory) -> None:
    stack = make_stack(mode="zookeeper", flavor="confluent")

    assert stack.cluster.kafka_version == versions.KAFKA_ZK_VERSION
    assert stack.cluster.confluent_version == versions.CONFLUENT_ZK_VERSION
    assert stack.kafka_image == "confluentinc/cp-kafka:7.9.0"
    assert stack.zookeeper_image == "confluentinc/cp-zookeeper:7.9.0"


def test_topic_defaults_are_one_partition_one_replica_no_dlq(make_stack: StackFactory) -> None:
    [topic] = make_stack(topics=[{"name": "t"}]).topics

    assert (topic.partitions, topic.replication_factor, topic.dlq, topic.config) == (
        1,
        1,
        False,
        {},
    )
    assert topic.dlq_topic is None


# --------------------------------------------------------------------------- environment


def test_env_flavor_overrides_the_file() -> None:
    stack = build_stack(cluster(flavor="apache"), env={"KAFKARIG_FLAVOR": "local"})

    assert stack.cluster.flavor == "local"
    assert stack.kafka_image == "kafkarig/kafka:4.4.0"


def test_empty_env_flavor_is_ignored() -> None:
    stack = build_stack(cluster(flavor="confluent"), env={"KAFKARIG_FLAVOR": ""})

    assert stack.cluster.flavor == "confluent"


def test_load_stack_reads_the_process_environment_by_default(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "stack.toml"
    path.write_text('[cluster]\nflavor = "apache"\n')
    monkeypatch.setenv("KAFKARIG_FLAVOR", "confluent")

    assert load_stack(path).cluster.flavor == "confluent"


def test_the_environment_note_appears_only_for_the_overridden_key() -> None:
    message = invalid(cluster(brokers=0), env={"KAFKARIG_FLAVOR": "local"})

    assert "KAFKARIG_FLAVOR" not in message


def test_a_loaded_stack_knows_its_file(tmp_path: Path) -> None:
    path = tmp_path / "team.toml"
    path.write_text("")

    assert load_stack(path, env={}).source_file == path.resolve()
    assert parse_stack("", env={}).source_file is None


def test_invalid_env_flavor_is_reported_as_coming_from_the_environment() -> None:
    message = invalid({}, env={"KAFKARIG_FLAVOR": "loca"})

    assert "[cluster] flavor" in message
    assert "did you mean 'local'?" in message
    assert "KAFKARIG_FLAVOR" in message


# --------------------------------------------------------------------------- unknown keys


def test_unknown_topic_key_suggests_the_near_miss() -> None:
    message = invalid(topics({"name": "user-events", "partitons": 3}))

    assert "unknown key 'partitons' in [[topics]] #1 (user-events); did you mean 'partitions'?" in (
        message
    )


def test_unknown_cluster_key_suggests_the_near_miss() -> None:
    message = invalid(cluster(brokrs=3))

    assert "unknown key 'brokrs' in [cluster]; did you mean 'brokers'?" in message


def test_unknown_top_level_table_suggests_the_near_miss() -> None:
    message = invalid({"clustr": {"brokers": 1}})

    assert "unknown key 'clustr' at the top level; did you mean 'cluster'?" in message


def test_unknown_key_without_a_near_miss_lists_the_allowed_keys() -> None:
    message = invalid({"stack": {"colour": "blue"}})

    assert "unknown key 'colour' in [stack]" in message
    assert "did you mean" not in message
    assert "allowed keys in [stack]: project" in message


# --------------------------------------------------------------------------- topics


@pytest.mark.parametrize(
    "name", ["", ".", "..", "user events", "a/b", "événements", "x" * 250, "a:b"]
)
def test_topic_names_follow_kafkas_rules(name: str) -> None:
    message = invalid(topics({"name": name}))

    assert "is not a valid Kafka topic name" in message
    assert "1..249 characters" in message


@pytest.mark.parametrize("name", ["a", "A.b_c-d", "0", "...", "x" * 249])
def test_valid_topic_names_are_accepted(make_stack: StackFactory, name: str) -> None:
    assert make_stack(topics=[{"name": name}]).topics[0].name == name


def test_dlq_topic_name_must_also_fit_the_length_limit(make_stack: StackFactory) -> None:
    make_stack(topics=[{"name": "x" * 245, "dlq": True}])

    message = invalid(topics({"name": "x" * 246, "dlq": True}))

    assert "dead-letter topic" in message
    assert "at most 245 characters" in message


def test_duplicate_topic_names_are_rejected() -> None:
    message = invalid(topics({"name": "orders"}, {"name": "payments"}, {"name": "orders"}))

    assert '[[topics]] #3 (orders) name: "orders", which [[topics]] #1 (orders) already' in message
    assert "declare each topic once" in message


def test_declared_topic_clashing_with_a_generated_dlq_is_rejected() -> None:
    message = invalid(topics({"name": "user-events", "dlq": True}, {"name": "user-events-dlq"}))

    assert '"user-events-dlq" is already created by the dlq = true of [[topics]] #1' in message
    assert "dlq = true creates it" in message


def test_generated_dlq_clashing_with_an_earlier_declared_topic_is_rejected() -> None:
    message = invalid(topics({"name": "user-events-dlq"}, {"name": "user-events", "dlq": True}))

    assert 'dlq = true generates "user-events-dlq", which [[topics]] #1' in message


def test_topics_differing_only_in_dot_and_underscore_collide() -> None:
    message = invalid(topics({"name": "user.events"}, {"name": "user_events"}))

    assert "Kafka treats '.' and '_' in names alike" in message


@pytest.mark.parametrize("partitions", [0, -1])
def test_partitions_must_be_at_least_one(partitions: int) -> None:
    message = invalid(topics({"name": "t", "partitions": partitions}))

    assert f"[[topics]] #1 (t) partitions: {partitions} partitions; a topic needs at least 1" in (
        message
    )


def test_replication_factor_must_be_at_least_one() -> None:
    message = invalid(topics({"name": "t", "replication_factor": 0}))

    assert "replication_factor: 0 replicas; the replication factor must be at least 1" in message


def test_replication_factor_cannot_exceed_the_broker_count() -> None:
    message = invalid(topics({"name": "t", "replication_factor": 3}, brokers=1))

    assert "[[topics]] #1 (t) replication_factor: 3 replicas but [cluster] brokers = 1" in message
    assert "lower replication_factor to at most 1" in message


def test_replication_factor_equal_to_the_broker_count_is_accepted(
    make_stack: StackFactory,
) -> None:
    stack = make_stack(brokers=3, topics=[{"name": "t", "replication_factor": 3}])

    assert stack.topics[0].replication_factor == 3


def test_topic_config_values_are_stored_as_strings(make_stack: StackFactory) -> None:
    config = {"retention.ms": 604800000, "preallocate": True, "min.cleanable.dirty.ratio": 0.5}

    [topic] = make_stack(topics=[{"name": "t", "config": config}]).topics

    assert topic.config == {
        "retention.ms": "604800000",
        "preallocate": "true",
        "min.cleanable.dirty.ratio": "0.5",
    }


@pytest.mark.parametrize(
    ("written", "stored"),
    [(1e3, "1000"), (1000, "1000"), ("1000", "1000"), (6.048e8, "604800000"), (0.25, "0.25")],
)
def test_topic_config_numbers_are_stored_as_kafka_reads_them(
    make_stack: StackFactory, written: object, stored: str
) -> None:
    [topic] = make_stack(topics=[{"name": "t", "config": {"retention.ms": written}}]).topics

    assert topic.config["retention.ms"] == stored


def test_topic_config_rejects_tables_and_bad_names() -> None:
    message = invalid(topics({"name": "t", "config": {"retention.ms": [1]}}))
    assert '[[topics]] #1 (t) config."retention.ms": topic config value is an array' in message

    message = invalid(topics({"name": "t", "config": {"Retention.MS": "1"}}))
    assert 'topic config name "Retention.MS" is not valid' in message


# --------------------------------------------------------------------------- cluster


@pytest.mark.parametrize("brokers", [0, 10])
def test_broker_count_is_between_one_and_nine(brokers: int) -> None:
    message = invalid(cluster(brokers=brokers))

    assert f"[cluster] brokers: {brokers} brokers is out of range; allowed: 1..9" in message


def test_apache_flavor_rejects_zookeeper_mode() -> None:
    message = invalid(cluster(mode="zookeeper", flavor="apache"))

    assert "apache/kafka images are KRaft only; use flavor local or confluent" in message


def test_apache_is_the_default_flavor_so_zookeeper_mode_needs_a_flavor() -> None:
    message = invalid(cluster(mode="zookeeper"))

    assert "apache/kafka images are KRaft only" in message


def test_local_flavor_needs_a_version_the_image_builder_supports() -> None:
    message = invalid(cluster(flavor="local", kafka_version="4.0.0"))

    assert '[cluster] kafka_version: kafka_version "4.0.0" has no local image' in message
    assert "'4.4.0', '3.9.2'" in message
    assert "nox -s image" in message


def test_local_flavor_with_an_explicit_image_accepts_any_version(
    make_stack: StackFactory,
) -> None:
    stack = make_stack(flavor="local", kafka_version="4.0.0", kafka_image="mine/kafka:4.0.0")

    assert stack.kafka_image == "mine/kafka:4.0.0"


def test_zookeeper_mode_rejects_kafka_4() -> None:
    message = invalid(cluster(mode="zookeeper", flavor="local", kafka_version="4.4.0"))

    assert "Kafka 4.0 removed ZooKeeper mode" in message
    assert 'use kafka_version = "3.9.2"' in message


def test_zookeeper_mode_rejects_confluent_8() -> None:
    message = invalid(cluster(mode="zookeeper", flavor="confluent", confluent_version="8.0.0"))

    assert "Confluent Platform 8.0 removed ZooKeeper" in message
    assert 'use confluent_version = "7.9.0"' in message


def test_zookeeper_image_in_kraft_mode_is_a_mistake() -> None:
    message = invalid(cluster(zookeeper_image="confluentinc/cp-zookeeper:7.9.0"))

    assert 'zookeeper_image is set but mode is "kraft"' in message


@pytest.mark.parametrize("port", [80, 1023, 65536])
def test_port_is_between_1024_and_65535(port: int) -> None:
    message = invalid(cluster(port=port))

    assert f"[cluster] port: {port} is out of range; allowed: 1024..65535" in message


@pytest.mark.parametrize("port", [1024, 65535])
def test_port_bounds_are_accepted(make_stack: StackFactory, port: int) -> None:
    assert make_stack(port=port).brokers[0].host_port == port


def test_last_broker_port_must_fit() -> None:
    message = invalid(cluster(brokers=3, port=65534))

    assert "needs ports up to 65536" in message
    assert "set port to at most 65533" in message


@pytest.mark.parametrize(
    ("key", "value", "expected"),
    [
        ("mode", "zookeper", "did you mean 'zookeeper'?"),
        ("flavor", "confluen", "did you mean 'confluent'?"),
        ("kafka_version", "latest", "is not a version; expected MAJOR.MINOR.PATCH"),
        ("confluent_version", "8.0", "is not a version"),
        ("heap", "512", "is not a heap size"),
        ("heap", "1G", "is not a heap size"),
        ("host", "localhost", "is not an IP address"),
        ("advertised_host", "::1", "is not a host name or IPv4 address"),
        ("advertised_host", "bad host", "is not a host name"),
    ],
)
def test_cluster_values_are_checked(key: str, value: str, expected: str) -> None:
    message = invalid(cluster(**{key: value}))

    assert f"[cluster] {key}: " in message
    assert expected in message


@pytest.mark.parametrize(
    ("image", "expected"),
    [
        ("apache/kafka", "has no tag"),
        ("apache/kafka:latest", "uses ':latest'"),
        ("apache/ka fka:4.0.0", "is not an image reference"),
    ],
)
def test_explicit_images_must_be_pinned(image: str, expected: str) -> None:
    message = invalid(cluster(kafka_image=image))

    assert f"[cluster] kafka_image: image {image!r}".replace("'", '"') in message
    assert expected in message


@pytest.mark.parametrize(
    "image",
    ["registry:5000/team/kafka:4.4.0", "apache/kafka@sha256:" + "a" * 64, "apache/kafka:4.4.0"],
)
def test_pinned_explicit_images_are_accepted(make_stack: StackFactory, image: str) -> None:
    assert make_stack(kafka_image=image).kafka_image == image


@pytest.mark.parametrize("project", ["Kafka", "-x", "a b", "", "x" * 64])
def test_project_is_a_compose_project_name(project: str) -> None:
    message = invalid({"stack": {"project": project}})

    assert "[stack] project: " in message
    assert "is not a valid project name" in message


def test_host_may_be_any_interface(make_stack: StackFactory) -> None:
    assert make_stack(host="0.0.0.0").brokers[0].port_mapping == "0.0.0.0:9092:9092"
    assert make_stack(host="::1").brokers[0].port_mapping == "[::1]:9092:9092"


# --------------------------------------------------------------------------- broker_config


def test_broker_config_values_are_stored_as_strings(make_stack: StackFactory) -> None:
    stack = make_stack(broker_config={"log.retention.hours": 24, "delete.topic.enable": True})

    assert stack.cluster.broker_config == {
        "log.retention.hours": "24",
        "delete.topic.enable": "true",
    }


@pytest.mark.parametrize("name", ["listeners", "node.id", "log.dirs", "inter.broker.listener.name"])
def test_broker_config_cannot_set_what_the_template_sets(name: str) -> None:
    message = invalid(cluster(broker_config={name: "x"}))

    assert f'server property "{name}" is set by kafkarig\'s compose template' in message


def test_auto_creation_is_off_by_default_and_may_be_turned_on(make_stack: StackFactory) -> None:
    assert make_stack().cluster.auto_create_topics is False

    stack = make_stack(
        brokers=3,
        broker_config={
            "auto.create.topics.enable": True,
            "num.partitions": 6,
            "default.replication.factor": 3,
        },
    )

    assert stack.cluster.auto_create_topics is True
    assert stack.cluster.broker_config["num.partitions"] == "6"


@pytest.mark.parametrize(
    ("key", "value", "expected"),
    [
        ("auto.create.topics.enable", "yes", 'auto.create.topics.enable = "yes"; expected true'),
        ("num.partitions", 0, 'num.partitions = "0"; allowed: an integer, at least 1'),
        ("default.replication.factor", 2, 'default.replication.factor = "2"; allowed: an '),
    ],
)
def test_auto_creation_settings_are_checked(key: str, value: object, expected: str) -> None:
    message = invalid(cluster(brokers=1, broker_config={key: value}))

    assert f'[cluster] broker_config."{key}": {expected}' in message


@pytest.mark.parametrize("name", ["heap.opts", "jmx.port", "log4j.root.loglevel", "version"])
def test_broker_config_rejects_launcher_settings(name: str) -> None:
    message = invalid(cluster(broker_config={name: "x"}))

    assert "is not a server property" in message


@pytest.mark.parametrize("name", ["Log.Retention.Hours", "a..b", "a_.b", "-a", "a b"])
def test_broker_config_names_must_survive_the_env_var_round_trip(name: str) -> None:
    message = invalid(cluster(broker_config={name: "x"}))

    assert "server property name" in message
    assert "is not valid" in message


# --------------------------------------------------------------------------- error reporting


def test_every_problem_is_reported_in_one_error_without_pydantic_noise() -> None:
    data = {
        "stack": {"project": "Bad"},
        "cluster": {"brokers": 0, "port": 80, "prot": 1},
        "topics": [{"name": "a b", "partitions": 0}],
    }

    message = invalid(data)

    assert message.startswith("stack.toml is invalid (6 problems):")
    for fragment in ["project", "brokers", "port", "'prot'", "name", "partitions"]:
        assert fragment in message
    assert "pydantic" not in message
    assert "validation error" not in message.lower()
    assert "Hint: " in message


def test_problems_in_one_section_do_not_hide_topic_problems() -> None:
    message = invalid(topics({"name": "t"}, {"name": "t"}, mode="zookeeper", flavor="apache"))

    assert "KRaft only" in message
    assert "declare each topic once" in message


def test_wrong_types_name_the_expected_type() -> None:
    message = invalid(topics({"name": "t", "dlq": "yes"}, port="9092"))

    assert '[cluster] port: expected an integer, got a string ("9092")' in message
    assert '[[topics]] #1 (t) dlq: expected true or false, got a string ("yes")' in message


def test_a_single_topics_table_hints_at_double_brackets() -> None:
    message = invalid({"topics": {"name": "t"}})

    assert "[[topics]]: expected an array of tables, got a table" in message
    assert "double brackets" in message


def test_a_missing_topic_name_is_reported() -> None:
    message = invalid(topics({"partitions": 3}))

    assert "[[topics]] #1 name: required key is missing" in message


def test_config_error_is_a_kafkarig_error() -> None:
    with pytest.raises(KafkarigError):
        build_stack(cluster(brokers=0), env={})


def test_toml_syntax_errors_report_line_and_column(tmp_path: Path) -> None:
    path = tmp_path / "stack.toml"
    path.write_text("[cluster]\nbrokers = 1\nflavor = local\n")

    with pytest.raises(ConfigError) as caught:
        load_stack(path, env={})

    message = str(caught.value)
    assert f"{path} is not valid TOML" in message
    assert re.search(r"line 3, column \d+", message)
    assert "double quotes" in message


def test_a_missing_file_hints_at_the_shipped_stack_toml(tmp_path: Path) -> None:
    path = tmp_path / "nope.toml"

    with pytest.raises(ConfigError) as caught:
        load_stack(path, env={})

    assert f"stack file {path} not found" in str(caught.value)
    assert caught.value.hint is not None
    assert "copy the stack.toml shipped with kafkarig" in caught.value.hint


def test_a_directory_is_not_a_stack_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="cannot be read"):
        load_stack(tmp_path, env={})


def test_a_non_utf8_file_is_reported(tmp_path: Path) -> None:
    path = tmp_path / "stack.toml"
    path.write_bytes(b'[stack]\nproject = "\xff"\n')

    with pytest.raises(ConfigError, match="not UTF-8"):
        load_stack(path, env={})


def test_errors_name_the_file(tmp_path: Path) -> None:
    path = tmp_path / "team.toml"
    path.write_text("[cluster]\nbrokers = 0\n")

    with pytest.raises(ConfigError, match=re.escape(f"{path} is invalid (1 problem)")):
        load_stack(path, env={})


# --------------------------------------------------------------------------- derived values


def test_a_single_broker_is_the_seeds_kafka_service(make_stack: StackFactory) -> None:
    [broker] = make_stack().brokers

    assert broker.service == "kafka"
    assert broker.node_id == 1
    assert broker.host_port == 9092
    assert broker.internal_address == "kafka:19092"
    assert broker.advertised_address == "localhost:9092"
    assert broker.volume == "kafka-data"


def test_several_brokers_are_numbered_with_consecutive_ports(make_stack: StackFactory) -> None:
    stack = make_stack(brokers=3, port=19000)

    assert [(b.service, b.node_id, b.host_port) for b in stack.brokers] == [
        ("kafka-1", 1, 19000),
        ("kafka-2", 2, 19001),
        ("kafka-3", 3, 19002),
    ]
    assert stack.internal_bootstrap_servers == "kafka-1:19092,kafka-2:19092,kafka-3:19092"
    assert stack.quorum_voters == "1@kafka-1:19093,2@kafka-2:19093,3@kafka-3:19093"


def test_bootstrap_servers_use_the_advertised_host(make_stack: StackFactory) -> None:
    stack = make_stack(brokers=2, advertised_host="kafka.example.com", host="0.0.0.0")

    assert stack.bootstrap_servers == "kafka.example.com:9092,kafka.example.com:9093"


def test_services_and_volumes_include_zookeeper_in_zookeeper_mode(
    make_stack: StackFactory,
) -> None:
    stack = make_stack(mode="zookeeper", flavor="local", brokers=2)

    assert stack.services == ["kafka-1", "kafka-2", "zookeeper"]
    assert stack.volumes == ["kafka-1-data", "kafka-2-data", "zookeeper-data", "zookeeper-log"]
    assert stack.zookeeper_connect == "zookeeper:2181"
    assert stack.quorum_voters is None


def test_all_topics_follow_each_topic_with_its_dlq(make_stack: StackFactory) -> None:
    stack = make_stack(
        brokers=3,
        topics=[
            {"name": "a", "partitions": 6, "replication_factor": 3, "dlq": True},
            {"name": "b", "config": {"retention.ms": 1}},
            {"name": "c", "partitions": 2, "dlq": True, "config": {"cleanup.policy": "compact"}},
        ],
    )

    assert [(t.name, t.partitions, t.replication_factor, t.config) for t in stack.all_topics] == [
        ("a", 6, 3, {}),
        ("a-dlq", 6, 3, {}),
        ("b", 1, 1, {"retention.ms": "1"}),
        ("c", 2, 1, {"cleanup.policy": "compact"}),
        ("c-dlq", 2, 1, {}),
    ]
    assert stack.topics[0].dlq_topic == "a-dlq"


def test_internal_topics_replicate_up_to_three(make_stack: StackFactory) -> None:
    sizes = {n: make_stack(brokers=n) for n in (1, 2, 3, 5)}

    assert {n: s.internal_topic_replication_factor for n, s in sizes.items()} == {
        1: 1,
        2: 2,
        3: 3,
        5: 3,
    }
    assert {n: s.internal_topic_min_isr for n, s in sizes.items()} == {1: 1, 2: 2, 3: 2, 5: 2}


def test_cluster_id_is_a_stable_22_character_base64url_uuid(make_stack: StackFactory) -> None:
    stack = make_stack(project="orders")
    expected = base64.urlsafe_b64encode(hashlib.sha256(b"orders").digest()[:16]).decode()

    assert stack.cluster_id == expected.rstrip("=")
    assert re.fullmatch(r"[A-Za-z0-9_-]{22}", stack.cluster_id)
    assert stack.cluster_id == make_stack(project="orders").cluster_id
    assert stack.cluster_id != make_stack(project="payments").cluster_id


def test_cluster_id_never_starts_with_a_dash() -> None:
    def first_candidate(project: str) -> str:
        digest = hashlib.sha256(project.encode()).digest()[:16]
        return base64.urlsafe_b64encode(digest).decode().rstrip("=")

    project = next(f"p{i}" for i in range(10_000) if first_candidate(f"p{i}").startswith("-"))

    assert not cluster_id_for(project).startswith("-")
    assert len(cluster_id_for(project)) == 22


@pytest.mark.parametrize(
    ("mode", "flavor", "kafka_image", "zookeeper_image"),
    [
        ("kraft", "apache", "apache/kafka:4.4.0", None),
        ("kraft", "confluent", "confluentinc/cp-kafka:8.0.0", None),
        ("kraft", "local", "kafkarig/kafka:4.4.0", None),
        (
            "zookeeper",
            "confluent",
            "confluentinc/cp-kafka:7.9.0",
            "confluentinc/cp-zookeeper:7.9.0",
        ),
        ("zookeeper", "local", "kafkarig/kafka:3.9.2", "kafkarig/zookeeper:3.8.4"),
    ],
)
def test_images_follow_the_flavor_and_are_pinned(
    make_stack: StackFactory,
    mode: str,
    flavor: str,
    kafka_image: str,
    zookeeper_image: str | None,
) -> None:
    stack = make_stack(mode=mode, flavor=flavor)

    assert stack.kafka_image == kafka_image
    assert stack.zookeeper_image == zookeeper_image
    assert not any(image.endswith(":latest") for image in stack.images)


def test_explicit_images_override_the_flavor(make_stack: StackFactory) -> None:
    stack = make_stack(
        mode="zookeeper",
        flavor="confluent",
        kafka_image="mirror/cp-kafka:7.9.0",
        zookeeper_image="mirror/cp-zookeeper:7.9.0",
    )

    assert stack.images == ["mirror/cp-kafka:7.9.0", "mirror/cp-zookeeper:7.9.0"]


@pytest.mark.parametrize("flavor", ["local", "apache", "confluent"])
def test_every_flavor_probes_with_the_native_probe(make_stack: StackFactory, flavor: str) -> None:
    probe = make_stack(flavor=flavor).healthcheck
    assert probe.test == (
        "CMD",
        "bash",
        "/opt/kafkarig/bin/kafkarig-probe",
        "kafka",
        "127.0.0.1:19092",
    )
    assert (probe.interval_s, probe.timeout_s, probe.retries) == (2, 5, 60)
    assert probe.budget_s == 120


def test_zookeeper_healthcheck_exists_only_in_zookeeper_mode(make_stack: StackFactory) -> None:
    local = make_stack(mode="zookeeper", flavor="local").zookeeper_healthcheck
    confluent = make_stack(mode="zookeeper", flavor="confluent").zookeeper_healthcheck

    assert make_stack().zookeeper_healthcheck is None
    for probe in (local, confluent):
        assert probe is not None
        assert probe.test[-2:] == ("zookeeper", "127.0.0.1:2181")


def test_compose_file_lives_in_the_state_dir_of_the_project(make_stack: StackFactory) -> None:
    stack = make_stack(project="orders")

    assert stack.compose_file(Path("/repo")) == Path("/repo/.kafkarig/orders/docker-compose.yml")


def test_stack_is_immutable(make_stack: StackFactory) -> None:
    stack: Stack = make_stack()

    with pytest.raises(ValueError, match="frozen"):
        stack.cluster.brokers = 3
