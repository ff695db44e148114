"""Fixtures of the chaos suite: the kafkarig stack under test, its brokers, and the report.

The suite needs a stack kafkarig started (``--stack FILE``, default ``stack.toml``) with 3 or
more brokers: faults act on its containers only. At the end of the session the figures of
every scenario that ran are written to ``reports/chaos.json``, ``reports/chaos.md`` and
``reports/chaos.png`` (``--chaos-reports DIR`` elsewhere) and the table is printed.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from harness.chaos.results import ScenarioResult, markdown, write_reports
from harness.chaos.runner import TopicShape, topic_shape_of
from infra.cluster import StackCluster
from infra.config import Stack, load_stack
from infra.errors import KafkarigError
from infra.faults import FaultInjector

MIN_BROKERS = 3
_RESULTS = pytest.StashKey[list[ScenarioResult]]()


def pytest_addoption(parser: pytest.Parser) -> None:
    """``--chaos-reports DIR``: where the chaos report goes."""
    parser.addoption(
        "--chaos-reports",
        default="reports",
        metavar="DIR",
        help="directory for chaos.json, chaos.md and chaos.png (default: reports)",
    )


def pytest_configure(config: pytest.Config) -> None:
    """Keep the results of the session's scenarios."""
    config.stash[_RESULTS] = []


def load_chaos_stack(request: pytest.FixtureRequest) -> Stack:
    """The stack named by ``--stack``; a clear failure when it cannot be read."""
    path = Path(request.config.getoption("--stack"))
    try:
        return load_stack(path)
    except KafkarigError as error:
        pytest.fail(f"cannot read the stack file: {error.render()}", pytrace=False)


@pytest.fixture(scope="session")
def stack(request: pytest.FixtureRequest) -> Stack:
    """The kafkarig stack under test (faults need one: ``--bootstrap`` alone is not enough)."""
    stack = load_chaos_stack(request)
    if len(stack.brokers) < MIN_BROKERS:
        pytest.fail(
            f"the chaos scenarios need a stack of {MIN_BROKERS} or more brokers; "
            f"{request.config.getoption('--stack')} has {len(stack.brokers)}.\n"
            "Hint: nox -s up -- --stack examples/three-brokers.toml, then "
            "nox -s chaos -- --stack examples/three-brokers.toml",
            pytrace=False,
        )
    return stack


@pytest.fixture(scope="session")
def cluster(stack: Stack) -> StackCluster:
    """The stack's brokers, healed of faults a killed earlier run may have left, and whole."""
    try:
        cluster = StackCluster(stack.project, stack.bootstrap_servers)
        FaultInjector(cluster).heal()
        cluster.wait_whole(timeout_s=120)
    except KafkarigError as error:
        pytest.fail(
            f"the stack {stack.project} is not up and whole: {error.render()}\n"
            "Hint: start it with `nox -s up -- --stack FILE`.",
            pytrace=False,
        )
    return cluster


@pytest.fixture(scope="session")
def topic_shape(stack: Stack) -> TopicShape:
    """Partitions, replication factor and configs of the stack's first declared topic."""
    return topic_shape_of(stack, MIN_BROKERS)


@pytest.fixture(scope="session")
def chaos_results(request: pytest.FixtureRequest) -> list[ScenarioResult]:
    """Where each scenario leaves its figures for the session's report."""
    return request.config.stash[_RESULTS]


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    """Write the chaos report of the scenarios that ran."""
    results = session.config.stash.get(_RESULTS, [])
    if results:
        write_reports(results, Path(session.config.getoption("--chaos-reports")))


def pytest_terminal_summary(
    terminalreporter: pytest.TerminalReporter, exitstatus: int, config: pytest.Config
) -> None:
    """Print the scenario table and where the report went."""
    results = config.stash.get(_RESULTS, [])
    if not results:
        return
    terminalreporter.section("kafkarig chaos report")
    table = markdown(results).split("\n\n")[1]
    for line in table.splitlines():
        terminalreporter.write_line(line)
    directory = Path(config.getoption("--chaos-reports"))
    terminalreporter.write_line(
        f"report: {directory / 'chaos.json'}, {directory / 'chaos.md'}, {directory / 'chaos.png'}"
    )
