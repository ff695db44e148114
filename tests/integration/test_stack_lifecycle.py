"""up / down / status on a real Docker engine with the real local Kafka images."""

from __future__ import annotations

import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from confluent_kafka import Consumer, Producer
from python_on_whales import DockerClient

from infra import images, lifecycle
from infra.config import Stack, build_stack, load_stack, parse_stack
from infra.container_plan import KeepContainer
from infra.docker import require_docker
from infra.errors import DockerUnavailableError, StackError, TopicError
from infra.readiness import describe_broker_ids
from infra.topic_plan import AddPartitions, AlterTopicConfigs, KeepTopic
from infra.topics import admin_client, describe_topics
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
        lifecycle.down(stack)


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
    assert again.containers == [], "a stack up as declared is left alone"
    assert all(isinstance(a, KeepContainer) for a in again.plan.of_kind("container"))

    status = lifecycle.status(stack)
    assert [(s.container, s.ok) for s in status.services] == [("kafka", True)]
    assert status.topics["user-events"].partitions == 3

    lifecycle.down(stack)
    assert leftovers(docker, "it-kraft1") == NOTHING
    lifecycle.down(stack)  # safe twice
    assert lifecycle.status(stack).services == []


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
    lifecycle.down(stack)
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
    lifecycle.down(stack)
    assert leftovers(docker, "it-zk1") == NOTHING


def test_data_survives_down_with_kept_volumes_then_up(
    tmp_path: Path, docker: DockerClient, stacks: list[Stack]
) -> None:
    stack = make_stack("it-keep", topics=[{"name": "kept", "partitions": 1}])
    stacks.append(stack)
    lifecycle.up(stack, tmp_path)
    produce(stack.bootstrap_servers, "kept", b"still here")
    lifecycle.down(stack, keep_data=True)
    assert leftovers(docker, "it-keep")["containers"] == []
    assert leftovers(docker, "it-keep")["volumes"] == ["it-keep_kafka-data"]
    report = lifecycle.up(stack, tmp_path)
    assert report.topics[0].created is False
    assert consume_all(stack.bootstrap_servers, "kept") == [b"still here"]
    lifecycle.down(stack)
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
    assert "what this up did: created kafka" in message
    assert "removed container(s) kafka" in message
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


def restack(stack: Stack, topics: list[dict[str, Any]], **cluster: Any) -> Stack:
    """The same stack (project, cluster) with other topics or cluster keys."""
    return build_stack(
        {
            "stack": {"project": stack.project},
            "cluster": stack.cluster.model_dump(exclude_none=True) | cluster,
            "topics": topics,
        },
        env={},
    )


def test_plan_then_up_adds_partitions_and_sets_configs_and_refuses_fewer_partitions(
    tmp_path: Path, docker: DockerClient, stacks: list[Stack]
) -> None:
    three = [{"name": "t1", "partitions": 3, "config": {"retention.ms": 604800000}}]
    stack = make_stack("it-plan", topics=three)
    stacks.append(stack)
    lifecycle.up(stack, tmp_path)
    container_id = docker.container.inspect("kafka").id

    six = restack(stack, [{"name": "t1", "partitions": 6, "config": {"retention.ms": 3600000}}])
    plan = lifecycle.plan(six)
    assert [type(a) for a in plan.of_kind("topic")] == [AddPartitions, AlterTopicConfigs]
    assert "partitions 3 -> 6" in plan.render(["topic"])
    assert "retention.ms 604800000 -> 3600000" in plan.render(["topic"])
    assert plan.refusals == []

    report = lifecycle.up(six, tmp_path)
    assert report.containers == [], "a topic change restarts nothing"
    assert docker.container.inspect("kafka").id == container_id
    [topic] = report.topics
    assert topic.changed == ("partitions 3 -> 6", "retention.ms 604800000 -> 3600000")
    state = describe_topics(admin_client(stack.bootstrap_servers), ["t1"])["t1"]
    assert (state.partitions, state.configs["retention.ms"]) == (6, "3600000")
    assert [type(a) for a in lifecycle.plan(six).of_kind("topic")] == [KeepTopic]

    back = restack(stack, [{"name": "t1", "partitions": 3, "config": {"retention.ms": 1000}}])
    refused = lifecycle.plan(back).refusals
    assert [a.describe() for a in refused] == ["6 partitions, stack.toml declares 3"]
    with pytest.raises(TopicError) as caught:
        lifecycle.up(back, tmp_path)
    message = caught.value.render()
    assert "topic t1: 6 partitions, stack.toml declares 3" in message
    assert "why: Kafka cannot take partitions away from a topic" in message
    assert "instead: declare partitions = 6" in message
    assert "nothing was changed" in message and "left running" in message
    state = describe_topics(admin_client(stack.bootstrap_servers), ["t1"])["t1"]
    assert (state.partitions, state.configs["retention.ms"]) == (6, "3600000"), "nothing applied"
    assert [s.ok for s in lifecycle.status(back).services] == [True]


