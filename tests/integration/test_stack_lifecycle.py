"""up / down / status on a real Docker engine with the real local Kafka images."""

from __future__ import annotations

import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from confluent_kafka import Consumer, Producer
from python_on_whales import DockerClient

from infra import images, lifecycle
from infra.config import Stack, build_stack
from infra.docker import require_docker
from infra.errors import DockerUnavailableError, StackError, TopicError
from infra.readiness import describe_broker_ids
from tests.integration.conftest import free_port

PROJECT_LABEL = "com.docker.compose.project"


def make_stack(
    project: str, *, topics: list[dict[str, Any]] | None = None, **cluster: Any
) -> Stack:
    """A local-flavor stack on a free port, for one test."""
    cluster = {"flavor": "local", "port": free_port_block(cluster.get("brokers", 1))} | cluster
    return build_stack(
        {"stack": {"project": project}, "cluster": cluster, "topics": topics or []}, env={}
    )


def free_port_block(count: int) -> int:
    """The first of ``count`` consecutive free ports."""
    for _ in range(50):
        first = free_port()
        if first + count > 65535:
            continue
        if all(_is_free(first + i) for i in range(count)):
            return first
    raise RuntimeError("no block of free ports")


def _is_free(port: int) -> bool:
    with socket.socket() as sock:
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def leftovers(docker: DockerClient, project: str) -> dict[str, list[str]]:
    """Containers, networks and volumes that still carry the project's label."""
    label = [("label", f"{PROJECT_LABEL}={project}")]
    return {
        "containers": [c.name for c in docker.container.list(all=True, filters=label)],
        "networks": [n.name for n in docker.network.list(filters=label)],
        "volumes": [v.name for v in docker.volume.list(filters=label)],
    }


NOTHING = {"containers": [], "networks": [], "volumes": []}


@pytest.fixture
def stacks(tmp_path: Path, docker: DockerClient, local_images: list[str]) -> Iterator[list[Stack]]:
    """Stacks a test brings up; each one is torn down afterwards whatever happened."""
    started: list[Stack] = []
    yield started
    for stack in started:
        lifecycle.down(stack, tmp_path)


def produce(bootstrap: str, topic: str, value: bytes) -> None:
    producer = Producer({"bootstrap.servers": bootstrap, "acks": "all"})
    producer.produce(topic, value)
    assert producer.flush(30) == 0


def consume_all(bootstrap: str, topic: str, timeout_s: float = 20) -> list[bytes]:
    consumer = Consumer(
        {
            "bootstrap.servers": bootstrap,
            "group.id": uuid.uuid4().hex,
            "auto.offset.reset": "earliest",
            "enable.partition.eof": True,
        }
    )
    consumer.subscribe([topic])
    values: list[bytes] = []
    eof: set[int] = set()
    deadline = time.monotonic() + timeout_s
    try:
        while time.monotonic() < deadline:
            message = consumer.poll(0.5)
            if message is None:
                continue
            if message.error():
                if message.error().code() == -191:  # _PARTITION_EOF
                    eof.add(message.partition())
                    partitions = len(consumer.assignment())
                    if partitions and len(eof) >= partitions:
                        break
                continue
            values.append(message.value())
    finally:
        consumer.close()
    return values


def test_kraft_single_node_up_is_idempotent_and_down_leaves_nothing(
    tmp_path: Path, docker: DockerClient, stacks: list[Stack]
) -> None:
    stack = make_stack(
        "it-kraft1",
        topics=[{"name": "user-events", "partitions": 3, "replication_factor": 1, "dlq": True}],
    )
    stacks.append(stack)
    report = lifecycle.up(stack, tmp_path)
    assert [(t.spec.name, t.created, t.state.partitions) for t in report.topics] == [
        ("user-events", True, 3),
        ("user-events-dlq", True, 3),
    ]
    assert [s.container for s in report.services] == ["kafka"]
    # The seed's own command, inside the container named kafka.
    port = stack.brokers[0].host_port
    listed = docker.container.execute(
        "kafka", ["kafka-topics", "--list", "--bootstrap-server", f"localhost:{port}"]
    )
    assert str(listed).split() == ["user-events", "user-events-dlq"]
    container_id = docker.container.inspect("kafka").id

    again = lifecycle.up(stack, tmp_path)
    assert [t.created for t in again.topics] == [False, False]
    assert docker.container.inspect("kafka").id == container_id

    status = lifecycle.status(stack, tmp_path)
    assert [(s.container, s.ok) for s in status.services] == [("kafka", True)]
    assert status.topics["user-events"].partitions == 3

    lifecycle.down(stack, tmp_path)
    assert leftovers(docker, "it-kraft1") == NOTHING
    lifecycle.down(stack, tmp_path)  # safe twice
    assert lifecycle.status(stack, tmp_path).services == []


