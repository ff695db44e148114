"""Healthchecks: the readiness probe of each service, per image flavor.

The official images have no healthcheck of their own, so kafkarig gives each service a
client-side probe. The local images carry a native probe (``kafka-healthcheck``); the
official ones are asked with their own JVM tool.
"""

from __future__ import annotations

from dataclasses import dataclass

from infra.config.compose import INTERNAL_PORT, ZOOKEEPER_CLIENT_PORT


@dataclass(frozen=True)
class Healthcheck:
    """A compose healthcheck: the probe command and its timing."""

    test: tuple[str, ...]
    interval_s: int
    timeout_s: int
    retries: int

    @property
    def budget_s(self) -> int:
        """How long Docker keeps probing before it declares the container unhealthy."""
        return self.interval_s * self.retries


def _local_probe(*test: str) -> Healthcheck:
    """A probe baked into the local images: native code, cheap enough to run every 2 s."""
    return Healthcheck(test, interval_s=2, timeout_s=5, retries=60)


def _jvm_probe(command: str) -> Healthcheck:
    """A probe that starts a JVM tool: every 5 s, with room for the JVM to start."""
    return Healthcheck(("CMD-SHELL", command), interval_s=5, timeout_s=10, retries=36)


def broker_healthcheck(flavor: str) -> Healthcheck:
    """The broker's client-side readiness probe for an image flavor."""
    target = f"localhost:{INTERNAL_PORT}"
    if flavor == "local":
        return _local_probe("CMD", "kafka-healthcheck", target)
    tool = (
        "kafka-broker-api-versions"
        if flavor == "confluent"
        else "/opt/kafka/bin/kafka-broker-api-versions.sh"
    )
    # The probe inherits the broker's KAFKA_HEAP_OPTS; a small heap keeps it cheap.
    command = f"KAFKA_HEAP_OPTS=-Xmx64m {tool} --bootstrap-server {target} >/dev/null 2>&1"
    return _jvm_probe(command)


def zookeeper_healthcheck(flavor: str) -> Healthcheck:
    """ZooKeeper's readiness probe for an image flavor."""
    if flavor == "local":
        return _local_probe("CMD", "zookeeper-healthcheck")
    command = f"KAFKA_HEAP_OPTS=-Xmx64m cub zk-ready localhost:{ZOOKEEPER_CLIENT_PORT} 5"
    return _jvm_probe(command)
