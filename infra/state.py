"""A stack as Docker shows it: found by labels, never by a file kafkarig wrote.

Compose labels every container, network and volume with its project; kafkarig adds its own
labels to containers and networks (project, stack file, the config hash of each service).
So ``up`` can tell whether what runs is what the stack file declares, ``down`` finds a stack
after its project was renamed or its stack file deleted, and ``ls`` lists every kafkarig
stack on the engine. Volumes carry compose's labels only (see the compose template); a
project of volumes alone is kafkarig's when their names are the ones kafkarig gives.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Literal

from python_on_whales import Container, DockerClient

from infra.config import COMPOSE_FILE_NAME, STATE_DIR_NAME
from infra.config.compose import (
    COMPOSE_FILES_LABEL,
    COMPOSE_PROJECT_LABEL,
    COMPOSE_SERVICE_LABEL,
    CONFIG_HASH_LABEL,
    PROJECT_LABEL,
    STACK_FILE_LABEL,
)

LabelFilter = list[tuple[Literal["label"], str]]

# Volume names (without the project prefix) that kafkarig's template gives.
_KAFKARIG_VOLUME = re.compile(r"(kafka(-[1-9])?|zookeeper)-[a-z0-9-]+")


@dataclass(frozen=True)
class ServiceState:
    """One container of the stack as Docker sees it."""

    service: str
    container: str
    status: str  # running, exited, created, ...
    health: str | None  # healthy, unhealthy, starting, or None without a healthcheck
    exit_code: int | None
    container_id: str = ""
    image_id: str = ""
    config_hash: str | None = None
    """kafkarig's hash of the service it was started from; None for a container without it."""
    started_at: str = ""

    @property
    def ok(self) -> bool:
        """Running, and healthy where there is a healthcheck."""
        return self.status == "running" and self.health in (None, "healthy")

    @property
    def condition(self) -> str:
        """``running (healthy)``, ``exited with code 1``, ``created``."""
        if self.status == "exited":
            return f"exited with code {self.exit_code}"
        return self.status + (f" ({self.health})" if self.health else "")


@dataclass(frozen=True)
class StackState:
    """Everything of one compose project on the engine."""

    project: str
    services: list[ServiceState] = field(default_factory=list)
    networks: list[str] = field(default_factory=list)
    volumes: list[str] = field(default_factory=list)
    stack_file: str | None = None
    """The stack file its containers or network were started from, when they say."""
    marked: bool = False
    """Whether containers or networks carry kafkarig's labels (or a kafkarig compose file)."""

    @property
    def exists(self) -> bool:
        """Whether anything of the project is on the engine."""
        return bool(self.services or self.networks or self.volumes)

    @property
    def is_kafkarig(self) -> bool:
        """Whether kafkarig started it: its labels, or only volumes with kafkarig's names."""
        if self.marked:
            return True
        prefix = f"{self.project}_"
        return (
            not self.services
            and not self.networks
            and bool(self.volumes)
            and all(
                v.startswith(prefix) and _KAFKARIG_VOLUME.fullmatch(v.removeprefix(prefix))
                for v in self.volumes
            )
        )

    @property
    def summary(self) -> str:
        """``up (3/3 healthy)``, ``NOT HEALTHY (1/3 healthy)``, ``stopped``, ``down, data kept``."""
        if not self.services:
            return "down, data kept" if self.volumes else "down"
        healthy = sum(1 for s in self.services if s.ok)
        running = sum(1 for s in self.services if s.status == "running")
        if healthy == len(self.services):
            return f"up ({healthy}/{len(self.services)} healthy)"
        if running == 0:
            return "stopped"
        return f"NOT HEALTHY ({healthy}/{len(self.services)} healthy)"

    def by_service(self) -> dict[str, ServiceState]:
        """The containers by compose service."""
        return {state.service: state for state in self.services}


def _service_state(container: Container) -> ServiceState:
    labels = container.config.labels or {}
    state = container.state
    health = state.health.status if state.health is not None else None
    return ServiceState(
        service=labels.get(COMPOSE_SERVICE_LABEL, container.name),
        container=container.name,
        status=str(state.status),
        health=str(health) if health is not None else None,
        exit_code=state.exit_code,
        container_id=container.id,
        image_id=str(container.image),
        config_hash=labels.get(CONFIG_HASH_LABEL),
        started_at=str(state.started_at or ""),
    )


def _is_marked(project: str, labels: dict[str, str]) -> bool:
    legacy = f"/{STATE_DIR_NAME}/{project}/{COMPOSE_FILE_NAME}"
    return PROJECT_LABEL in labels or labels.get(COMPOSE_FILES_LABEL, "").endswith(legacy)


def observe(client: DockerClient, project: str) -> StackState:
    """Every container, network and volume Docker labels with the compose project."""
    label: LabelFilter = [("label", f"{COMPOSE_PROJECT_LABEL}={project}")]
    containers = list(client.container.list(all=True, filters=label))
    networks = list(client.network.list(filters=label))
    volumes = list(client.volume.list(filters=label))
    labelled = [c.config.labels or {} for c in containers] + [n.labels or {} for n in networks]
    stack_file = next((ls[STACK_FILE_LABEL] for ls in labelled if STACK_FILE_LABEL in ls), None)
    return StackState(
        project=project,
        services=sorted((_service_state(c) for c in containers), key=lambda s: s.service),
        networks=sorted(n.name for n in networks),
        volumes=sorted(v.name for v in volumes),
        stack_file=stack_file,
        marked=any(_is_marked(project, labels) for labels in labelled),
    )


def compose_projects(client: DockerClient) -> set[str]:
    """Every compose project that has a container, network or volume on the engine."""
    label: LabelFilter = [("label", COMPOSE_PROJECT_LABEL)]
    found: Iterable[dict[str, str]] = [
        *(c.config.labels or {} for c in client.container.list(all=True, filters=label)),
        *(n.labels or {} for n in client.network.list(filters=label)),
        *(v.labels or {} for v in client.volume.list(filters=label)),
    ]
    return {labels[COMPOSE_PROJECT_LABEL] for labels in found if COMPOSE_PROJECT_LABEL in labels}


def kafkarig_stacks(client: DockerClient) -> list[StackState]:
    """Every kafkarig stack on the engine, by project."""
    states = (observe(client, project) for project in sorted(compose_projects(client)))
    return [state for state in states if state.is_kafkarig]


def stacks_started_from(client: DockerClient, stack_file: str) -> list[StackState]:
    """The kafkarig stacks whose containers or network say they came from ``stack_file``."""
    label: LabelFilter = [("label", f"{STACK_FILE_LABEL}={stack_file}")]
    projects = {
        (c.config.labels or {}).get(COMPOSE_PROJECT_LABEL, "")
        for c in client.container.list(all=True, filters=label)
    } | {
        (n.labels or {}).get(COMPOSE_PROJECT_LABEL, "") for n in client.network.list(filters=label)
    }
    return [observe(client, project) for project in sorted(projects - {""})]
