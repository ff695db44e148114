"""The local images' entrypoints map env vars to server properties as the official images do.

The entrypoint scripts are run on the host with bash (no Docker): ``print-properties``
prints exactly what the broker would be started with.
"""

from __future__ import annotations

import subprocess
from collections.abc import Mapping
from pathlib import Path

import pytest

IMAGE_DIR = Path(__file__).resolve().parents[2] / "templates" / "image"
KRAFT = {"KAFKA_PROCESS_ROLES": "broker,controller", "CLUSTER_ID": "MkU3OEVBNTcwNTJENDM2Qk"}


def run_script(
    script: str, command: str, env: Mapping[str, str]
) -> subprocess.CompletedProcess[str]:
    """Run an entrypoint with only ``env`` (plus PATH) set."""
    return subprocess.run(
        ["bash", str(IMAGE_DIR / script), command],
        env={"PATH": "/usr/bin:/bin", "KAFKARIG_KAFKA_VERSION": "4.4.0", **env},
        capture_output=True,
        text=True,
        check=False,
    )


def properties(env: Mapping[str, str]) -> dict[str, str]:
    """The server properties the Kafka entrypoint derives from ``env``."""
    result = run_script("kafka-entrypoint.sh", "print-properties", env)
    assert result.returncode == 0, result.stderr
    return dict(line.split("=", 1) for line in result.stdout.splitlines())


@pytest.mark.parametrize(
    ("variable", "expected_property"),
    [
        ("KAFKA_NODE_ID", "node.id"),
        ("KAFKA_OFFSETS_TOPIC_REPLICATION_FACTOR", "offsets.topic.replication.factor"),
        ("KAFKA_LISTENER_NAME_INTERNAL_SSL_KEY__STORE", "listener.name.internal.ssl.key_store"),
        ("KAFKA_CONFLUENT___SUPPORT_METRICS", "confluent-support.metrics"),
        ("KAFKA_A___B__C_D", "a-b_c.d"),
    ],
)
def test_kafka_variables_become_properties(variable: str, expected_property: str) -> None:
    assert properties(KRAFT | {variable: "v1"})[expected_property] == "v1"


@pytest.mark.parametrize(
    "variable",
    [
        "KAFKA_HEAP_OPTS",
        "KAFKA_JVM_PERFORMANCE_OPTS",
        "KAFKA_OPTS",
        "KAFKA_GC_LOG_OPTS",
        "KAFKA_LOG4J_OPTS",
        "KAFKA_LOG4J_ROOT_LOGLEVEL",
        "KAFKA_JMX_PORT",
        "KAFKA_JMX_OPTS",
        "KAFKA_TOOLS_HEAP_OPTS",
        "KAFKA_VERSION",
        "KAFKA_DEBUG",
    ],
)
def test_launcher_variables_are_not_properties(variable: str) -> None:
    produced = properties(KRAFT | {variable: "-Xmx1g"})
    assert "-Xmx1g" not in produced.values(), produced


def test_variables_without_the_kafka_prefix_are_ignored() -> None:
    produced = properties(KRAFT | {"KAFKARIG_THING": "x", "CONFLUENT_X": "y"})
    assert "x" not in produced.values() and "y" not in produced.values()


def test_listeners_default_to_the_advertised_ones_on_every_interface() -> None:
    produced = properties(
        KRAFT | {"KAFKA_ADVERTISED_LISTENERS": "INTERNAL://kafka:19092,HOST://localhost:9092"}
    )
    assert produced["listeners"] == "INTERNAL://0.0.0.0:19092,HOST://0.0.0.0:9092"


def test_explicit_listeners_win_over_derived_ones() -> None:
    produced = properties(
        KRAFT
        | {
            "KAFKA_ADVERTISED_LISTENERS": "HOST://localhost:9092",
            "KAFKA_LISTENERS": "HOST://127.0.0.1:9092",
        }
    )
    assert produced["listeners"] == "HOST://127.0.0.1:9092"


def test_log_dirs_default_to_the_data_volume() -> None:
    assert properties(KRAFT)["log.dirs"] == "/var/lib/kafka/data"
    assert properties(KRAFT | {"KAFKA_LOG_DIRS": "/d1,/d2"})["log.dirs"] == "/d1,/d2"


def test_kraft_without_cluster_id_is_refused_with_a_hint() -> None:
    result = run_script(
        "kafka-entrypoint.sh", "print-properties", {"KAFKA_PROCESS_ROLES": "broker"}
    )
    assert result.returncode == 64
    assert "CLUSTER_ID is required" in result.stderr
    assert "hint:" in result.stderr


def test_kafka_4_has_no_zookeeper_mode() -> None:
    result = run_script(
        "kafka-entrypoint.sh", "print-properties", {"KAFKA_ZOOKEEPER_CONNECT": "zk:2181"}
    )
    assert result.returncode == 64
    assert "Kafka 4.4.0 has no ZooKeeper mode" in result.stderr


def test_kafka_3_runs_zookeeper_mode_without_process_roles() -> None:
    result = subprocess.run(
        ["bash", str(IMAGE_DIR / "kafka-entrypoint.sh"), "print-properties"],
        env={
            "PATH": "/usr/bin:/bin",
            "KAFKARIG_KAFKA_VERSION": "3.9.2",
            "KAFKA_ZOOKEEPER_CONNECT": "zookeeper:2181",
            "KAFKA_BROKER_ID": "1",
        },
        capture_output=True,
        text=True,
        check=True,
    )
    assert "zookeeper.connect=zookeeper:2181" in result.stdout.splitlines()
    assert "broker.id=1" in result.stdout.splitlines()


def test_zookeeper_variables_become_camel_case_keys() -> None:
    result = run_script(
        "zookeeper-entrypoint.sh",
        "print-config",
        {
            "ZOOKEEPER_CLIENT_PORT": "2181",
            "ZOOKEEPER_TICK_TIME": "2000",
            "ZOOKEEPER_INIT_LIMIT": "5",
            "ZOOKEEPER_SERVERS": "zk1:2888:3888;zk2:2888:3888",
        },
    )
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    for expected in (
        "clientPort=2181",
        "tickTime=2000",
        "initLimit=5",
        "server.1=zk1:2888:3888",
        "server.2=zk2:2888:3888",
        "dataDir=/var/lib/zookeeper/data",
    ):
        assert expected in lines
    assert not any(line.startswith("servers=") for line in lines)


def test_zookeeper_without_client_port_is_refused() -> None:
    result = run_script("zookeeper-entrypoint.sh", "print-config", {})
    assert result.returncode == 64
    assert "ZOOKEEPER_CLIENT_PORT is required" in result.stderr
