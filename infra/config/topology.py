"""The topology derived from ``[cluster]``: images, brokers, listeners, services, volumes.

Pure functions of the validated sections; :class:`~infra.config.stack.Stack` exposes them
as properties, so the compose template and the lifecycle never recompute them.
"""

from __future__ import annotations

import base64
import hashlib
from dataclasses import dataclass

from infra import versions
from infra.config.cluster import ClusterConfig
from infra.config.compose import (
    CONTROLLER_PORT,
    INTERNAL_PORT,
    ZOOKEEPER_CLIENT_PORT,
    ZOOKEEPER_SERVICE,
)


@dataclass(frozen=True)
class Broker:
    """One broker service of the rendered compose file."""

    service: str
    """Compose service, container and host name: ``kafka`` alone, else ``kafka-1``.."""
    node_id: int
    """KRaft node id / ZooKeeper-mode broker id, 1..N."""
    host_port: int
    """Port published on the host (and used inside the container) for the HOST listener."""
    host: str
    """Host interface the port is published on."""
    advertised_host: str
    """Host name clients outside the compose network use."""

    @property
    def internal_address(self) -> str:
        """``<service>:19092``: the broker's address on the compose network."""
        return f"{self.service}:{INTERNAL_PORT}"

    @property
    def advertised_address(self) -> str:
        """``<advertised_host>:<host_port>``: the broker's address for host clients."""
        return f"{self.advertised_host}:{self.host_port}"

    @property
    def controller_address(self) -> str:
        """``<service>:19093``: the broker's KRaft controller listener."""
        return f"{self.service}:{CONTROLLER_PORT}"

    @property
    def port_mapping(self) -> str:
        """Compose short-syntax port: ``<host>:<host_port>:<host_port>`` (IPv6 bracketed)."""
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{host}:{self.host_port}:{self.host_port}"

    @property
    def volume(self) -> str:
        """Named volume holding the broker's log dir."""
        return f"{self.service}-data"


def cluster_id_for(project: str) -> str:
    """A deterministic KRaft cluster id for a project.

    Base64url without padding of the first 16 bytes of ``sha256(project)``: 22 characters,
    the format ``kafka-storage random-uuid`` prints. Stable, so rendered files (and golden
    tests) are stable. Like Kafka's own ``Uuid.randomUuid``, an id starting with ``-`` is
    avoided (it would read as an option on a command line): the digest is hashed again.
    """
    seed = project.encode("utf-8")
    while True:
        digest = hashlib.sha256(seed).digest()[:16]
        cluster_id = base64.urlsafe_b64encode(digest).decode("ascii").rstrip("=")
        if not cluster_id.startswith("-"):
            return cluster_id
        seed = digest


def kafka_image(cluster: ClusterConfig) -> str:
    """The broker image: the explicit ``kafka_image`` or the flavor's pinned image."""
    if cluster.kafka_image is not None:
        return cluster.kafka_image
    if cluster.flavor == "confluent":
        return f"confluentinc/cp-kafka:{cluster.confluent_version}"
    if cluster.flavor == "local":
        return f"kafkarig/kafka:{cluster.kafka_version}"
    return f"apache/kafka:{cluster.kafka_version}"


def zookeeper_image(cluster: ClusterConfig) -> str | None:
    """The ZooKeeper image in zookeeper mode, None in KRaft mode."""
    if cluster.mode == "kraft":
        return None
    if cluster.zookeeper_image is not None:
        return cluster.zookeeper_image
    if cluster.flavor == "local":
        return f"kafkarig/zookeeper:{versions.ZOOKEEPER_VERSION}"
    return f"confluentinc/cp-zookeeper:{cluster.confluent_version}"


def brokers(cluster: ClusterConfig) -> list[Broker]:
    """The broker services, by node id: ``kafka`` alone, else ``kafka-1``.. on ports port+i."""
    count = cluster.brokers
    return [
        Broker(
            service="kafka" if count == 1 else f"kafka-{node_id}",
            node_id=node_id,
            host_port=cluster.port + node_id - 1,
            host=cluster.host,
            advertised_host=cluster.advertised_host,
        )
        for node_id in range(1, count + 1)
    ]


def services(cluster: ClusterConfig) -> list[str]:
    """Every compose service name, sorted."""
    names = [broker.service for broker in brokers(cluster)]
    if cluster.mode == "zookeeper":
        names.append(ZOOKEEPER_SERVICE)
    return sorted(names)


def volumes(cluster: ClusterConfig) -> list[str]:
    """Every named volume (without the compose project prefix), sorted."""
    names = [broker.volume for broker in brokers(cluster)]
    if cluster.mode == "zookeeper":
        names += [f"{ZOOKEEPER_SERVICE}-data", f"{ZOOKEEPER_SERVICE}-log"]
    return sorted(names)


def quorum_voters(cluster: ClusterConfig) -> str | None:
    """KRaft ``controller.quorum.voters`` (``1@kafka:19093``), None in zookeeper mode."""
    if cluster.mode != "kraft":
        return None
    return ",".join(f"{b.node_id}@{b.controller_address}" for b in brokers(cluster))


def zookeeper_connect(cluster: ClusterConfig) -> str | None:
    """``zookeeper:2181`` in zookeeper mode, None in KRaft mode."""
    if cluster.mode != "zookeeper":
        return None
    return f"{ZOOKEEPER_SERVICE}:{ZOOKEEPER_CLIENT_PORT}"
