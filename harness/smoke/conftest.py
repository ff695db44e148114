"""Fixtures that tie the smoke suite to a kafkarig stack file (the suite may use ``infra``)."""

from __future__ import annotations

from pathlib import Path

import pytest

from infra.config import Stack, TopicSpec, load_stack
from infra.errors import KafkarigError
from infra.readiness import wait_for_brokers

SEED_TOPIC = "user-events"


@pytest.fixture(scope="session")
def stack(request: pytest.FixtureRequest) -> Stack | None:
    """The stack named by ``--stack``; None when ``--bootstrap`` is given and there is none."""
    path = Path(request.config.getoption("--stack"))
    if not path.exists() and request.config.getoption("--bootstrap"):
        return None
    try:
        return load_stack(path)
    except KafkarigError as error:
        pytest.fail(f"cannot read the stack file: {error.render()}", pytrace=False)


@pytest.fixture(scope="session")
def bootstrap_servers(request: pytest.FixtureRequest, stack: Stack | None) -> str:
    """``--bootstrap``, else the stack's; the cluster must answer within 30 s."""
    given = request.config.getoption("--bootstrap")
    bootstrap = str(given) if given else stack.bootstrap_servers if stack else ""
    if not bootstrap:
        pytest.fail("no cluster to test: pass --bootstrap or --stack", pytrace=False)
    request.config._kafkarig_bootstrap = bootstrap  # type: ignore[attr-defined]
    expected = 1 if given or stack is None else len(stack.brokers)
    try:
        wait_for_brokers(bootstrap, expected, timeout_s=30)
    except KafkarigError as error:
        pytest.fail(
            f"the cluster does not answer: {error.render()}\n"
            "Hint: start the stack with `nox -s up`, or pass --bootstrap HOST:PORT.",
            pytrace=False,
        )
    return bootstrap


@pytest.fixture(scope="session")
def declared_topics(stack: Stack | None) -> list[TopicSpec]:
    """Every topic the stack declares, DLQ topics included (none without a stack)."""
    return list(stack.all_topics) if stack is not None else []


@pytest.fixture(scope="session")
def seed_topic(stack: Stack | None) -> str:
    """The seed workflow's topic: ``user-events`` when declared, else the first declared."""
    names = [spec.name for spec in stack.topics] if stack is not None else []
    return SEED_TOPIC if SEED_TOPIC in names or not names else names[0]
