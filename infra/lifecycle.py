"""The stack's lifecycle through python-on-whales: up, down, status.

``up`` renders the compose file, checks images and ports, starts the containers and waits
for their healthchecks, then checks from the host that every broker answers and creates and
verifies the topics. If anything fails, it reports which container failed with the tail of
its log and tears down what it started, so no half-started stack is left behind.
"""

from __future__ import annotations

import collections
import errno
import socket
import sys
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

from python_on_whales import Container, DockerClient
from python_on_whales.exceptions import DockerException

from infra.config import Stack
from infra.console import step
from infra.docker import docker_client, docker_failure, require_docker
from infra.errors import StackError, TopicError
from infra.readiness import wait_for_brokers
from infra.render import write_compose
from infra.topics import TopicReport, TopicState, admin_client, describe_topics, ensure_topics

PROJECT_LABEL = "com.docker.compose.project"
SERVICE_LABEL = "com.docker.compose.service"
LOG_TAIL_LINES = 30


@dataclass(frozen=True)
class ServiceState:
    """One container of the stack as Docker sees it."""

    service: str
    container: str
    status: str  # running, exited, created, ...
    health: str | None  # healthy, unhealthy, starting, or None without a healthcheck
    exit_code: int | None

    @property
    def ok(self) -> bool:
        """Running, and healthy where there is a healthcheck."""
        return self.status == "running" and self.health in (None, "healthy")


@dataclass
class UpReport:
    """What ``up`` found and did."""

    project: str
    compose_file: Path
    services: list[ServiceState]
    bootstrap_servers: str
    topics: list[TopicReport]
    elapsed_s: float


@dataclass
class StatusReport:
    """The stack as it is now."""

    project: str
    compose_file: Path
    services: list[ServiceState]
    bootstrap_servers: str
    topics: dict[str, TopicState] = field(default_factory=dict)
    topics_error: str | None = None


def compose_client(stack: Stack, root: Path) -> tuple[DockerClient, Path]:
    """Render the compose file under ``root`` and return a client bound to it."""
    compose_file = write_compose(stack, root)
    return docker_client(compose_file, stack.project), compose_file


def project_containers(client: DockerClient, project: str) -> list[Container]:
    """Every container (running or not) labelled with the compose project."""
    return list(client.container.list(all=True, filters=[("label", f"{PROJECT_LABEL}={project}")]))


def service_states(client: DockerClient, project: str) -> list[ServiceState]:
    """The state of every container of the project, sorted by service."""
    states = []
    for container in project_containers(client, project):
        state = container.state
        health = state.health.status if state.health is not None else None
        states.append(
            ServiceState(
                service=(container.config.labels or {}).get(SERVICE_LABEL, container.name),
                container=container.name,
                status=str(state.status),
                health=str(health) if health is not None else None,
                exit_code=state.exit_code,
            )
        )
    return sorted(states, key=lambda s: s.service)


def project_volumes(client: DockerClient, project: str) -> set[str]:
    """Names of the named volumes compose created for the project."""
    return {v.name for v in client.volume.list(filters=[("label", f"{PROJECT_LABEL}={project}")])}


def _container_tail(client: DockerClient, container: str, lines: int = LOG_TAIL_LINES) -> str:
    try:
        return str(client.container.logs(container, tail=lines))
    except DockerException as error:
        return f"(no logs: {(error.stderr or '').strip()})"


def check_images(client: DockerClient, stack: Stack) -> None:
    """Every image is present, or (flavors apache/confluent) can be pulled now."""
    for image in stack.images:
        if client.image.exists(image):
            continue
        if stack.cluster.flavor == "local":
            raise StackError(
                f"the local image {image} is not built.",
                hint="run `nox -s image` (or `kafkarig image`) once; it builds the local "
                "Kafka and ZooKeeper images from Maven Central jars.",
            )
        step(f"pulling {image}")
        try:
            client.image.pull(image, quiet=True)
        except DockerException as error:
            raise StackError(
                f"cannot pull {image}: {(error.stderr or '').strip()[-400:]}",
                hint="on a machine without access to an image registry, build the local "
                'images with `nox -s image` and use them: flavor = "local" in stack.toml, '
                "or KAFKARIG_FLAVOR=local nox -s up.",
            ) from error


