"""Fixtures that tie the smoke suite to a kafkarig stack file (the suite may use ``infra``).

Which stack file is read: ``--stack FILE`` when given; otherwise ``./stack.toml``, but only
when no cluster was named (``--bootstrap``, or ``bootstrap.servers`` in ``--client-config``):
with ``--bootstrap`` alone no stack file is read at all.

On a secure stack the checks log in by themselves: unless ``--client-config`` is given, every
client gets the stack's client config for ``--user`` (default: ``[security] smoke_user``,
else kafkarig's admin), as ``kafkarig client-config`` would write it.

Whether the cluster is kafkarig's own (``own_cluster``): a stack file was read, the cluster
under test is at the stack's address, and it proves to be the stack's cluster: in KRaft
mode its cluster id is the stack's deterministic one; in ZooKeeper mode (whose cluster id
is random) the stack's broker containers run on this Docker engine. Anything else is a
cluster kafkarig did not start, and the checks leave it as they found it.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pytest

from harness.admin import ClusterInfo
from harness.client_config import ClientConfig
from harness.pytest_plugin import ScratchTopic, connect, resolve_bootstrap, smoke_session
from infra.client_config import librdkafka_properties
from infra.config import STACK_FILE_NAME, Stack, TopicSpec, load_stack
from infra.credentials import client_settings, login_users
from infra.errors import KafkarigError

SEED_TOPIC = "user-events"
PLAINTEXT = "plaintext"


def pytest_configure(config: pytest.Config) -> None:
    """Declare the suite's marker."""
    config.addinivalue_line(
        "markers",
        "seed_verbatim: runs the seed's own commands (fixed names, no credentials): only on "
        "kafkarig's own plaintext stack",
    )


@pytest.fixture(scope="session")
def stack(request: pytest.FixtureRequest) -> Stack | None:
    """The stack file's model: ``--stack FILE``, else ``./stack.toml`` when no cluster was
    named; ``None`` when a cluster was named without ``--stack``."""
    given = request.config.getoption("--stack")
    if given:
        path = Path(given)
        if not path.exists():
            pytest.fail(f"--stack {given}: no such file", pytrace=False)
    elif resolve_bootstrap(request.config):
        return None
    else:
        path = Path(STACK_FILE_NAME)
        if not path.exists():
            pytest.fail(
                f"no cluster to test: no {STACK_FILE_NAME} in {Path.cwd()}\n"
                "Hint: pass --bootstrap HOST:PORT (any cluster) or --stack FILE (a kafkarig "
                "stack started with `nox -s up`).",
                pytrace=False,
            )
    try:
        return load_stack(path)
    except KafkarigError as error:
        pytest.fail(f"cannot read the stack file: {error.render()}", pytrace=False)


@dataclass(frozen=True)
class Target:
    """The cluster under test: where it is, what it reported, and whether it is the stack's."""

    bootstrap: str
    info: ClusterInfo
    at_stack_address: bool


@pytest.fixture(scope="session")
def target(request: pytest.FixtureRequest, stack: Stack | None) -> Target:
    """The named cluster (else the stack's), once it answers within 30 s."""
    named = resolve_bootstrap(request.config)
    bootstrap = named or (stack.bootstrap_servers if stack is not None else "")
    if not bootstrap:
        pytest.fail("no cluster to test: pass --bootstrap or --stack", pytrace=False)
    at_stack_address = stack is not None and bootstrap == stack.bootstrap_servers
    user = request.config.getoption("--user")
    if stack is not None and at_stack_address:
        _log_in_as_stack_user(request.config, stack, user)
    elif user is not None:
        pytest.fail(
            "--user NAME needs --stack FILE of a secure stack (at its address)", pytrace=False
        )
    brokers = len(stack.brokers) if stack is not None and at_stack_address else 1
    info = connect(request.config, bootstrap, brokers)
    return Target(bootstrap, info, at_stack_address)


