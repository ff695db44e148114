"""Stacks on the official images' layouts (stand-ins built from the local jars, see mimic.py).

They catch what the local image alone cannot: anonymous volumes from the VOLUMEs an image
declares, the seed's ``docker exec kafka kafka-topics`` on an image without the tool on
PATH, and tools inside a 3-broker container that reach only their own broker.
"""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from python_on_whales import DockerClient

from infra import layouts, lifecycle
from infra.config import Stack, build_stack
from infra.render import render_compose
from infra.state import observe
from tests.integration import mimic
from tests.integration.conftest import KAFKA_4_IMAGE
from tests.integration.test_stack_lifecycle import free_port_block

SEED_TOPIC = "user-events"


@pytest.fixture(scope="module")
def stand_ins(docker: DockerClient, local_images: list[str]) -> dict[str, str]:
    """The stand-in images, built now unless up to date: tag by what they imitate."""
    built = {}
    for image in (mimic.APACHE_KAFKA, mimic.CP_KAFKA_8, mimic.CP_KAFKA_7, mimic.CP_ZOOKEEPER_7):
        built[image.tag] = mimic.build_mimic(docker, image)
    return built


@pytest.fixture
def stacks(tmp_path: Path) -> Iterator[list[Stack]]:
    """Stacks a test brings up; each one is torn down afterwards whatever happened."""
    started: list[Stack] = []
    yield started
    for stack in started:
        lifecycle.down(stack)


def stack_on(image: mimic.Mimic, project: str, **cluster: Any) -> Stack:
    """A stack of the image's flavor that runs the stand-in (and the seed's topic)."""
    brokers = cluster.get("brokers", 1)
    settings: dict[str, Any] = {
        "flavor": image.flavor,
        "kafka_image": image.tag,
        "port": free_port_block(brokers),
        "heap": "384m",
    } | cluster
    if image.flavor == "confluent":
        settings["confluent_version"] = image.version
    return build_stack(
        {
            "stack": {"project": project},
            "cluster": settings,
            "topics": [{"name": SEED_TOPIC, "partitions": 3, "replication_factor": brokers}],
        },
        env={},
    )


