"""The container part of a plan: what ``up`` would do to each service, from what Docker runs.

A container is as declared when its config-hash label equals the hash of its service as the
stack file renders now and it runs the image its tag names now. Compose recreates the others
(it compares its own hashes the same way); ``up`` leaves a stack alone, without calling
compose at all, when every container is as declared and healthy.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import ClassVar

from infra.plan import Action, Plan, Verb
from infra.state import ServiceState, StackState


class ContainerAction(Action):
    """An action on one service's container."""

    kind: ClassVar[str] = "container"


@dataclass(frozen=True)
class CreateContainer(ContainerAction):
    """A declared service without a container."""

    service: str
    verb: ClassVar[Verb] = "create"

    @property
    def name(self) -> str:
        return self.service

    def describe(self) -> str:
        return "not there yet"


@dataclass(frozen=True)
class RecreateContainer(ContainerAction):
    """A container started from another declaration or image than the stack's now."""

    service: str
    reason: str
    verb: ClassVar[Verb] = "update"

    @property
    def name(self) -> str:
        return self.service

    def describe(self) -> str:
        return f"recreate: {self.reason}"


@dataclass(frozen=True)
class StartContainer(ContainerAction):
    """A container as declared that does not run."""

    state: ServiceState
    verb: ClassVar[Verb] = "update"

    @property
    def name(self) -> str:
        return self.state.service

    def describe(self) -> str:
        return f"start: it is {self.state.condition}"


@dataclass(frozen=True)
class RemoveContainer(ContainerAction):
    """A container of the project whose service the stack no longer declares."""

    state: ServiceState
    verb: ClassVar[Verb] = "remove"

    @property
    def name(self) -> str:
        return self.state.service

    def describe(self) -> str:
        return "stack.toml no longer declares it"


@dataclass(frozen=True)
class KeepContainer(ContainerAction):
    """A running container as declared."""

    state: ServiceState
    verb: ClassVar[Verb] = "keep"

    @property
    def name(self) -> str:
        return self.state.service

    def describe(self) -> str:
        return f"{self.state.condition}, as declared"


def plan_containers(
    services: list[str],
    state: StackState,
    hashes: Mapping[str, str],
    image_ids: Mapping[str, str | None],
) -> Plan:
    """What ``up`` would do to each container, given the declared ``services``, their
    rendered ``hashes`` and the current id of each service's image (None: not present)."""
    running = state.by_service()
    actions: list[Action] = []
    for service in services:
        current = running.get(service)
        if current is None:
            actions.append(CreateContainer(service))
        elif current.config_hash != hashes.get(service):
            reason = (
                "it was started by a kafkarig without config hashes"
                if current.config_hash is None
                else "stack.toml changed since it started"
            )
            actions.append(RecreateContainer(service, reason))
        elif image_ids.get(service) not in (None, current.image_id):
            actions.append(RecreateContainer(service, "its image was rebuilt since it started"))
        elif current.status != "running":
            actions.append(StartContainer(current))
        else:
            actions.append(KeepContainer(current))
    actions.extend(
        RemoveContainer(current) for name, current in running.items() if name not in services
    )
    return Plan(tuple(actions))


def is_up_as_declared(plan: Plan) -> bool:
    """Whether every container is kept as it is and healthy (then ``up`` starts nothing)."""
    containers = plan.of_kind(ContainerAction.kind)
    return bool(containers) and all(
        isinstance(action, KeepContainer) and action.state.ok for action in containers
    )


def what_changed(before: StackState, after: StackState) -> list[str]:
    """What happened to the containers between two observations, one phrase each. (``up``
    recreates a container of the same declaration and image only when the certificates of
    a secure stack were made again.)"""
    old, new = before.by_service(), after.by_service()
    phrases = []
    for service in sorted(set(old) | set(new)):
        was, now = old.get(service), new.get(service)
        if was is None and now is not None:
            phrases.append(f"created {now.container}")
        elif was is not None and now is None:
            phrases.append(f"removed {was.container}")
        elif was is not None and now is not None:
            if was.container_id != now.container_id:
                reason = (
                    "stack.toml changed since it started"
                    if was.config_hash != now.config_hash
                    else "its image changed"
                    if was.image_id != now.image_id
                    else "its certificates were made again"
                )
                phrases.append(f"recreated {now.container} ({reason})")
            elif was.started_at != now.started_at:
                phrases.append(f"started {now.container}")
    return phrases
