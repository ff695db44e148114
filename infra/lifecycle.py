"""The stack's lifecycle through python-on-whales: up, down, status, plan, ls.

Every decision comes from what Docker runs (see :mod:`infra.state`): ``up`` starts nothing
when every container is as declared and healthy; ``down`` finds a stack by its labels, also
after its project was renamed or its stack file deleted. ``up`` runs in named steps; the
steps that start containers run inside :func:`_torn_down_on_failure`, which on any failure
tells what this ``up`` did to the containers, removes what it started, and keeps the data
volumes that existed before. A topic failure leaves the running stack as it is.
"""

from __future__ import annotations

import collections
import sys
import time
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from python_on_whales import DockerClient
from python_on_whales.exceptions import DockerException

from infra import secrets
from infra.config import Stack
from infra.console import step
from infra.container_plan import is_up_as_declared, plan_containers, what_changed
from infra.credentials import admin_client_config
from infra.declared import Applied, apply_declared, plan_declared, plan_declared_offline
from infra.docker import docker_client, docker_failure, require_docker
from infra.errors import KafkarigError, StackError
from infra.plan import Plan
from infra.prechecks import check_container_names, check_ports, ensure_images
from infra.progress import ProgressLine
from infra.readiness import WaitFor, wait_for_brokers
from infra.removal import DownReport, remove_stack
from infra.render import service_hashes, write_compose
from infra.state import ServiceState, StackState, kafkarig_stacks, observe, stacks_started_from
from infra.tls import TlsFiles
from infra.topics import TopicReport, TopicState, admin_client, describe_topics

LOG_TAIL_LINES = 30
HOST_CHECK_TIMEOUT_S = 60

__all__ = [
    "DownReport",
    "ServiceState",
    "StackState",
    "StatusReport",
    "UpReport",
    "container_plan",
    "down",
    "down_project",
    "list_stacks",
    "plan",
    "status",
    "up",
]


@dataclass
class UpReport:
    """What ``up`` found and did."""

    project: str
    compose_file: Path
    services: list[ServiceState]
    bootstrap_servers: str
    topics: list[TopicReport]
    elapsed_s: float
    containers: list[str] = field(default_factory=list)
    """What this ``up`` did to the containers (``created kafka``); empty when it left them."""
    plan: Plan = field(default_factory=Plan)


@dataclass
class StatusReport:
    """The stack as it is now."""

    project: str
    state: StackState
    plan: Plan
    """What ``up`` would do to the containers (and, when the cluster answers, its topics)."""
    bootstrap_servers: str
    topics: dict[str, TopicState] = field(default_factory=dict)
    topics_error: str | None = None

    @property
    def services(self) -> list[ServiceState]:
        """The stack's containers."""
        return self.state.services


# --------------------------------------------------------------------------- up


def up(
    stack: Stack, root: Path, *, timeout_s: float | None = None, verbose: bool = False
) -> UpReport:
    """Start the stack, wait for health, then make its topics as declared.

    A stack whose containers are all as declared and healthy is left as it is (nothing is
    started, compose is not called). Any failure before the topics tears down what this
    call started; a topic failure raises :class:`~infra.errors.TopicError` and leaves the
    stack running.
    """
    started = time.monotonic()
    client = require_docker()
    ensure_images(client, stack)
    before = observe(client, stack.project)
    _check_ours(before)
    tls = secrets.prepare(stack, root)  # a secure stack's certificates and admin password
    renewed = secrets.renewed(tls, before)
    containers = container_plan(client, stack, before)
    compose_file = write_compose(stack, root)
    changed: list[str] = []
    if is_up_as_declared(containers) and not renewed:
        step(f"stack {stack.project}: every container is up as declared; starting nothing")
        secrets.refresh(client, stack, root, tls)
        _check_from_host(client, stack, root)
    else:
        check_container_names(client, stack)
        check_ports(client, stack, {s.container for s in before.services if s.status == "running"})
        with _torn_down_on_failure(client, stack, before) as did:
            _start_containers(client, stack, compose_file, verbose=verbose, root=root, tls=tls)
            _wait_for_health(client, stack, timeout_s=timeout_s)
            _check_from_host(client, stack, root)
        changed = did
    applied = _apply_declared(stack, root)
    return UpReport(
        project=stack.project,
        compose_file=compose_file,
        services=observe(client, stack.project).services,
        bootstrap_servers=stack.bootstrap_servers,
        topics=applied.topics,
        elapsed_s=time.monotonic() - started,
        containers=changed,
        plan=Plan.combine([containers, applied.plan]),
    )


def container_plan(client: DockerClient, stack: Stack, state: StackState) -> Plan:
    """What ``up`` would do to each container, from what runs now."""
    image_of = {broker.service: stack.kafka_image for broker in stack.brokers}
    if stack.zookeeper_service is not None and stack.zookeeper_image is not None:
        image_of[stack.zookeeper_service] = stack.zookeeper_image
    ids = {
        image: client.image.inspect(image).id if client.image.exists(image) else None
        for image in set(image_of.values())
    }
    return plan_containers(
        stack.services,
        state,
        service_hashes(stack),
        {service: ids[image] for service, image in image_of.items()},
    )


