"""kafkarig's pytest plugin: point a smoke suite at any Kafka cluster, and leave it as found.

Options: ``--bootstrap HOST:PORT[,...]`` (any cluster), ``--client-config FILE``
(librdkafka properties, the format ``kcat -F`` reads: TLS, SASL, and optionally
``bootstrap.servers``), ``--stack FILE`` (read by suites that know kafkarig's stack files,
such as ``harness/smoke``), ``--read-only`` with ``--read-topic NAME`` and
``--read-max-records N`` (for production clusters: nothing is written, nothing committed),
``--smoke-timeout SECONDS``, and ``--user NAME`` (for suites that read a secure stack file:
the stack's user the checks log in as).

On a cluster that kafkarig did not start (the default: only a suite that knows better
overrides the ``own_cluster`` fixture), checks write only to scratch topics and read only
with fresh groups, all named ``kafkarig-smoke-<run id>-...``; the producer of
``json_producer`` refuses any other topic. Every scratch topic and group is deleted when
its check ends and again, with a sweep of the run's prefix, when the session ends, also
after a failure, a timeout or Ctrl-C.

Fixtures: ``bootstrap_servers``, ``kafka_client_config``, ``kafka_admin``,
``scratch_topic``, ``json_producer``, ``unique_group``, ``scratch`` (the run's
:class:`~harness.scratch.ScratchRegistry`), ``own_cluster``, ``read_only``.
Markers: ``writes`` (skipped with ``--read-only``), ``own_cluster`` (runs only when
``own_cluster`` is true). Nothing here imports ``infra``.
"""

from __future__ import annotations

import signal
from collections.abc import Callable, Generator, Iterator
from dataclasses import dataclass, field
from types import FrameType
from typing import Final

import pytest
from confluent_kafka import KafkaException
from confluent_kafka.admin import AdminClient, NewTopic

from harness import admin as admin_ops
from harness.client_config import ClientConfig, ClientConfigError, load_client_config
from harness.errors import HarnessError, KcatNotFoundError
from harness.plugin_summary import write_summary
from harness.producer import JsonProducer
from harness.scratch import CleanupReport, ScratchOnlyProducer, ScratchRegistry

DEFAULT_TEST_TIMEOUT_S: Final = 60.0
DEFAULT_READ_MAX_RECORDS: Final = 100
#: Fixtures that write to the cluster: a check using one is skipped with --read-only.
WRITING_FIXTURES: Final = frozenset({"scratch_topic", "json_producer", "unique_group"})
#: Errors of the user's environment: reported as their message, without a traceback.
_PLAIN_ERRORS: Final = (KcatNotFoundError, ClientConfigError, admin_ops.ClusterUnreachableError)

ScratchTopic = Callable[..., str]


@dataclass
class SmokeSession:
    """The plugin's state for one pytest session (kept in ``config.stash``)."""

    scratch: ScratchRegistry = field(default_factory=ScratchRegistry)
    client_config: ClientConfig | None = None
    bootstrap: str | None = None
    client_properties: dict[str, str] = field(default_factory=dict)
    #: Who started the cluster under test, for the summary (set by ``own_cluster``).
    target: str = "a cluster kafkarig did not start"
    cleanup: CleanupReport | None = None


SESSION_KEY: Final = pytest.StashKey[SmokeSession]()


def smoke_session(config: pytest.Config) -> SmokeSession:
    """The plugin's state of this pytest session."""
    return config.stash[SESSION_KEY]


def pytest_addoption(parser: pytest.Parser) -> None:
    """Register the plugin's command-line options."""
    group = parser.getgroup("kafkarig", "kafkarig smoke testing")
    group.addoption(
        "--bootstrap",
        default=None,
        metavar="HOST:PORT[,...]",
        help="bootstrap servers of the cluster to test; with it no stack file is read "
        "unless --stack is given too",
    )
    group.addoption(
        "--stack",
        default=None,
        metavar="FILE",
        help="kafkarig stack file naming the cluster and its declared topics "
        "(default without --bootstrap: ./stack.toml)",
    )
    group.addoption(
        "--client-config",
        default=None,
        metavar="FILE",
        help="librdkafka client properties (TLS, SASL; the format `kcat -F` reads) for every "
        "client of the checks",
    )
    group.addoption(
        "--user",
        default=None,
        metavar="NAME",
        help="with --stack of a secure stack: the stack's user every client logs in as "
        "(default: its [security] smoke_user, else kafkarig's admin user)",
    )
    group.addoption(
        "--read-only",
        action="store_true",
        default=False,
        help="production mode: check metadata and read --read-topic topics; never write, "
        "create or commit anything",
    )
    group.addoption(
        "--read-topic",
        action="append",
        default=[],
        metavar="NAME",
        help="a topic whose newest records the read-only check reads (repeatable)",
    )
    group.addoption(
        "--read-max-records",
        type=int,
        default=DEFAULT_READ_MAX_RECORDS,
        metavar="N",
        help=f"records read per --read-topic (default {DEFAULT_READ_MAX_RECORDS})",
    )
    group.addoption(
        "--smoke-timeout",
        type=float,
        default=DEFAULT_TEST_TIMEOUT_S,
        metavar="SECONDS",
        help=f"pytest-timeout of every test without its own (default {DEFAULT_TEST_TIMEOUT_S:.0f})",
    )


