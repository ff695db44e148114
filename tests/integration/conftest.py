"""Fixtures of the integration tests: a real Docker engine and the real local Kafka images."""

from __future__ import annotations

import socket
import uuid
from collections.abc import Callable, Iterator, Mapping

import pytest
from python_on_whales import Container, DockerClient

from infra import images
from infra.docker import require_docker

pytestmark = pytest.mark.integration

KAFKA_4_IMAGE = images.kafka_recipe(images.KAFKA_VERSION).tag
KAFKA_3_IMAGE = images.kafka_recipe(images.KAFKA_ZK_VERSION).tag
ZOOKEEPER_IMAGE = images.zookeeper_recipe().tag
TEST_CLUSTER_ID = "a2Fma2FyaWctdGVzdHMtMQ"


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Mark every test under tests/integration as ``integration``."""
    for item in items:
        if "tests/integration/" in str(item.fspath):
            item.add_marker(pytest.mark.integration)


@pytest.fixture(scope="session")
def docker() -> DockerClient:
    """A python-on-whales client whose daemon answers (fails clearly otherwise)."""
    return require_docker()


SEED_CONTAINER_NAMES = ("kafka", "zookeeper", "kafka-1", "kafka-2", "kafka-3")


@pytest.fixture(scope="session")
def no_running_stack(docker: DockerClient) -> None:
    """Stacks use the seed's fixed container names, so no other stack may be running."""
    taken = [name for name in SEED_CONTAINER_NAMES if docker.container.exists(name)]
    if taken:
        pytest.fail(
            f"containers {', '.join(taken)} exist; the integration tests start stacks with the "
            "same names. Stop yours first: `nox -s down`.",
            pytrace=False,
        )


@pytest.fixture(scope="session")
def local_images(docker: DockerClient, no_running_stack: None) -> list[str]:
    """The local Kafka and ZooKeeper images, built now unless already up to date."""
    return [result.tag for result in images.build_images()]


def free_port() -> int:
    """A TCP port nobody listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def kraft_env(node_id: int, host_port: int, voters: str, hostname: str) -> dict[str, str]:
    """The env of one combined KRaft node, written as a user of the official image would."""
    return {
        "KAFKA_NODE_ID": str(node_id),
        "KAFKA_PROCESS_ROLES": "broker,controller",
        "KAFKA_CONTROLLER_QUORUM_VOTERS": voters,
        "KAFKA_CONTROLLER_LISTENER_NAMES": "CONTROLLER",
        "KAFKA_LISTENERS": (
            f"INTERNAL://0.0.0.0:19092,HOST://0.0.0.0:{host_port},CONTROLLER://0.0.0.0:19093"
        ),
        "KAFKA_ADVERTISED_LISTENERS": f"INTERNAL://{hostname}:19092,HOST://localhost:{host_port}",
        "KAFKA_LISTENER_SECURITY_PROTOCOL_MAP": (
            "CONTROLLER:PLAINTEXT,INTERNAL:PLAINTEXT,HOST:PLAINTEXT"
        ),
        "KAFKA_INTER_BROKER_LISTENER_NAME": "INTERNAL",
        "KAFKA_OFFSETS_TOPIC_REPLICATION_FACTOR": "1",
        "KAFKA_GROUP_INITIAL_REBALANCE_DELAY_MS": "0",
        "KAFKA_HEAP_OPTS": "-Xmx384m -Xms384m",
        "CLUSTER_ID": TEST_CLUSTER_ID,
    }


RunContainer = Callable[..., Container]


@pytest.fixture
def run_container(docker: DockerClient, local_images: list[str]) -> Iterator[RunContainer]:
    """Start detached containers; every one started is removed (with its volumes) afterwards."""
    started: list[Container] = []
    networks: list[str] = []
    named_volumes: list[str] = []

    def run(
        image: str,
        env: Mapping[str, str],
        *,
        name: str,
        ports: Mapping[int, int] | None = None,
        network: str | None = None,
        volumes: list[tuple[str, str]] | None = None,
        command: list[str] | None = None,
    ) -> Container:
        if network and network not in networks and not docker.network.exists(network):
            docker.network.create(network)
            networks.append(network)
        container = docker.run(
            image,
            command or [],
            detach=True,
            name=name,
            hostname=name,
            envs=dict(env),
            publish=[(f"127.0.0.1:{host}", inner) for host, inner in (ports or {}).items()],
            networks=[network] if network else [],
            volumes=volumes or [],
        )
        assert isinstance(container, Container)
        named_volumes.extend(source for source, _ in volumes or [] if not source.startswith("/"))
        started.append(container)
        return container

    yield run
    for container in started:
        container.remove(force=True, volumes=True)
    for volume in named_volumes:
        docker.volume.remove(volume)
    for network in networks:
        docker.network.remove(network)


@pytest.fixture
def unique_name() -> str:
    """A short unique suffix for container, network and topic names."""
    return uuid.uuid4().hex[:8]