def _check_ours(state: StackState) -> None:
    if state.exists and not state.is_kafkarig:
        held = [s.container for s in state.services] or state.networks or state.volumes
        raise StackError(
            f"the compose project {state.project} on this engine was not started by kafkarig "
            f"({', '.join(held)}).",
            hint="kafkarig leaves it alone: set another [stack] project in stack.toml, or "
            f"remove that project yourself (`docker compose -p {state.project} down`).",
        )


@contextmanager
def _torn_down_on_failure(
    client: DockerClient, stack: Stack, before: StackState
) -> Iterator[list[str]]:
    """Yield a list that receives what the steps did to the containers; on a failure, say
    what they did, remove the stack's containers and network and the volumes this call
    created, keep the volumes that existed before, and re-raise with all of that told."""
    did: list[str] = []
    try:
        yield did
    except BaseException as error:
        after = observe(client, stack.project)
        changes = what_changed(before, after)
        if not changes:
            told = "this up changed no container; the stack is as it was before"
        else:
            step(f"stack {stack.project} did not come up; removing what this up started")
            removed = remove_stack(client, after, keep_volumes=set(before.volumes))
            told = (
                f"what this up did: {', '.join(changes)}; then, as the stack did not come "
                f"up, {removed.told()}"
            )
        if isinstance(error, KafkarigError):
            raise StackError(f"{error.message}\n{told}", hint=error.hint) from error
        step(told)
        raise
    did.extend(what_changed(before, observe(client, stack.project)))


def _start_containers(
    client: DockerClient,
    stack: Stack,
    compose_file: Path,
    *,
    verbose: bool,
    root: Path,
    tls: TlsFiles | None,
) -> None:
    """``docker compose up --detach``: create or recreate what changed, start it (a secure
    stack's containers get their files first: :func:`infra.secrets.create_and_deliver`)."""
    step(f"stack {stack.project}: starting {', '.join(stack.services)} ({compose_file})")
    secrets.create_and_deliver(client, stack, compose_file, root, tls)
    compose = docker_client(compose_file, stack.project)
    tail: collections.deque[str] = collections.deque(maxlen=LOG_TAIL_LINES)
    try:
        for _source, raw in compose.compose.up(
            detach=True, remove_orphans=True, pull="never", stream_logs=True
        ):
            line = raw.decode(errors="replace").rstrip()
            if line:
                tail.append(line)
                if verbose:
                    print(f"    {line}", file=sys.stderr, flush=True)
    except DockerException as error:
        raise StackError(
            f"`docker compose up` failed for stack {stack.project}.\n"
            + docker_failure(error, output="\n".join(tail))
            + _failure_report(client, stack.project),
            hint="fix what compose complains about in stack.toml, then run `kafkarig up` "
            "again; `kafkarig render --print` shows the compose file.",
        ) from error


def _wait_for_health(client: DockerClient, stack: Stack, *, timeout_s: float | None) -> None:
    """Wait until every container is healthy, as one progress line; fail at once when one
    exits or turns unhealthy, with its log tail."""
    budget_s = timeout_s or min(stack.healthcheck.budget_s, 180)

    def probe() -> list[ServiceState]:
        states = observe(client, stack.project).services
        if any(s.status in {"exited", "dead"} or s.health == "unhealthy" for s in states):
            raise StackError(
                f"stack {stack.project} did not become healthy:\n"
                + _failure_report(client, stack.project),
                hint="fix the setting the log above complains about in stack.toml, then run "
                "`kafkarig up` again; `kafkarig render --print` shows the compose file.",
            )
        return states

    with ProgressLine(f"waiting up to {budget_s:.0f}s for health") as progress:

        def show(states: list[ServiceState]) -> str:
            healthy = sum(1 for s in states if s.ok)
            waiting = ", ".join(f"{s.container} {s.health or s.status}" for s in states if not s.ok)
            return f"{healthy}/{len(stack.services)} healthy" + (f"; {waiting}" if waiting else "")

        def accept(states: list[ServiceState]) -> bool:
            healthy = len(states) == len(stack.services) and all(s.ok for s in states)
            if not healthy:
                progress.update(show(states))
            return healthy

        WaitFor(
            expected=f"every container of {stack.project} to be healthy",
            probe=probe,
            accept=accept,
            timeout_s=budget_s,
            poll_interval_s=1.0,
            hint="`kafkarig up -v` shows compose's output; `docker logs CONTAINER` the logs.",
            not_ready=lambda error: False,
        ).wait()
        progress.done(f"{len(stack.services)}/{len(stack.services)} healthy")