def pytest_configure(config: pytest.Config) -> None:
    """Declare the markers and read --client-config."""
    config.addinivalue_line("markers", "kafka: needs a reachable Kafka cluster")
    config.addinivalue_line("markers", "writes: writes to the cluster (skipped with --read-only)")
    config.addinivalue_line(
        "markers", "own_cluster: runs only against a cluster kafkarig started itself"
    )
    session = SmokeSession()
    path = config.getoption("--client-config", None)
    if path:
        try:
            session.client_config = load_client_config(path)
        except ClientConfigError as error:
            raise pytest.UsageError(error.render()) from None
        session.client_properties = session.client_config.client_properties()
    if config.getoption("--read-max-records", DEFAULT_READ_MAX_RECORDS) < 1:
        raise pytest.UsageError("--read-max-records must be at least 1")
    config.stash[SESSION_KEY] = session


def _interrupt(signum: int, frame: FrameType | None) -> None:
    # A CI job being cancelled sends SIGTERM; as KeyboardInterrupt it still reaches
    # pytest_sessionfinish, which deletes the run's scratch topics and groups.
    raise KeyboardInterrupt(f"signal {signum}")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Give every Kafka check a timeout; with --read-only, skip every check that writes."""
    timeout_s = config.getoption("--smoke-timeout")
    read_only = config.getoption("--read-only")
    for item in items:
        fixtures = set(getattr(item, "fixturenames", ()))
        if "bootstrap_servers" in fixtures and item.get_closest_marker("timeout") is None:
            # signal: the check is interrupted with an exception, so its fixtures still
            # clean up (the thread method ends the process); func_only: a fixture's
            # cleanup is never cut short by the check's own timeout.
            item.add_marker(pytest.mark.timeout(timeout_s, method="signal", func_only=True))
        writers = sorted(fixtures & WRITING_FIXTURES)
        if read_only and (writers or item.get_closest_marker("writes")):
            why = f"uses {', '.join(writers)}" if writers else "produces or commits"
            item.add_marker(pytest.mark.skip(reason=f"--read-only: this check writes ({why})"))


@pytest.fixture(autouse=True)
def _own_cluster_gate(request: pytest.FixtureRequest) -> None:
    """Skip a check marked ``own_cluster`` unless the cluster is kafkarig's own."""
    marker = request.node.get_closest_marker("own_cluster")
    if marker is not None and not request.getfixturevalue("own_cluster"):
        why = marker.kwargs.get("reason", "it uses the seed's fixed topic and group names")
        pytest.skip(f"runs only on a stack kafkarig started: {why}")


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(
    item: pytest.Item, call: pytest.CallInfo[None]
) -> Generator[None, pytest.TestReport, pytest.TestReport]:
    """Show environment errors (no kcat, a bad client config, an unreachable or refusing
    cluster) as their message and hint, not as a traceback."""
    report = yield
    if call.excinfo is not None and isinstance(call.excinfo.value, _PLAIN_ERRORS):
        error = call.excinfo.value
        report.longrepr = f"{type(error).__name__}: {error.render()}"
    return report


@pytest.fixture(scope="session")
def read_only(request: pytest.FixtureRequest) -> bool:
    """Whether ``--read-only`` was given: nothing may be written or committed."""
    return bool(request.config.getoption("--read-only"))


@pytest.fixture(scope="session")
def own_cluster() -> bool:
    """Whether kafkarig started the cluster under test. The plugin cannot know, so: no.
    A suite that can prove it (``harness/smoke`` compares cluster ids) overrides this."""
    return False


@pytest.fixture(scope="session")
def kafka_client_config(request: pytest.FixtureRequest) -> dict[str, str]:
    """The ``--client-config`` properties for every client (without bootstrap.servers);
    empty for a plaintext cluster."""
    return dict(smoke_session(request.config).client_properties)


@pytest.fixture(scope="session")
def scratch(request: pytest.FixtureRequest) -> ScratchRegistry:
    """The run's scratch registry: names (``kafkarig-smoke-<run id>-...``) and cleanup."""
    return smoke_session(request.config).scratch


def resolve_bootstrap(config: pytest.Config) -> str | None:
    """``--bootstrap``, else the client config's ``bootstrap.servers``, else ``None``."""
    given = config.getoption("--bootstrap")
    if given:
        return str(given)
    client_config = smoke_session(config).client_config
    return client_config.bootstrap_servers if client_config else None


