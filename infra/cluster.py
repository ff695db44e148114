"""A running kafkarig stack seen as a Kafka cluster: its broker containers and their roles.

:func:`stack_containers` is the one place that finds a stack's containers by their labels
(compose's project label, and the service label to tell services apart); nothing here ever
looks at a container without them, so a cluster kafkarig did not start is never touched.
:class:`StackCluster` maps Kafka node ids to those containers and finds them by role: the
leader of a partition, the active KRaft controller, the coordinator of a group, any broker.
It also waits until the cluster is whole again after a fault.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from confluent_kafka import KafkaException
from confluent_kafka.admin import AdminClient
from python_on_whales import Container, DockerClient
from python_on_whales.exceptions import DockerException

from infra.config.compose import COMPOSE_PROJECT_LABEL, COMPOSE_SERVICE_LABEL, PROJECT_LABEL
from infra.console import step
from infra.docker import docker_client, docker_failure
from infra.errors import StackError
from infra.readiness import WaitFor

SERVICE_LABEL = COMPOSE_SERVICE_LABEL
_NODE_ID_VARIABLES = ("KAFKA_NODE_ID", "KAFKA_BROKER_ID")
_QUORUM_LEADER = re.compile(r"^LeaderId:\s*(-?\d+)\s*$", re.MULTILINE)
_LOG = logging.getLogger("kafkarig.cluster.librdkafka")


def stack_containers(client: DockerClient, project: str) -> list[Container]:
    """Every container (running or not) of the kafkarig stack ``project``, by label.

    The only lookup of a stack's containers that faults use: a container without the
    project's compose label and kafkarig's own project label is never returned, so faults
    cannot reach another compose project that happens to share the name.
    """
    found = client.container.list(
        all=True,
        filters=[
            ("label", f"{COMPOSE_PROJECT_LABEL}={project}"),
            ("label", f"{PROJECT_LABEL}={project}"),
        ],
    )
    return sorted(
        (c for c in found if SERVICE_LABEL in (c.config.labels or {})), key=lambda c: c.name
    )


def node_id_of(environment: Sequence[str]) -> int | None:
    """The Kafka node id a container's environment (``NAME=value`` strings) sets, if any."""
    values = dict(item.partition("=")[::2] for item in environment)
    for variable in _NODE_ID_VARIABLES:
        value = values.get(variable, "")
        if value.isdigit():
            return int(value)
    return None


def quorum_leader(describe_status: str) -> int:
    """The ``LeaderId`` of ``kafka-metadata-quorum describe --status`` output."""
    match = _QUORUM_LEADER.search(describe_status)
    if match is None or int(match.group(1)) < 0:
        raise StackError(
            "the metadata quorum has no leader; `kafka-metadata-quorum describe --status` "
            "printed:\n  " + describe_status.strip().replace("\n", "\n  ")
        )
    return int(match.group(1))


@dataclass(frozen=True)
class BrokerContainer:
    """One broker of the stack: its Kafka node id and its container."""

    node_id: int
    service: str
    container: str

    def __str__(self) -> str:
        return f"{self.container} (node {self.node_id})"


