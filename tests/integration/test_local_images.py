"""The local images run real Kafka from env vars alone, as the official images do."""

from __future__ import annotations

import dataclasses
import time
import uuid
from pathlib import Path

import pytest
from confluent_kafka import Consumer, Producer
from confluent_kafka.admin import AdminClient, NewTopic
from python_on_whales import Container, DockerClient

from infra import images
from infra.errors import ImageBuildError
from infra.readiness import WaitFor, wait_for_brokers
from tests.integration.conftest import (
    KAFKA_3_IMAGE,
    KAFKA_4_IMAGE,
    ZOOKEEPER_IMAGE,
    RunContainer,
    free_port,
    kraft_env,
)


def round_trip(bootstrap: str, topic: str, partitions: int = 1, replication: int = 1) -> None:
    """Create ``topic``, produce one message with confluent-kafka and consume it back."""
    admin = AdminClient({"bootstrap.servers": bootstrap})
    admin.create_topics([NewTopic(topic, partitions, replication)])[topic].result(timeout=30)
    payload = uuid.uuid4().hex.encode()
    producer = Producer({"bootstrap.servers": bootstrap, "acks": "all"})
    producer.produce(topic, payload, key=b"k")
    assert producer.flush(30) == 0
    consumer = Consumer(
        {
            "bootstrap.servers": bootstrap,
            "group.id": f"it-{topic}",
            "auto.offset.reset": "earliest",
        }
    )
    consumer.subscribe([topic])
    try:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            message = consumer.poll(1.0)
            if message is None or message.error():
                continue
            assert message.value() == payload
            assert message.key() == b"k"
            return
        pytest.fail(f"the message produced to {topic} was not consumed back within 30 s")
    finally:
        consumer.close()


def exec_out(container: Container, command: list[str]) -> str:
    """Run a command in the container (as ``docker exec`` does) and return its stdout."""
    return str(container.execute(command))


@pytest.mark.parametrize("image", [KAFKA_4_IMAGE, KAFKA_3_IMAGE])
def test_single_kraft_node_starts_from_env_alone(
    image: str, run_container: RunContainer, unique_name: str
) -> None:
    port = free_port()
    container = run_container(
        image,
        kraft_env(1, port, "1@localhost:19093", f"k-{unique_name}"),
        name=f"k-{unique_name}",
        ports={port: port},
    )
    bootstrap = f"localhost:{port}"
    assert wait_for_brokers(bootstrap, 1, timeout_s=90) == [1]
    round_trip(bootstrap, "it-roundtrip")
    topics = exec_out(
        container, ["kafka-topics", "--list", "--bootstrap-server", f"localhost:{port}"]
    )
    assert "it-roundtrip" in topics.split()
    # Both names of every tool are on PATH.
    assert "it-roundtrip" in exec_out(
        container, ["kafka-topics.sh", "--list", "--bootstrap-server", "localhost:19092"]
    )


def test_storage_is_formatted_once_and_data_survives_a_restart(
    docker: DockerClient, run_container: RunContainer, unique_name: str
) -> None:
    port = free_port()
    name = f"k-{unique_name}"
    container = run_container(
        KAFKA_4_IMAGE,
        kraft_env(1, port, "1@localhost:19093", name),
        name=name,
        ports={port: port},
        volumes=[(f"{name}-data", "/var/lib/kafka/data")],
    )
    bootstrap = f"localhost:{port}"
    wait_for_brokers(bootstrap, 1, timeout_s=90)
    round_trip(bootstrap, "survives")
    container.restart()
    wait_for_brokers(bootstrap, 1, timeout_s=90)
    assert "storage already formatted" in docker.logs(container)
    listed = exec_out(
        container, ["kafka-topics", "--list", "--bootstrap-server", "localhost:19092"]
    )
    assert "survives" in listed.split()


def test_three_kraft_nodes_on_a_user_network_form_a_quorum(
    run_container: RunContainer, unique_name: str
) -> None:
    network = f"it-{unique_name}"
    names = [f"k{i}-{unique_name}" for i in (1, 2, 3)]
    ports = [free_port() for _ in names]
    voters = ",".join(f"{i}@{name}:19093" for i, name in enumerate(names, start=1))
    containers = []
    for node_id, (name, port) in enumerate(zip(names, ports, strict=True), start=1):
        env = kraft_env(node_id, port, voters, name) | {
            "KAFKA_OFFSETS_TOPIC_REPLICATION_FACTOR": "3"
        }
        containers.append(
            run_container(KAFKA_4_IMAGE, env, name=name, ports={port: port}, network=network)
        )
    bootstrap = ",".join(f"localhost:{port}" for port in ports)
    assert wait_for_brokers(bootstrap, 3, timeout_s=120) == [1, 2, 3]
    quorum = exec_out(
        containers[0],
        ["kafka-metadata-quorum", "--bootstrap-server", "localhost:19092", "describe", "--status"],
    )
    voters_line = next(line for line in quorum.splitlines() if line.startswith("CurrentVoters"))
    for node_id in (1, 2, 3):
        assert f'"id": {node_id}' in voters_line or f"{node_id}" in voters_line
    round_trip(bootstrap, "replicated", partitions=3, replication=3)
    admin = AdminClient({"bootstrap.servers": bootstrap})
    metadata = admin.list_topics("replicated", timeout=10)
    for partition in metadata.topics["replicated"].partitions.values():
        assert sorted(partition.isrs) == [1, 2, 3]