def test_kraft_three_nodes_give_a_topic_three_in_sync_replicas(
    tmp_path: Path, docker: DockerClient, stacks: list[Stack]
) -> None:
    stack = make_stack(
        "it-kraft3",
        brokers=3,
        heap="384m",
        topics=[{"name": "orders", "partitions": 3, "replication_factor": 3}],
    )
    stacks.append(stack)
    report = lifecycle.up(stack, tmp_path)
    assert [s.container for s in report.services] == ["kafka-1", "kafka-2", "kafka-3"]
    assert describe_broker_ids(stack.bootstrap_servers) == [1, 2, 3]
    (orders,) = report.topics
    assert orders.state.replication_factor == 3
    assert orders.state.in_sync_replicas == 3
    lifecycle.down(stack, tmp_path)
    assert leftovers(docker, "it-kraft3") == NOTHING


def test_zookeeper_mode_one_zookeeper_one_broker(
    tmp_path: Path, docker: DockerClient, stacks: list[Stack]
) -> None:
    stack = make_stack(
        "it-zk1",
        mode="zookeeper",
        topics=[{"name": "user-events", "partitions": 3, "replication_factor": 1}],
    )
    stacks.append(stack)
    report = lifecycle.up(stack, tmp_path)
    assert [s.container for s in report.services] == ["kafka", "zookeeper"]
    assert report.topics[0].state.partitions == 3
    produce(stack.bootstrap_servers, "user-events", b"zk")
    assert consume_all(stack.bootstrap_servers, "user-events") == [b"zk"]
    lifecycle.down(stack, tmp_path)
    assert leftovers(docker, "it-zk1") == NOTHING


def test_data_survives_down_with_kept_volumes_then_up(
    tmp_path: Path, docker: DockerClient, stacks: list[Stack]
) -> None:
    stack = make_stack("it-keep", topics=[{"name": "kept", "partitions": 1}])
    stacks.append(stack)
    lifecycle.up(stack, tmp_path)
    produce(stack.bootstrap_servers, "kept", b"still here")
    lifecycle.down(stack, tmp_path, keep_data=True)
    assert leftovers(docker, "it-keep")["containers"] == []
    assert leftovers(docker, "it-keep")["volumes"] == ["it-keep_kafka-data"]
    report = lifecycle.up(stack, tmp_path)
    assert report.topics[0].created is False
    assert consume_all(stack.bootstrap_servers, "kept") == [b"still here"]
    lifecycle.down(stack, tmp_path)
    assert leftovers(docker, "it-keep") == NOTHING


def test_a_broker_with_bad_config_fails_fast_with_its_log_and_leaves_nothing(
    tmp_path: Path, docker: DockerClient, stacks: list[Stack]
) -> None:
    stack = make_stack("it-bad", broker_config={"log.retention.hours": "forever"})
    stacks.append(stack)
    started = time.monotonic()
    with pytest.raises(StackError) as caught:
        lifecycle.up(stack, tmp_path)
    elapsed = time.monotonic() - started
    message = caught.value.render()
    assert "container kafka exited with code 1" in message
    assert "forever" in message  # the broker's own complaint, from its log tail
    assert "exit code:" in message and "compose" in message
    assert elapsed < stack.healthcheck.budget_s / 2, "up waited instead of failing fast"
    assert leftovers(docker, "it-bad") == NOTHING


def test_a_port_in_use_is_reported_before_anything_starts(
    tmp_path: Path, docker: DockerClient, stacks: list[Stack]
) -> None:
    stack = make_stack("it-port")
    stacks.append(stack)
    with socket.socket() as squatter:
        squatter.bind(("127.0.0.1", stack.brokers[0].host_port))
        squatter.listen()
        with pytest.raises(StackError, match="host ports are in use") as caught:
            lifecycle.up(stack, tmp_path)
    assert "used by another process" in caught.value.message
    assert caught.value.hint and "[cluster] port" in caught.value.hint
    assert leftovers(docker, "it-port") == NOTHING