def test_configs_are_compared_as_the_broker_normalises_them(
    tmp_path: Path, stacks: list[Stack]
) -> None:
    stack = make_stack(
        "it-values",
        topics=[{"name": "t1", "config": {"retention.ms": 1000, "cleanup.policy": "delete"}}],
        broker_config={"auto.create.topics.enable": True, "num.partitions": 2},
    )
    stacks.append(stack)
    lifecycle.up(stack, tmp_path)

    port = stack.cluster.port
    for written in ("1e3", '"1000"', "1000.0"):
        text = (
            f'[stack]\nproject = "it-values"\n[cluster]\nflavor = "local"\nport = {port}\n'
            '[cluster.broker_config]\n"auto.create.topics.enable" = true\n'
            '"num.partitions" = 2\n[[topics]]\nname = "t1"\n'
            f'config = {{ "retention.ms" = {written}, "cleanup.policy" = "delete" }}\n'
        )
        plan = lifecycle.plan(parse_stack(text, env={}))
        assert [type(a) for a in plan.of_kind("topic")] == [KeepTopic], (written, plan.changes)
    # Auto-creation was asked for: the plan says undeclared topics may appear, and they do.
    assert any("undeclared" not in n and "may appear" in n for n in plan.notes)
    produce(stack.bootstrap_servers, "not-declared", b"x")
    assert (
        describe_topics(admin_client(stack.bootstrap_servers), ["not-declared"])[
            "not-declared"
        ].partitions
        == 2
    )


def test_a_topic_failure_leaves_the_running_stack_as_it_is(
    tmp_path: Path, docker: DockerClient, stacks: list[Stack]
) -> None:
    stack = make_stack("it-topicfail", topics=[{"name": "ok"}])
    stacks.append(stack)
    lifecycle.up(stack, tmp_path)
    container_id = docker.container.inspect("kafka").id

    bad = restack(stack, [{"name": "ok"}, {"name": "bad", "config": {"retention.ms": "forever"}}])
    with pytest.raises(TopicError) as caught:
        lifecycle.up(bad, tmp_path)
    message = caught.value.render()
    assert "topic bad:" in message and "the broker rejects it" in message
    assert "forever" in message
    assert "left running" in message
    assert docker.container.inspect("kafka").id == container_id
    assert docker.container.inspect("kafka").state.running
    assert "bad" not in describe_topics(admin_client(stack.bootstrap_servers))


def write_stack_file(path: Path, project: str, port: int) -> Path:
    path.write_text(
        f'[stack]\nproject = "{project}"\n[cluster]\nflavor = "local"\nport = {port}\n'
        '[[topics]]\nname = "user-events"\npartitions = 3\n'
    )
    return path


def up_from_file(root: Path, project: str, stacks: list[Stack]) -> tuple[Path, Stack]:
    """Write ``root/stack.toml`` for ``project``, load it and bring it up."""
    stack_file = write_stack_file(root / "stack.toml", project, free_port_block(1))
    stack = load_stack(stack_file, env={})
    stacks.append(stack)
    lifecycle.up(stack, root)
    return stack_file, stack