def connect(config: pytest.Config, bootstrap: str, brokers: int = 1) -> admin_ops.ClusterInfo:
    """Wait (30 s) for the cluster; remember it for the cleanup and the summary, and let
    SIGTERM clean up like Ctrl-C from now on."""
    session = smoke_session(config)
    try:
        info = admin_ops.wait_for_cluster(
            bootstrap, session.client_properties, brokers=brokers, timeout_s=30
        )
    except admin_ops.ClusterUnreachableError as error:
        pytest.fail(f"the cluster does not answer: {error.render()}", pytrace=False)
    session.bootstrap = bootstrap
    if signal.getsignal(signal.SIGTERM) is signal.SIG_DFL:
        signal.signal(signal.SIGTERM, _interrupt)
    return info


@pytest.fixture(scope="session")
def bootstrap_servers(request: pytest.FixtureRequest) -> str:
    """The cluster under test, from ``--bootstrap`` or the client config (a suite's
    conftest may supply others); it must answer within 30 s."""
    bootstrap = resolve_bootstrap(request.config)
    if not bootstrap:
        pytest.fail("no cluster to test: pass --bootstrap HOST:PORT", pytrace=False)
    connect(request.config, bootstrap)
    return bootstrap


@pytest.fixture(scope="session")
def kafka_admin(bootstrap_servers: str, kafka_client_config: dict[str, str]) -> AdminClient:
    """An AdminClient on the cluster under test (with the client config)."""
    return admin_ops.admin_client(bootstrap_servers, kafka_client_config)


@pytest.fixture
def unique_group(
    request: pytest.FixtureRequest, scratch: ScratchRegistry
) -> Iterator[Callable[..., str]]:
    """Make fresh consumer group ids (``unique_group("label")``); the groups are deleted
    after the test (or, if members are still leaving, when the session ends)."""
    made: list[str] = []

    def make(label: str = "") -> str:
        made.append(scratch.group_name(f"{request.node.name}{label and '-' + label}"))
        return made[-1]

    yield make
    if made:
        admin = request.getfixturevalue("kafka_admin")
        scratch.delete_groups(admin, made)  # members still leaving: retried at session end


@pytest.fixture
def scratch_topic(
    request: pytest.FixtureRequest, kafka_admin: AdminClient, scratch: ScratchRegistry
) -> Iterator[ScratchTopic]:
    """Create unique topics for one test (``scratch_topic(partitions=3, dlq=True)``); they
    are deleted when the test ends. With ``dlq=True`` the ``<name>-dlq`` topic is made too."""
    created: list[str] = []

    def make(
        partitions: int = 1,
        *,
        dlq: bool = False,
        replication_factor: int = 1,
        config: dict[str, str] | None = None,
    ) -> str:
        name = scratch.topic_name(request.node.name)
        names = [name, f"{name}-dlq"] if dlq else [name]
        for topic in names:
            scratch.register_topic(topic)
        futures = kafka_admin.create_topics(
            [NewTopic(n, partitions, replication_factor, config=dict(config or {})) for n in names],
            request_timeout=30,
        )
        for topic, future in futures.items():
            created.append(topic)
            try:
                future.result(timeout=30)
            except KafkaException as error:
                pytest.fail(f"could not create scratch topic {topic}: {error}", pytrace=False)
        return name

    yield make
    # A cluster that refuses deletion keeps the topic until the session's cleanup reports it.
    scratch.delete_topics(kafka_admin, created)


@pytest.fixture
def json_producer(
    bootstrap_servers: str,
    kafka_client_config: dict[str, str],
    scratch: ScratchRegistry,
    own_cluster: bool,
) -> Iterator[JsonProducer]:
    """The harness producer (idempotent, acks=all), flushed and closed after the test. On a
    cluster kafkarig did not start it writes only to this run's scratch topics."""
    with ScratchOnlyProducer(
        bootstrap_servers,
        scratch=scratch,
        allow_any_topic=own_cluster,
        config=kafka_client_config,
    ) as producer:
        yield producer


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    """Delete whatever this run left on the cluster: registered names, then a sweep of the
    run's prefix (outside every test's timeout, also after Ctrl-C)."""
    state = smoke_session(session.config)
    scratch = state.scratch
    if state.bootstrap is None or session.config.getoption("--read-only"):
        return
    try:
        admin = admin_ops.admin_client(state.bootstrap, state.client_properties)
        state.cleanup = scratch.cleanup(admin)
    except (KafkaException, HarnessError) as error:
        left = {name: f"cleanup failed: {error}" for name in scratch.topics | scratch.groups}
        state.cleanup = CleanupReport(
            tuple(sorted(scratch.deleted_topics)), tuple(sorted(scratch.deleted_groups)), left
        )


def pytest_terminal_summary(
    terminalreporter: pytest.TerminalReporter, exitstatus: int, config: pytest.Config
) -> None:
    """Which cluster, which checks ran (and how), which were skipped and why, and what the
    cleanup deleted."""
    state = smoke_session(config)
    if state.bootstrap is None:
        return
    write_summary(
        terminalreporter,
        bootstrap=state.bootstrap,
        target=state.target,
        read_only=config.getoption("--read-only"),
        client_config=state.client_config.source if state.client_config else None,
        scratch=(
            f"scratch ({state.scratch.prefix}*): {state.cleanup.summary()}"
            if state.cleanup is not None
            else None
        ),
    )