def test_an_existing_topic_that_differs_from_stack_toml_is_reported(
    tmp_path: Path, stacks: list[Stack]
) -> None:
    stack = make_stack("it-differ", topics=[{"name": "t1", "partitions": 2}])
    stacks.append(stack)
    lifecycle.up(stack, tmp_path)
    changed = build_stack(
        {
            "stack": {"project": "it-differ"},
            "cluster": stack.cluster.model_dump(exclude_none=True),
            "topics": [{"name": "t1", "partitions": 4, "config": {"retention.ms": "1000"}}],
        },
        env={},
    )
    with pytest.raises(TopicError) as caught:
        lifecycle.up(changed, tmp_path)
    assert "topic t1 exists with 2 partition(s), stack.toml declares 4" in caught.value.message
    assert "retention.ms=604800000, stack.toml declares retention.ms=1000" in caught.value.message


def test_a_local_image_that_is_not_built_names_nox_image(
    tmp_path: Path, docker: DockerClient
) -> None:
    stack = make_stack("it-noimg", kafka_image="kafkarig/kafka:0.0.1-missing")
    with pytest.raises(StackError, match="is not built") as caught:
        lifecycle.up(stack, tmp_path)
    assert caught.value.hint and "nox -s image" in caught.value.hint
    assert leftovers(docker, "it-noimg") == NOTHING


def test_a_docker_daemon_that_does_not_answer_is_a_clear_error(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("DOCKER_HOST", f"unix://{tmp_path}/no-daemon.sock")
    with pytest.raises(DockerUnavailableError, match="no Docker daemon answers") as caught:
        require_docker()
    assert "exit code:" in caught.value.message
    assert caught.value.hint and "dockerd" in caught.value.hint


def test_the_cli_reports_a_stopped_daemon_without_a_traceback(tmp_path: Path) -> None:
    stack_file = tmp_path / "stack.toml"
    stack_file.write_text('[cluster]\nflavor = "local"\nport = 45092\n')
    result = subprocess.run(
        [sys.executable, "-m", "infra", "up", "--stack", str(stack_file)],
        env={"PATH": "/usr/local/bin:/usr/bin:/bin", "DOCKER_HOST": f"unix://{tmp_path}/x.sock"},
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 1
    assert "kafkarig: error: no Docker daemon answers" in result.stderr
    assert "Traceback" not in result.stderr


def test_a_container_name_held_by_another_stack_is_reported_before_starting(
    tmp_path: Path, docker: DockerClient, run_container: Any, unique_name: str
) -> None:
    run_container(images.BASE_IMAGE, {}, name="kafka", command=["sleep", "120"])
    stack = make_stack("it-clash")
    with pytest.raises(StackError, match="container names of this stack are taken") as caught:
        lifecycle.up(stack, tmp_path)
    assert "kafka (not from compose)" in caught.value.message
    assert caught.value.hint and "nox -s down" in caught.value.hint
    assert leftovers(docker, "it-clash") == NOTHING


def test_an_image_that_cannot_be_pulled_names_the_local_flavor(
    tmp_path: Path, docker: DockerClient
) -> None:
    stack = make_stack(
        "it-nopull", flavor="apache", kafka_image="kafkarig-no-such-owner/kafka:0.0.1"
    )
    with pytest.raises(
        StackError, match=r"cannot pull kafkarig-no-such-owner/kafka:0\.0\.1"
    ) as caught:
        lifecycle.up(stack, tmp_path)
    assert caught.value.hint and "nox -s image" in caught.value.hint
    assert 'flavor = "local"' in caught.value.hint
    assert leftovers(docker, "it-nopull") == NOTHING


def test_down_after_the_stack_shrank_removes_every_volume_of_the_project(
    tmp_path: Path, docker: DockerClient, stacks: list[Stack]
) -> None:
    two = make_stack("it-shrink", brokers=2, heap="384m")
    stacks.append(two)
    lifecycle.up(two, tmp_path)
    assert len(leftovers(docker, "it-shrink")["volumes"]) == 2
    one = build_stack(
        {"stack": {"project": "it-shrink"}, "cluster": {"flavor": "local", "brokers": 1}},
        env={},
    )
    lifecycle.down(one, tmp_path)
    assert leftovers(docker, "it-shrink") == NOTHING


def test_a_host_address_that_is_not_on_this_machine_is_a_clear_error(
    tmp_path: Path, docker: DockerClient
) -> None:
    stack = make_stack("it-host", host="192.0.2.10")  # TEST-NET-1: never a local address
    with pytest.raises(StackError, match=r"cannot publish port \d+ on 192\.0\.2\.10") as caught:
        lifecycle.up(stack, tmp_path)
    assert caught.value.hint and "127.0.0.1" in caught.value.hint
    assert leftovers(docker, "it-host") == NOTHING