def _port_in_use(host: str, port: int) -> bool:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError as error:
            if error.errno == errno.EADDRINUSE:
                return True
            raise StackError(
                f"cannot publish port {port} on {host}: {error.strerror} (errno {error.errno}).",
                hint="[cluster] host must be an address of this machine: 127.0.0.1 (default), "
                "0.0.0.0 for every interface, or one of `ip -brief address`.",
            ) from error
    return False


def check_ports(client: DockerClient, stack: Stack) -> None:
    """Every host port is free, or already published by this very stack."""
    ours = {c.name for c in project_containers(client, stack.project) if c.state.running}
    taken = []
    for broker in stack.brokers:
        if broker.service in ours or not _port_in_use(stack.cluster.host, broker.host_port):
            continue
        owner = "another process"
        for container in client.container.list(filters=[("publish", str(broker.host_port))]):
            owner = f"container {container.name}"
        taken.append(
            f"{stack.cluster.host}:{broker.host_port} (broker {broker.service}) is used by {owner}"
        )
    if taken:
        raise StackError(
            "host ports are in use:\n  " + "\n  ".join(taken),
            hint="stop what uses them (`docker ps`, `ss -ltnp`), or set another [cluster] port "
            "in stack.toml.",
        )


def check_container_names(client: DockerClient, stack: Stack) -> None:
    """No container of another project (or of none) holds one of the stack's names.

    The names are fixed (``kafka``, ``zookeeper``, ``kafka-N``) so that the seed's
    ``docker exec kafka ...`` works; two stacks with the same names cannot run at once.
    """
    clashes = []
    for name in stack.services:
        if not client.container.exists(name):
            continue
        labels = client.container.inspect(name).config.labels or {}
        owner = labels.get(PROJECT_LABEL)
        if owner != stack.project:
            clashes.append(
                f"{name} (compose project {owner})" if owner else f"{name} (not from compose)"
            )
    if clashes:
        raise StackError(
            "container names of this stack are taken: " + ", ".join(clashes) + ".",
            hint="stop the other stack first (`nox -s down -- --stack ITS_FILE`, or "
            "`docker rm -f NAME` for a stray container); kafkarig names containers like the "
            "seed (kafka, zookeeper) so that `docker exec kafka ...` works.",
        )


def _stream(lines: Iterable[tuple[str, bytes]], tail: collections.deque[str]) -> None:
    for _source, raw in lines:
        line = raw.decode(errors="replace").rstrip()
        if line:
            tail.append(line)
            print(f"    {line}", file=sys.stderr, flush=True)


def _failure_report(client: DockerClient, project: str) -> str:
    """Which containers are not OK, each with the tail of its log."""
    parts = []
    states = service_states(client, project)
    for state in states:
        if state.ok:
            continue
        what = (
            f"exited with code {state.exit_code}"
            if state.status == "exited"
            else (f"is {state.status}" + (f" and {state.health}" if state.health else ""))
        )
        tail = _container_tail(client, state.container)
        indented = "\n".join(f"      {line}" for line in tail.strip().splitlines())
        parts.append(f"  container {state.container} {what}; last log lines:\n{indented}")
    if not parts and not states:
        parts.append("  no container was created")
    return "\n".join(parts)


def _tear_down(client: DockerClient, stack: Stack, volumes_before: set[str]) -> None:
    """Remove what a failed ``up`` started; keep volumes that existed before it."""
    step(f"tearing down the half-started stack {stack.project}")
    try:
        client.compose.down(remove_orphans=True, timeout=5, quiet=True)
        for volume in project_volumes(client, stack.project) - volumes_before:
            client.volume.remove(volume)
    except DockerException as error:
        step(f"teardown failed: {(error.stderr or '').strip()[-400:]}")


