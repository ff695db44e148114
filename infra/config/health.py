"""Healthchecks: the readiness probe of each service, per image flavor.

The official images have no healthcheck of their own, so kafkarig gives each service a
client-side probe: the same native one on every flavor (bash alone, no JVM: a Kafka
ApiVersions request, ZooKeeper's ``srvr``), from the tools directory kafkarig mounts (see
:mod:`infra.layouts`). It is cheap enough to run every 2 s on an idle stack.
"""

from __future__ import annotations

from dataclasses import dataclass

from infra import layouts
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


def _native_probe(*test: str) -> Healthcheck:
    """A native probe (bash, no JVM; see infra.layouts): cheap enough to run every 2 s."""
    return Healthcheck(test, interval_s=2, timeout_s=5, retries=60)


def broker_healthcheck() -> Healthcheck:
    """The broker's readiness probe: kafkarig's native probe, the same on every flavor."""
    return _native_probe(*layouts.probe_command("kafka", f"127.0.0.1:{INTERNAL_PORT}"))


def zookeeper_healthcheck() -> Healthcheck:
    """ZooKeeper's readiness probe: the native probe, the same on every flavor."""
    return _native_probe(*layouts.probe_command("zookeeper", f"127.0.0.1:{ZOOKEEPER_CLIENT_PORT}"))
