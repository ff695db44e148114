"""Removing a stack by what Docker shows of it: its containers, network and volumes.

No compose file is needed, so a stack goes away also when its stack file changed project or
is gone. A container's anonymous volumes go with it unless data is kept.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from python_on_whales import DockerClient, Network, Volume
from python_on_whales.exceptions import DockerException

from infra.config.compose import COMPOSE_PROJECT_LABEL
from infra.docker import docker_failure
from infra.errors import StackError
from infra.state import StackState


@dataclass(frozen=True)
class DownReport:
    """What was removed, and the volumes kept."""

    projects: list[str] = field(default_factory=list)
    containers: list[str] = field(default_factory=list)
    networks: list[str] = field(default_factory=list)
    volumes: list[str] = field(default_factory=list)
    kept_volumes: list[str] = field(default_factory=list)

    def merged(self, other: DownReport) -> DownReport:
        """Both reports in one."""
        return DownReport(
            self.projects + other.projects,
            self.containers + other.containers,
            self.networks + other.networks,
            self.volumes + other.volumes,
            self.kept_volumes + other.kept_volumes,
        )

    def told(self) -> str:
        """``removed containers kafka, network p_p and volume p_kafka-data; kept ...``."""
        removed = [
            f"{what} {', '.join(names)}"
            for what, names in (
                ("container(s)", self.containers),
                ("network", self.networks),
                ("volume(s)", self.volumes),
            )
            if names
        ]
        text = "removed " + "; ".join(removed) if removed else "removed nothing"
        if self.kept_volumes:
            text += f"; kept the volume(s) {', '.join(self.kept_volumes)}"
        return text


def remove_stack(
    client: DockerClient,
    state: StackState,
    *,
    keep_volumes: set[str] | None = None,
    keep_data: bool = False,
) -> DownReport:
    """Remove the stack's containers and networks; its volumes unless ``keep_data``, except
    those in ``keep_volumes`` (the volumes that held data before a failed ``up``)."""
    containers = [service.container for service in state.services]
    kept = set(state.volumes) if keep_data else set(state.volumes) & (keep_volumes or set())
    volumes = [name for name in state.volumes if name not in kept]
    try:
        if containers:
            # Data that is about to be deleted needs no clean shutdown: stop at once then.
            client.container.stop(containers, time=10 if kept else 1)
            # -v removes anonymous volumes only; the named ones are handled below.
            client.container.remove(containers, force=True, volumes=not keep_data)
        if state.networks:
            client.network.remove(list[Network | str](state.networks))
        if volumes:
            client.volume.remove(list[Volume | str](volumes))
    except DockerException as error:
        raise StackError(
            f"removing stack {state.project} failed.\n{docker_failure(error)}",
            hint="`docker ps -a --filter label="
            f"{COMPOSE_PROJECT_LABEL}={state.project}` shows what is left.",
        ) from error
    return DownReport([state.project], containers, state.networks, volumes, sorted(kept))