class StackCluster:
    """The brokers of the kafkarig stack ``project``, reachable at ``bootstrap_servers``."""

    def __init__(
        self, project: str, bootstrap_servers: str, *, client: DockerClient | None = None
    ) -> None:
        self.project = project
        self.bootstrap_servers = bootstrap_servers
        self.client = client or docker_client()
        self.brokers = self._find_brokers()
        self.admin = AdminClient(
            {"bootstrap.servers": bootstrap_servers, "socket.connection.setup.timeout.ms": 3000},
            logger=_LOG,
        )

    def _find_brokers(self) -> list[BrokerContainer]:
        brokers = []
        for container in stack_containers(self.client, self.project):
            node_id = node_id_of(container.config.env or [])
            if node_id is not None:
                service = (container.config.labels or {})[SERVICE_LABEL]
                brokers.append(BrokerContainer(node_id, service, container.name))
        if not brokers:
            raise StackError(
                f"no broker container of the kafkarig stack {self.project} was found.",
                hint="start it first (`nox -s up -- --stack FILE`); faults only act on the "
                "containers of a stack kafkarig started.",
            )
        return sorted(brokers, key=lambda b: b.node_id)

    def container(self, broker: BrokerContainer) -> Container:
        """The broker's container, inspected now."""
        return self.client.container.inspect(broker.container)

    def broker(self, node_id: int) -> BrokerContainer:
        """The broker with Kafka node id ``node_id``."""
        for broker in self.brokers:
            if broker.node_id == node_id:
                return broker
        raise StackError(
            f"node {node_id} is not a broker of the stack {self.project} "
            f"(its brokers: {', '.join(str(b) for b in self.brokers)})."
        )

    def network(self) -> str:
        """The name of the stack's compose network (found by label)."""
        networks = self.client.network.list(filters=[("label", f"{PROJECT_LABEL}={self.project}")])
        if len(networks) != 1:
            raise StackError(
                f"expected one network of the stack {self.project}, found "
                f"{[n.name for n in networks]}."
            )
        return str(networks[0].name)

    # -- roles -----------------------------------------------------------------------------

    def leader_of(self, topic: str, partition: int = 0) -> BrokerContainer:
        """The broker leading ``topic``'s partition now (waits up to 60 s for a leader)."""

        def leader() -> int:
            metadata = self.admin.list_topics(topic, timeout=5)
            return int(metadata.topics[topic].partitions[partition].leader)

        node_id = WaitFor(
            expected=f"a leader for {topic}[{partition}]",
            probe=leader,
            accept=lambda node: node >= 0,
            timeout_s=60,
        ).wait()
        return self.broker(node_id)

    def active_controller(self) -> BrokerContainer:
        """The active KRaft controller: the metadata quorum's leader.

        Asked with ``kafka-metadata-quorum`` inside a running broker, because in KRaft mode
        the controller id a client's metadata or ``describe_cluster`` reports is an arbitrary
        broker, not the controller.
        """
        errors = []
        for broker in self.brokers:
            if not self.container(broker).state.running:
                continue
            command = ["kafka-metadata-quorum", "--bootstrap-server", "localhost:19092"]
            try:
                output = self.client.container.execute(
                    broker.container, [*command, "describe", "--status"]
                )
            except DockerException as error:
                errors.append(docker_failure(error))
                continue
            return self.broker(quorum_leader(str(output)))
        raise StackError(
            f"no broker of {self.project} could describe the metadata quorum:\n" + "\n".join(errors)
        )

    def coordinator_of(self, group: str) -> BrokerContainer:
        """The broker coordinating consumer group ``group`` (the group must exist)."""
        future = self.admin.describe_consumer_groups([group], request_timeout=10)[group]
        try:
            description = future.result(timeout=15)
        except KafkaException as error:
            raise StackError(f"cannot describe consumer group {group}: {error}") from error
        return self.broker(int(description.coordinator.id))

    def any_broker(self, *, other_than: Sequence[BrokerContainer] = ()) -> BrokerContainer:
        """The broker with the highest node id that is not in ``other_than``."""
        for broker in reversed(self.brokers):
            if broker not in other_than:
                return broker
        raise StackError(f"the stack {self.project} has no broker left to choose")

    # -- health ----------------------------------------------------------------------------

    def under_replicated(self, topics: Sequence[str] | None = None) -> list[str]:
        """Partitions whose in-sync replicas are fewer than their replicas, as ``topic[p]``."""
        metadata = self.admin.list_topics(timeout=5)
        names = topics if topics is not None else sorted(metadata.topics)
        lagging = []
        for name in names:
            for partition in metadata.topics[name].partitions.values():
                if partition.leader < 0 or len(partition.isrs) < len(partition.replicas):
                    lagging.append(f"{name}[{partition.id}]")
        return lagging

    def wait_healthy(self, broker: BrokerContainer, *, timeout_s: float = 180.0) -> None:
        """Wait until the broker's container is running and its healthcheck passes."""

        def health() -> str:
            state = self.container(broker).state
            if not state.running or state.paused:
                return str(state.status)
            return str(state.health.status) if state.health is not None else "healthy"

        step(f"waiting up to {timeout_s:.0f}s for {broker} to be healthy")
        WaitFor(
            expected=f"{broker} running and healthy",
            probe=health,
            accept=lambda status: status == "healthy",
            timeout_s=timeout_s,
            poll_interval_s=1.0,
            hint=f"`docker logs {broker.container}` shows why it does not come up",
        ).wait()

    def wait_whole(
        self,
        *,
        topics: Sequence[str] | None = None,
        timeout_s: float = 180.0,
        on_wait: Callable[[float, str], None] | None = None,
    ) -> None:
        """Wait until every broker container is running and healthy, every broker answers,
        and no partition (of ``topics``, default all) is under-replicated."""

        def containers_ok() -> list[str]:
            problems = []
            for broker in self.brokers:
                state = self.container(broker).state
                health = state.health.status if state.health is not None else "healthy"
                if not state.running or state.paused or health != "healthy":
                    problems.append(f"{broker.container} {state.status}/{health}")
            return problems

        def whole() -> list[str]:
            problems = containers_ok()
            if problems:
                return problems
            answering = self.admin.describe_cluster(request_timeout=5).result(timeout=6)
            if len(answering.nodes) < len(self.brokers):
                return [f"{len(answering.nodes)} of {len(self.brokers)} brokers answer"]
            return [f"under-replicated {p}" for p in self.under_replicated(topics)]

        step(f"waiting up to {timeout_s:.0f}s for the {len(self.brokers)} brokers to be whole")
        WaitFor(
            expected=f"every broker of {self.project} healthy and every partition fully in sync",
            probe=whole,
            accept=lambda problems: not problems,
            timeout_s=timeout_s,
            poll_interval_s=1.0,
            hint="`docker logs <container>` shows why a broker does not come back",
            on_wait=on_wait
            or (lambda elapsed, seen: step(f"  still waiting ({elapsed:.0f}s): {seen}")),
        ).wait()