def test_zookeeper_mode_with_kafka_3_and_zookeeper_images(
    run_container: RunContainer, unique_name: str
) -> None:
    network = f"it-{unique_name}"
    zookeeper = f"zk-{unique_name}"
    run_container(
        ZOOKEEPER_IMAGE,
        {"ZOOKEEPER_CLIENT_PORT": "2181", "ZOOKEEPER_TICK_TIME": "2000"},
        name=zookeeper,
        network=network,
    )
    port = free_port()
    broker = f"k-{unique_name}"
    container = run_container(
        KAFKA_3_IMAGE,
        {
            "KAFKA_BROKER_ID": "1",
            "KAFKA_ZOOKEEPER_CONNECT": f"{zookeeper}:2181",
            "KAFKA_ADVERTISED_LISTENERS": f"PLAINTEXT://localhost:{port}",
            "KAFKA_OFFSETS_TOPIC_REPLICATION_FACTOR": "1",
            "KAFKA_HEAP_OPTS": "-Xmx384m -Xms384m",
        },
        name=broker,
        ports={port: port},
        network=network,
    )
    bootstrap = f"localhost:{port}"
    assert wait_for_brokers(bootstrap, 1, timeout_s=120) == [1]
    round_trip(bootstrap, "zk-roundtrip", partitions=3)
    # listeners was derived from the advertised listeners, as the official images do.
    properties = exec_out(container, ["cat", "/opt/kafka/config/server.properties"])
    assert f"listeners=PLAINTEXT://0.0.0.0:{port}" in properties.splitlines()
    assert "zk-roundtrip" in exec_out(
        container, ["kafka-topics", "--list", "--bootstrap-server", f"localhost:{port}"]
    )


def wait_exited(container: Container, timeout_s: float = 60) -> int:
    """Wait for the container to exit and return its exit code."""
    WaitFor(
        expected=f"container {container.name} to exit",
        probe=lambda: container.reload() or container.state.status,
        accept=lambda status: status == "exited",
        timeout_s=timeout_s,
    ).wait()
    return int(container.state.exit_code or 0)


def test_kafka_4_without_process_roles_exits_with_a_clear_error(
    docker: DockerClient, run_container: RunContainer, unique_name: str
) -> None:
    container = run_container(
        KAFKA_4_IMAGE,
        {"KAFKA_ZOOKEEPER_CONNECT": "zookeeper:2181"},
        name=f"k-{unique_name}",
    )
    assert wait_exited(container) == 64
    logs = docker.logs(container)
    assert "Kafka 4.4.0 has no ZooKeeper mode" in logs
    assert "hint:" in logs


def test_kraft_without_cluster_id_exits_with_a_clear_error(
    docker: DockerClient, run_container: RunContainer, unique_name: str
) -> None:
    env = kraft_env(1, 39999, "1@localhost:19093", "x")
    del env["CLUSTER_ID"]
    container = run_container(KAFKA_4_IMAGE, env, name=f"k-{unique_name}")
    assert wait_exited(container) == 64
    assert "CLUSTER_ID is required when KAFKA_PROCESS_ROLES is set" in docker.logs(container)


def test_images_run_as_a_non_root_user(docker: DockerClient, local_images: list[str]) -> None:
    for image in (KAFKA_4_IMAGE, KAFKA_3_IMAGE, ZOOKEEPER_IMAGE):
        assert str(docker.run(image, ["id", "-u"], remove=True)).strip() == "1000"


def test_a_failed_check_run_leaves_no_image_tagged(
    docker: DockerClient, local_images: list[str]
) -> None:
    good = images.kafka_recipe(images.KAFKA_VERSION)
    # kafka-topics wired to a class without a main method: the image builds, its check fails.
    broken = dataclasses.replace(
        good,
        tag="kafkarig/kafka-broken-test:1",
        tools={"kafka-topics": ("org.apache.kafka.common.utils.Utils",)},
    )
    with pytest.raises(ImageBuildError, match="building kafkarig/kafka-broken-test:1 failed"):
        images.build_image(docker, broken)
    assert not docker.image.exists(broken.tag)
    assert not docker.image.exists(f"{broken.tag}-candidate")