def _log_in_as_stack_user(config: pytest.Config, stack: Stack, user: str | None) -> None:
    """Give every client the stack's client config for ``user`` (see the module doc),
    unless ``--client-config`` names one."""
    session = smoke_session(config)
    security = stack.security
    if user is not None and not security.authenticates:
        pytest.fail(
            f"--user {user}: stack {stack.project}'s host listener ({security.protocol}) has "
            "no users",
            pytrace=False,
        )
    if session.client_config is not None or not security.enabled:
        return
    name = (user or security.smoke_user or security.admin_user) if security.authenticates else None
    if name is not None and name not in login_users(stack):
        pytest.fail(
            f"--user {name}: stack {stack.project} has {', '.join(login_users(stack))}",
            pytrace=False,
        )
    try:
        properties = librdkafka_properties(client_settings(stack, name))
    except KafkarigError as error:
        pytest.fail(f"cannot log in to stack {stack.project}: {error.render()}", pytrace=False)
    properties.pop("bootstrap.servers", None)
    who = f" as user {name}" if name else ""
    session.client_config = ClientConfig(
        properties, f"stack {stack.project}{who} ({security.protocol})"
    )
    session.client_properties = dict(properties)


@pytest.fixture(scope="session")
def kafka_client_config(request: pytest.FixtureRequest, target: Target) -> dict[str, str]:
    """The client properties of every client: ``--client-config``, else the stack's for its
    user (a secure stack), else none."""
    return dict(smoke_session(request.config).client_properties)


@pytest.fixture(scope="session")
def bootstrap_servers(target: Target, own_cluster: bool) -> str:
    """The cluster under test: ``--bootstrap``, else the stack's (and whose it is, for the
    summary)."""
    return target.bootstrap


def _stack_containers_run(stack: Stack) -> bool:
    from python_on_whales.exceptions import DockerException

    from infra.docker import docker_client
    from infra.state import observe

    try:
        services = observe(docker_client(), stack.project).services
    except DockerException:  # no Docker here: not provably ours
        return False
    running = {s.service for s in services if s.status == "running"}
    return all(broker.service in running for broker in stack.brokers)


@pytest.fixture(scope="session")
def own_cluster(request: pytest.FixtureRequest, stack: Stack | None, target: Target) -> bool:
    """Whether the cluster under test is the stack kafkarig started (see the module doc)."""
    session = smoke_session(request.config)
    if stack is None:
        session.target = "a cluster kafkarig did not start (no stack file read)"
        return False
    if not target.at_stack_address:
        session.target = f"not the address of stack {stack.project!r}: treated as foreign"
        return False
    if stack.is_kraft:
        own = target.info.cluster_id == stack.cluster_id
        proof = f"cluster id {target.info.cluster_id}"
    else:
        own = _stack_containers_run(stack)
        proof = "its broker containers run here"
    if own:
        session.target = f"kafkarig's own stack {stack.project!r}: {proof}"
    else:
        session.target = (
            f"at stack {stack.project!r}'s address but not provably its cluster "
            f"(cluster id {target.info.cluster_id}): treated as foreign"
        )
    return own


@pytest.fixture(autouse=True)
def _seed_verbatim_gate(request: pytest.FixtureRequest) -> None:
    """Skip a ``seed_verbatim`` check unless the cluster is kafkarig's own plaintext stack."""
    if request.node.get_closest_marker("seed_verbatim") is None:
        return
    if not request.getfixturevalue("own_cluster"):
        pytest.skip("seed-verbatim: only on a stack kafkarig started (fixed topic/group names)")
    protocol = request.getfixturevalue("kafka_client_config").get("security.protocol", PLAINTEXT)
    if protocol.lower() != PLAINTEXT:
        pytest.skip(f"seed-verbatim: the seed's commands carry no credentials ({protocol})")


@pytest.fixture(scope="session")
def declared_topics(stack: Stack | None) -> list[TopicSpec]:
    """Every topic the stack declares, DLQ topics included (none without a stack)."""
    return list(stack.all_topics) if stack is not None else []


@pytest.fixture
def seed_topic(request: pytest.FixtureRequest, stack: Stack | None, own_cluster: bool) -> str:
    """The seed workflow's topic on kafkarig's own stack (``user-events`` when declared,
    else the first declared); elsewhere a fresh 3-partition scratch topic."""
    names = [spec.name for spec in stack.topics] if stack is not None else []
    if own_cluster:
        return SEED_TOPIC if SEED_TOPIC in names or not names else names[0]
    if request.getfixturevalue("read_only"):
        pytest.skip("--read-only: no scratch topic to stand in for the seed's topic")
    make: ScratchTopic = request.getfixturevalue("scratch_topic")
    return make(partitions=3)