def up(stack: Stack, root: Path, *, timeout_s: float | None = None) -> UpReport:
    """Start the stack, wait for health, create and verify its topics.

    A running stack is left as it is (compose recreates nothing that did not change) and
    only its topics are verified. On failure everything this call started is torn down.
    """
    started = time.monotonic()
    require_docker()
    previous_file = stack.compose_file(root)
    previous = previous_file.read_text() if previous_file.is_file() else None
    client, compose_file = compose_client(stack, root)
    step(f"stack {stack.project}: {compose_file}")
    check_images(client, stack)
    check_container_names(client, stack)
    check_ports(client, stack)
    volumes_before = project_volumes(client, stack.project)
    # A healthy stack started from this very file is left alone if this call fails: the
    # failure is not the stack's (compose recreates nothing); a changed stack is torn down.
    states_before = service_states(client, stack.project)
    already_up = previous == compose_file.read_text() and [
        s.service for s in states_before if s.ok
    ] == sorted(stack.services)
    wait_timeout_s = int(timeout_s or min(stack.healthcheck.budget_s, 180))
    tail: collections.deque[str] = collections.deque(maxlen=LOG_TAIL_LINES)
    try:
        step(f"starting {', '.join(stack.services)} and waiting up to {wait_timeout_s}s for health")
        try:
            _stream(
                client.compose.up(
                    detach=True,
                    wait=True,
                    wait_timeout=wait_timeout_s,
                    remove_orphans=True,
                    pull="never",
                    stream_logs=True,
                ),
                tail,
            )
        except DockerException as error:
            details = docker_failure(error, output="\n".join(tail))  # compose's streamed lines
            raise StackError(
                f"stack {stack.project} did not become healthy.\n{details}\n"
                + _failure_report(client, stack.project),
                hint="fix the setting the broker log complains about in stack.toml, then run "
                "`nox -s up` again; `nox -s render` shows the compose file.",
            ) from error
        step(f"containers healthy; checking {stack.bootstrap_servers} from the host")
        wait_for_brokers(
            stack.bootstrap_servers,
            len(stack.brokers),
            timeout_s=60,
            on_wait=lambda elapsed, seen: step(f"  still waiting ({elapsed:.0f}s): {seen}"),
        )
        step(f"creating and verifying {len(stack.all_topics)} topic(s)")
        topics = ensure_topics(stack.bootstrap_servers, stack.all_topics)
    except TopicError:
        raise  # the cluster is fine; the topics need the user's decision
    except BaseException:
        if already_up:
            step(f"stack {stack.project} was up before this call; leaving it as it was")
        else:
            _tear_down(client, stack, volumes_before)
        raise
    return UpReport(
        project=stack.project,
        compose_file=compose_file,
        services=service_states(client, stack.project),
        bootstrap_servers=stack.bootstrap_servers,
        topics=topics,
        elapsed_s=time.monotonic() - started,
    )


def down(stack: Stack, root: Path, *, keep_data: bool = False) -> list[str]:
    """Remove the stack's containers and network, and its volumes unless ``keep_data``.

    Safe to run twice or with nothing up. Returns the names of the removed containers.
    """
    require_docker()
    client, _ = compose_client(stack, root)
    containers = [c.name for c in project_containers(client, stack.project)]
    step(
        f"stack {stack.project}: removing {len(containers)} container(s)"
        + (", keeping volumes" if keep_data else ", volumes and network")
    )
    try:
        # Data that is about to be deleted needs no clean shutdown: stop at once then.
        client.compose.down(
            remove_orphans=True,
            volumes=not keep_data,
            timeout=10 if keep_data else 1,
            quiet=True,
        )
        if not keep_data:
            # compose removes only the volumes the current file declares; a stack that
            # shrank (3 brokers -> 1) would keep the others, and their stale data.
            for volume in project_volumes(client, stack.project):
                client.volume.remove(volume)
    except DockerException as error:
        raise StackError(
            f"`docker compose down` failed for {stack.project}.\n{docker_failure(error)}",
            hint="run `docker ps -a --filter label=com.docker.compose.project="
            f"{stack.project}` to see what is left.",
        ) from error
    return containers


def status(stack: Stack, root: Path) -> StatusReport:
    """Brokers, health, bootstrap servers and (when reachable) the declared topics."""
    require_docker()
    client, compose_file = compose_client(stack, root)
    report = StatusReport(
        project=stack.project,
        compose_file=compose_file,
        services=service_states(client, stack.project),
        bootstrap_servers=stack.bootstrap_servers,
    )
    if report.services and all(s.ok for s in report.services):
        try:
            report.topics = describe_topics(
                admin_client(stack.bootstrap_servers),
                [spec.name for spec in stack.all_topics],
                timeout_s=5,
            )
        except Exception as error:  # status reports; it does not fail
            report.topics_error = f"{type(error).__name__}: {error}"
    return report