def _check_from_host(client: DockerClient, stack: Stack, root: Path) -> None:
    """The brokers answer on the host's bootstrap servers (to kafkarig's admin, on a secure
    stack: its first SCRAM credential is written when the brokers refuse its login)."""
    config = secrets.admin_login(client, stack, root)
    with ProgressLine(f"asking {stack.bootstrap_servers} from the host") as progress:
        wait_for_brokers(
            stack.bootstrap_servers,
            len(stack.brokers),
            timeout_s=HOST_CHECK_TIMEOUT_S,
            on_wait=lambda elapsed, seen: progress.update(f"not yet: {seen}"),
            config=config,
        )
        who = f" to {stack.security.admin_user}" if stack.security.authenticates else ""
        progress.done(f"{len(stack.brokers)} broker(s) answer{who}")


def _apply_declared(stack: Stack, root: Path) -> Applied:
    access = ""
    if stack.security.authenticates:
        access = f"{len(stack.users)} user(s), {len(stack.acls)} ACL entr(ies), "
    step(f"stack {stack.project}: planning and applying {access}{len(stack.all_topics)} topic(s)")
    return apply_declared(stack, root)


def _failure_report(client: DockerClient, project: str) -> str:
    """Which containers are not OK, each with the tail of its log."""
    parts = []
    states = observe(client, project).services
    for state in states:
        if state.ok:
            continue
        tail = _container_tail(client, state.container)
        indented = "\n".join(f"      {line}" for line in tail.strip().splitlines())
        parts.append(
            f"  container {state.container} {state.condition}; last log lines:\n{indented}"
        )
    if not parts and not states:
        parts.append("  no container was created")
    return "\n".join(parts)


def _container_tail(client: DockerClient, container: str, lines: int = LOG_TAIL_LINES) -> str:
    try:
        return str(client.container.logs(container, tail=lines))
    except DockerException as error:
        return f"(no logs: {(error.stderr or '').strip()})"


# --------------------------------------------------------------------------- down, ls


def down(stack: Stack, *, keep_data: bool = False) -> DownReport:
    """Remove the stack's containers and network, and its volumes unless ``keep_data``.

    Finds the stack by its project, and also every stack that says it was started from the
    same stack file (a project renamed in stack.toml). Safe to run twice or with nothing up.
    """
    client = require_docker()
    targets = [observe(client, stack.project)]
    if stack.source_file is not None:
        targets += [
            other
            for other in stacks_started_from(client, str(stack.source_file))
            if other.project != stack.project
        ]
    return _remove_all(client, targets, keep_data=keep_data)


def down_project(project: str, *, keep_data: bool = False) -> DownReport:
    """Remove the kafkarig stack of a compose project, whatever stack file it came from."""
    client = require_docker()
    return _remove_all(client, [observe(client, project)], keep_data=keep_data)


def down_every_stack(*, keep_data: bool = False) -> DownReport:
    """Remove every kafkarig stack on this Docker engine (found by kafkarig's labels only)."""
    client = require_docker()
    return _remove_all(client, kafkarig_stacks(client), keep_data=keep_data)


def _remove_all(
    client: DockerClient, targets: Iterable[StackState], *, keep_data: bool
) -> DownReport:
    report = DownReport()
    for state in targets:
        if not state.exists:
            continue
        _check_ours(state)
        step(f"stack {state.project} ({state.summary}): removing it")
        report = report.merged(remove_stack(client, state, keep_volumes=None, keep_data=keep_data))
    return report


def list_stacks() -> list[StackState]:
    """Every kafkarig stack on this Docker engine, with its state."""
    return kafkarig_stacks(require_docker())


# --------------------------------------------------------------------------- status, plan


def status(stack: Stack) -> StatusReport:
    """Containers, health, whether they are as declared, and (when reachable) the topics."""
    client = require_docker()
    state = observe(client, stack.project)
    report = StatusReport(
        project=stack.project,
        state=state,
        plan=container_plan(client, stack, state),
        bootstrap_servers=stack.bootstrap_servers,
    )
    if state.services and all(s.ok for s in state.services):
        try:
            report.topics = describe_topics(
                admin_client(stack.bootstrap_servers, admin_client_config(stack)),
                [spec.name for spec in stack.all_topics],
                timeout_s=5,
            )
        except Exception as error:  # status reports; it does not fail
            report.topics_error = f"{type(error).__name__}: {error}"
    return report


def plan(stack: Stack) -> Plan:
    """What ``up`` would do: to the containers, and to the declared topics (asked of the
    running cluster, which validates each change; all created when it does not run)."""
    client = require_docker()
    state = observe(client, stack.project)
    containers = container_plan(client, stack, state)
    if state.services and all(s.ok for s in state.services):
        return Plan.combine([containers, plan_declared(stack)])
    offline = plan_declared_offline(stack)
    note = "the stack does not run: up starts it, then creates every declared resource"
    if state.volumes:
        note += (
            " that its kept data volumes do not hold already (topics in them are compared "
            "once the stack runs)"
        )
    return Plan.combine([containers, offline, Plan(notes=(note,))])
