"""kafkarig's pytest plugin: point a smoke suite at any Kafka cluster.

Options: ``--bootstrap HOST:PORT[,...]`` (any cluster), ``--stack FILE`` (read by suites that
know kafkarig's stack files, such as ``harness/smoke``), ``--smoke-timeout SECONDS`` (the
pytest-timeout of every test that sets none). Fixtures: ``bootstrap_servers``,
``kafka_admin``, ``scratch_topic`` (a unique topic, deleted afterwards), ``json_producer``
and ``unique_group``. Nothing here imports ``infra``.
"""

from __future__ import annotations

import contextlib
import logging
import re
import uuid
from collections.abc import Callable, Iterator

import pytest
from confluent_kafka import KafkaException
from confluent_kafka.admin import AdminClient, NewTopic

from harness.producer import JsonProducer

DEFAULT_TEST_TIMEOUT_S = 60.0
_LIBRDKAFKA_LOG = logging.getLogger("kafkarig.smoke.librdkafka")

ScratchTopic = Callable[..., str]


def pytest_addoption(parser: pytest.Parser) -> None:
    """Register the plugin's command-line options."""
    group = parser.getgroup("kafkarig", "kafkarig smoke testing")
    group.addoption(
        "--bootstrap",
        default=None,
        metavar="HOST:PORT[,...]",
        help="bootstrap servers of the cluster to test (default: from the stack file)",
    )
    group.addoption(
        "--stack",
        default="stack.toml",
        metavar="FILE",
        help="kafkarig stack file naming the cluster and its declared topics",
    )
    group.addoption(
        "--smoke-timeout",
        type=float,
        default=DEFAULT_TEST_TIMEOUT_S,
        metavar="SECONDS",
        help=f"pytest-timeout of every test without its own (default {DEFAULT_TEST_TIMEOUT_S:.0f})",
    )


def pytest_configure(config: pytest.Config) -> None:
    """Declare the plugin's marker."""
    config.addinivalue_line("markers", "kafka: needs a reachable Kafka cluster")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Give every test that uses a Kafka fixture a timeout, so a hung broker fails a test."""
    timeout_s = config.getoption("--smoke-timeout")
    for item in items:
        fixtures = getattr(item, "fixturenames", ())
        if "bootstrap_servers" in fixtures and item.get_closest_marker("timeout") is None:
            item.add_marker(pytest.mark.timeout(timeout_s))


@pytest.fixture(scope="session")
def bootstrap_servers(request: pytest.FixtureRequest) -> str:
    """The cluster under test, from ``--bootstrap`` (a suite's conftest may supply others)."""
    value = request.config.getoption("--bootstrap")
    if not value:
        pytest.fail("no cluster to test: pass --bootstrap HOST:PORT", pytrace=False)
    return str(value)


@pytest.fixture(scope="session")
def kafka_admin(bootstrap_servers: str) -> AdminClient:
    """An AdminClient on the cluster under test."""
    return AdminClient({"bootstrap.servers": bootstrap_servers}, logger=_LIBRDKAFKA_LOG)


@pytest.fixture
def unique_group(request: pytest.FixtureRequest) -> Callable[[], str]:
    """Make consumer group ids unique to this test run."""

    def make(label: str = "") -> str:
        return f"smoke-{_slug(request.node.name)}{label and '-' + label}-{uuid.uuid4().hex[:8]}"

    return make


@pytest.fixture
def scratch_topic(
    request: pytest.FixtureRequest, kafka_admin: AdminClient
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
        name = f"smoke-{_slug(request.node.name)}-{uuid.uuid4().hex[:8]}"
        names = [name, f"{name}-dlq"] if dlq else [name]
        futures = kafka_admin.create_topics(
            [NewTopic(n, partitions, replication_factor, config=dict(config or {})) for n in names],
            request_timeout=30,
        )
        for topic, future in futures.items():
            try:
                future.result(timeout=30)
            except KafkaException as error:
                pytest.fail(f"could not create scratch topic {topic}: {error}", pytrace=False)
            created.append(topic)
        return name

    yield make
    if created:
        for future in kafka_admin.delete_topics(created, request_timeout=30).values():
            # A cluster that refuses deletion keeps a scratch topic; that is not a failure.
            with contextlib.suppress(KafkaException):
                future.result(timeout=30)


@pytest.fixture
def json_producer(bootstrap_servers: str) -> Iterator[JsonProducer]:
    """The harness producer (idempotent, acks=all), flushed and closed after the test."""
    with JsonProducer(bootstrap_servers) as producer:
        yield producer


def _slug(text: str) -> str:
    return re.sub(r"[^a-zA-Z0-9]+", "-", text).strip("-").lower()[:40]


def pytest_terminal_summary(
    terminalreporter: pytest.TerminalReporter, exitstatus: int, config: pytest.Config
) -> None:
    """One line per check and the cluster they ran against."""
    bootstrap = getattr(config, "_kafkarig_bootstrap", None) or config.getoption("--bootstrap")
    reports = [
        report
        for key in ("passed", "failed", "error")
        for report in terminalreporter.stats.get(key, [])
        if getattr(report, "when", "call") == "call" or key == "error"
    ]
    if not reports or not bootstrap:
        return
    terminalreporter.section("kafkarig smoke summary")
    terminalreporter.write_line(f"cluster: {bootstrap}")
    for report in reports:
        state = "ok  " if report.passed else "FAIL"
        terminalreporter.write_line(f"  {state} {report.nodeid.split('::')[-1]}")