def test_down_after_the_project_was_renamed_removes_everything_of_the_old_stack(
    tmp_path: Path, docker: DockerClient, stacks: list[Stack]
) -> None:
    stack_file, old = up_from_file(tmp_path, "it-old", stacks)
    assert leftovers(docker, "it-old")["containers"] == ["kafka"]

    write_stack_file(stack_file, "it-new", old.cluster.port)
    report = lifecycle.down(load_stack(stack_file, env={}))

    assert report.projects == ["it-old"]
    assert leftovers(docker, "it-old") == NOTHING
    assert leftovers(docker, "it-new") == NOTHING


def kafkarig_cli(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    """``python -m infra ARGS`` as a user runs it."""
    return subprocess.run(
        [sys.executable, "-m", "infra", *args], cwd=cwd, capture_output=True, text=True, check=False
    )


def test_down_by_project_removes_a_stack_whose_stack_file_is_gone(
    tmp_path: Path, docker: DockerClient, stacks: list[Stack]
) -> None:
    stack_file, _ = up_from_file(tmp_path, "it-gone", stacks)
    stack_file.unlink()

    listed = kafkarig_cli("ls", cwd=tmp_path)
    assert listed.returncode == 0, listed.stderr
    [row] = [line for line in listed.stdout.splitlines() if line.startswith("it-gone ")]
    assert "up (1/1 healthy)" in row and str(stack_file) in row

    without_file = kafkarig_cli("down", cwd=tmp_path)
    assert without_file.returncode == 1
    assert "kafkarig down --project NAME" in without_file.stderr
    assert leftovers(docker, "it-gone")["containers"] == ["kafka"]

    result = kafkarig_cli("down", "--project", "it-gone", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert "stack it-gone is down" in result.stdout
    assert leftovers(docker, "it-gone") == NOTHING
    assert "it-gone" not in kafkarig_cli("ls", cwd=tmp_path).stdout


@contextmanager
def foreign_compose_project(root: Path, project: str) -> Iterator[None]:
    """A compose project kafkarig did not start (one sleeping container), removed after."""
    compose_file = root / "compose.yml"
    compose_file.write_text(
        f'services:\n  sleeper:\n    image: {images.BASE_IMAGE}\n    command: ["sleep", "120"]\n'
    )
    foreign = DockerClient(compose_files=[compose_file], compose_project_name=project)
    foreign.compose.up(detach=True, pull="never", quiet=True)
    try:
        yield
    finally:
        foreign.compose.down(timeout=1, volumes=True, quiet=True)


def test_down_by_project_leaves_a_compose_project_kafkarig_did_not_start(
    tmp_path: Path, docker: DockerClient
) -> None:
    with foreign_compose_project(tmp_path, "it-foreign"):
        result = kafkarig_cli("down", "--project", "it-foreign", cwd=tmp_path)
        assert result.returncode == 1
        assert "was not started by kafkarig" in result.stderr
        assert leftovers(docker, "it-foreign")["containers"] == ["it-foreign-sleeper-1"]
        assert "it-foreign" not in kafkarig_cli("ls", cwd=tmp_path).stdout


def test_down_all_removes_every_kafkarig_stack_even_stopped_and_leaves_the_rest(
    tmp_path: Path, docker: DockerClient, stacks: list[Stack]
) -> None:
    up_from_file(tmp_path, "it-every", stacks)
    docker.container.stop("kafka")  # what a reboot leaves: an exited container
    with foreign_compose_project(tmp_path, "it-foreign-all"):
        # --keep-data: a test must not delete the data of a stack somebody left down here.
        result = kafkarig_cli("down", "--all", "--keep-data", cwd=tmp_path)
        assert result.returncode == 0, result.stderr
        assert "stack it-every is down" in result.stdout
        assert leftovers(docker, "it-every") == {**NOTHING, "volumes": ["it-every_kafka-data"]}
        assert leftovers(docker, "it-foreign-all")["containers"] == ["it-foreign-all-sleeper-1"]


def test_a_failing_up_after_an_edit_tells_what_it_did(
    tmp_path: Path, docker: DockerClient, stacks: list[Stack]
) -> None:
    stack = make_stack("it-edit", topics=[{"name": "kept", "partitions": 1}])
    stacks.append(stack)
    lifecycle.up(stack, tmp_path)
    produce(stack.bootstrap_servers, "kept", b"still here")

    edited = restack(stack, [{"name": "kept"}], broker_config={"log.retention.hours": "forever"})
    with pytest.raises(StackError) as caught:
        lifecycle.up(edited, tmp_path)

    message = caught.value.render()
    assert "what this up did: recreated kafka (stack.toml changed since it started)" in message
    assert "removed container(s) kafka; network it-edit_it-edit" in message
    assert "kept the volume(s) it-edit_kafka-data" in message
    assert "left alone" not in message and "as it was" not in message
    assert leftovers(docker, "it-edit") == {
        "containers": [],
        "networks": [],
        "volumes": ["it-edit_kafka-data"],
    }
    # The data this up kept is there for the next good up.
    lifecycle.up(stack, tmp_path)
    assert consume_all(stack.bootstrap_servers, "kept") == [b"still here"]


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
    lifecycle.down(one)
    assert leftovers(docker, "it-shrink") == NOTHING


def test_a_host_address_that_is_not_on_this_machine_is_a_clear_error(
    tmp_path: Path, docker: DockerClient
) -> None:
    stack = make_stack("it-host", host="192.0.2.10")  # TEST-NET-1: never a local address
    with pytest.raises(StackError, match=r"cannot publish port \d+ on 192\.0\.2\.10") as caught:
        lifecycle.up(stack, tmp_path)
    assert caught.value.hint and "127.0.0.1" in caught.value.hint
    assert leftovers(docker, "it-host") == NOTHING


def test_up_applies_share_groups_and_puts_a_changed_group_config_back(
    tmp_path: Path, stacks: list[Stack], no_running_stack: None
) -> None:
    from confluent_kafka.admin import AlterConfigOpType, ConfigEntry, ConfigResource, ResourceType

    from infra.share_groups import DeclareShareGroup, KeepShareGroup, SetGroupConfigs

    stack = make_stack(
        f"it-share-{uuid.uuid4().hex[:6]}",
        topics=[{"name": "orders", "partitions": 1, "replication_factor": 1}],
    )
    stack = build_stack(
        {
            **stack.model_dump(exclude={"share_groups"}),
            "share_groups": {
                "groups": [
                    {"name": "order-workers", "topics": ["orders"], "delivery_count_limit": 3,
                     "dlq": True}
                ]
            },
        },
        env={},
    )  # fmt: skip
    assert [type(a) for a in lifecycle.plan(stack).of_kind("share group")] == [DeclareShareGroup]
    stacks.append(stack)
    report = lifecycle.up(stack, tmp_path)
    assert "dlq.orders" in [t.spec.name for t in report.topics]
    assert all(isinstance(a, KeepShareGroup) for a in lifecycle.plan(stack).of_kind("share group"))

    # Somebody changes the group's delivery limit: plan shows it, up sets it back.
    admin = admin_client(stack.bootstrap_servers)
    change = ConfigEntry(
        "share.delivery.count.limit", "7", incremental_operation=AlterConfigOpType.SET
    )
    resource = ConfigResource(ResourceType.GROUP, "order-workers", incremental_configs=[change])
    for future in admin.incremental_alter_configs([resource]).values():
        future.result(timeout=30)
    (update,) = [a for a in lifecycle.plan(stack).of_kind("share group") if a.verb == "update"]
    assert isinstance(update, SetGroupConfigs)
    assert update.describe() == "share.delivery.count.limit 7 -> 3"
    lifecycle.up(stack, tmp_path)
    assert all(isinstance(a, KeepShareGroup) for a in lifecycle.plan(stack).of_kind("share group"))