def docker_exec(container: str, *command: str) -> subprocess.CompletedProcess[str]:
    """``docker exec CONTAINER COMMAND...`` exactly as a user types it."""
    return subprocess.run(
        ["docker", "exec", container, *command],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def all_volumes(docker: DockerClient) -> set[str]:
    """Every volume on the engine."""
    return {volume.name for volume in docker.volume.list()}


def anonymous_volumes(docker: DockerClient, container: str, project_volumes: set[str]) -> list[str]:
    """Volumes mounted in the container that are not the project's named volumes."""
    mounts = docker.container.inspect(container).mounts
    return [
        f"{mount.name} at {mount.destination}"
        for mount in mounts
        if mount.type == "volume" and mount.name not in project_volumes
    ]


@pytest.mark.parametrize(
    "image", [mimic.APACHE_KAFKA, mimic.CP_KAFKA_8], ids=["apache", "confluent"]
)
def test_the_stand_ins_declare_what_kafkarigs_layouts_say(
    docker: DockerClient, stand_ins: dict[str, str], image: mimic.Mimic
) -> None:
    config = docker.image.inspect(image.tag).config
    layout = layouts.kafka_layout(image.flavor)
    assert set(config.volumes or {}) == set(layout.declared_volumes)
    path = next(entry for entry in config.env or [] if entry.startswith("PATH="))
    assert path == f"PATH={layout.image_path}"
    assert config.user == "appuser"
    # The fault the tools directory fixes: the image's own PATH has no kafka-topics.
    if image.flavor == "apache":
        result = docker.run(
            image.tag, ["bash", "-c", "command -v kafka-topics || echo none"], remove=True
        )
        assert str(result).strip() == "none"


@pytest.mark.parametrize(
    "image", [mimic.APACHE_KAFKA, mimic.CP_KAFKA_8], ids=["apache", "confluent"]
)
def test_the_seed_command_runs_verbatim_and_no_volume_is_left_behind(
    docker: DockerClient,
    stand_ins: dict[str, str],
    stacks: list[Stack],
    tmp_path: Path,
    image: mimic.Mimic,
) -> None:
    stack = stack_on(image, f"it-layout-{image.flavor}")
    before = all_volumes(docker)
    stacks.append(stack)
    lifecycle.up(stack, tmp_path)
    project_volumes = set(observe(docker, stack.project).volumes)
    assert anonymous_volumes(docker, "kafka", project_volumes) == []
    port = stack.brokers[0].host_port
    for tool in ("kafka-topics", "kafka-topics.sh"):
        result = docker_exec("kafka", tool, "--list", "--bootstrap-server", f"localhost:{port}")
        assert result.returncode == 0, result.stderr
        assert SEED_TOPIC in result.stdout.split()
    lifecycle.down(stack, keep_data=True)
    lifecycle.up(stack, tmp_path)
    lifecycle.down(stack)
    assert all_volumes(docker) - before == set()


def test_inside_a_three_broker_container_the_tools_reach_every_broker(
    docker: DockerClient, stand_ins: dict[str, str], stacks: list[Stack], tmp_path: Path
) -> None:
    stack = stack_on(mimic.APACHE_KAFKA, "it-layout-three", brokers=3, heap="320m")
    stacks.append(stack)
    lifecycle.up(stack, tmp_path)
    port = stack.brokers[0].host_port
    result = docker_exec(
        "kafka-1", "kafka-topics", "--describe", "--topic", SEED_TOPIC,
        "--bootstrap-server", f"localhost:{port}",
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    # Without the internal listener the client warns that localhost:<port+1> is unreachable.
    assert "could not be established" not in result.stderr, result.stderr
    leaders = {
        line.split("Leader: ")[1].split()[0]
        for line in result.stdout.splitlines()
        if "Leader: " in line
    }
    assert leaders == {"1", "2", "3"}


def test_zookeeper_mode_on_the_confluent_layouts_leaves_no_volume_behind(
    docker: DockerClient, stand_ins: dict[str, str], stacks: list[Stack], tmp_path: Path
) -> None:
    stack = stack_on(
        mimic.CP_KAFKA_7,
        "it-layout-zk",
        mode="zookeeper",
        zookeeper_image=mimic.CP_ZOOKEEPER_7.tag,
    )
    before = all_volumes(docker)
    stacks.append(stack)
    lifecycle.up(stack, tmp_path)
    project_volumes = set(observe(docker, stack.project).volumes)
    for container in ("kafka", "zookeeper"):
        assert anonymous_volumes(docker, container, project_volumes) == []
    result = docker_exec(
        "kafka",
        "kafka-topics",
        "--list",
        "--bootstrap-server",
        f"localhost:{stack.brokers[0].host_port}",
    )
    assert SEED_TOPIC in result.stdout.split(), result.stderr
    lifecycle.down(stack)
    assert all_volumes(docker) - before == set()


def test_the_local_entrypoint_and_kafkas_own_docker_wrapper_write_the_same_properties(
    docker: DockerClient, local_images: list[str]
) -> None:
    stack = build_stack({"cluster": {"flavor": "local"}}, env={})
    environment = yaml.safe_load(render_compose(stack))["services"]["kafka"]["environment"]
    environment = {name: str(value) for name, value in environment.items() if name != "PATH"}
    environment["KAFKA_LOG_DIRS"] = "/tmp/wrapper-data"
    script = (
        "set -e; mkdir -p /tmp/defaults /tmp/mounted /tmp/final; "
        "touch /tmp/defaults/server.properties /tmp/defaults/log4j2.yaml "
        "/tmp/defaults/tools-log4j2.yaml; "
        "java -cp '/opt/kafka/libs/*' kafka.docker.KafkaDockerWrapper setup "
        "--default-configs-dir /tmp/defaults --mounted-configs-dir /tmp/mounted "
        "--final-configs-dir /tmp/final >/dev/null 2>&1; "
        "echo '--- wrapper'; cat /tmp/final/server.properties; "
        "echo '--- entrypoint'; kafka-entrypoint print-properties"
    )
    output = str(docker.run(KAFKA_4_IMAGE, ["bash", "-c", script], envs=environment, remove=True))
    wrapper, entrypoint = output.split("--- wrapper", 1)[1].split("--- entrypoint")
    assert property_lines(wrapper) == property_lines(entrypoint)
    assert "node.id=1" in property_lines(wrapper)


def property_lines(text: str) -> set[str]:
    """The ``key=value`` lines of a properties file, in no order."""
    return {line for line in text.splitlines() if "=" in line and not line.startswith("#")}