def test_a_second_build_with_the_same_inputs_does_no_work(
    docker: DockerClient, local_images: list[str]
) -> None:
    before = docker.image.inspect(KAFKA_4_IMAGE).id
    result = images.build_image(docker, images.kafka_recipe(images.KAFKA_VERSION))
    assert result.built is False
    assert docker.image.inspect(KAFKA_4_IMAGE).id == before


def test_an_unknown_kafka_version_is_not_on_maven_central(
    docker: DockerClient, local_images: list[str]
) -> None:
    recipe = images.kafka_recipe("4.99.0")
    with pytest.raises(ImageBuildError, match=r"kafka 4\.99\.0 is not on Maven Central") as caught:
        images.build_image(docker, recipe)
    assert "exit code: 1" in caught.value.message
    assert not docker.image.exists(recipe.tag)


def test_an_unreachable_maven_central_is_a_clear_error(
    docker: DockerClient,
    local_images: list[str],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # A mirror nobody listens on, and an empty local repository: Maven can reach nothing.
    settings = tmp_path / "settings.xml"
    settings.write_text(
        "<settings><mirrors><mirror><id>nowhere</id><mirrorOf>*</mirrorOf>"
        "<url>http://127.0.0.1:9/maven2</url></mirror></mirrors></settings>"
    )
    monkeypatch.setenv("KAFKARIG_MAVEN_SETTINGS", str(settings))
    monkeypatch.setenv("MAVEN_OPTS", f"-Dmaven.repo.local={tmp_path / 'm2'}")
    recipe = dataclasses.replace(images.zookeeper_recipe(), tag="kafkarig/zookeeper-offline-test:1")
    with pytest.raises(ImageBuildError, match="Maven Central is unreachable") as caught:
        images.build_image(docker, recipe)
    assert caught.value.hint and "settings.xml" in caught.value.hint
    assert not docker.image.exists(recipe.tag)


@pytest.mark.parametrize("image", [KAFKA_4_IMAGE, KAFKA_3_IMAGE])
def test_every_tool_starts_under_both_names(
    image: str, docker: DockerClient, local_images: list[str]
) -> None:
    # Exit codes of --help differ between tools; a tool whose class ran prints its usage.
    checks = [
        f"{command} --help 2>&1 | grep -qi 'usage' || {{ echo FAILED {command}; exit 1; }}"
        for tool in images.KAFKA_TOOLS
        for command in (tool, f"{tool}.sh")
    ]
    script = "; ".join(checks) + "; echo all tools ran"
    assert str(docker.run(image, ["bash", "-c", script], remove=True)).strip() == "all tools ran"


def test_images_build_on_a_given_local_base_without_kcat_or_appuser(
    docker: DockerClient, local_images: list[str], tmp_path: Path, unique_name: str
) -> None:
    base = f"kafkarig-test/jre-plain:{unique_name}"
    (tmp_path / "Dockerfile").write_text(
        f"FROM {images.BASE_IMAGE}\nRUN rm /usr/bin/kcat && userdel appuser\n"
    )
    docker.legacy_build(tmp_path, tags=[base])
    recipe = dataclasses.replace(
        images.kafka_recipe(images.KAFKA_VERSION), tag=f"kafkarig-test/kafka:{unique_name}"
    )
    port = free_port()
    try:
        (result,) = images.build_images([recipe], base_image=base)
        assert result.built
        name = f"k-{unique_name}"
        container = docker.run(
            recipe.tag,
            detach=True,
            name=name,
            envs=kraft_env(1, port, "1@localhost:19093", name),
            publish=[(f"127.0.0.1:{port}", port)],
        )
        try:
            assert wait_for_brokers(f"localhost:{port}", 1, timeout_s=90) == [1]
            # Without kcat the healthcheck asks with the JVM tool, and still answers.
            assert str(docker.container.execute(container, ["id", "-u"])).strip() == "1000"
            docker.container.execute(container, ["kafka-healthcheck", "localhost:19092"])
        finally:
            docker.container.remove(container, force=True, volumes=True)
    finally:
        for tag in (recipe.tag, base):
            if docker.image.exists(tag):
                docker.image.remove(tag, force=True)


def test_a_base_image_that_is_not_on_this_machine_is_a_clear_error(
    docker: DockerClient,
) -> None:
    with pytest.raises(ImageBuildError, match="is not on this machine") as caught:
        images.build_images([], base_image="kafkarig-test/no-such-base:1")
    assert caught.value.hint and "docker image ls" in caught.value.hint
