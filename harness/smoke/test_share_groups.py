"""Side by side: kafkarig's retry + DLQ and a share group + the broker's DLQ (KIP-932/1191).

Each scenario of :mod:`harness.smoke.routes` runs through both routes on fresh topics and
groups; the delivery accounting must hold on both, and the expected outcome (processed,
dead-lettered, redeliveries, duplicates) is the same. The comparison table is printed at the
end of the module, written to ``reports/share-side-by-side.md`` and attached to the JUnit
report as the property ``side_by_side``.

It runs on kafkarig's own plaintext stack when the stack declares ``[share_groups]`` (see
``examples/share-groups.toml``): the comparison takes a minute (a crashed share consumer's
records come back only after the lock duration), too long for every smoke run. Skipped, with
the broker's own words, on a cluster without share groups (``share.version`` 0) or without
their DLQ (``share.version`` 1). Its topics and groups are this run's scratch names.
"""

from __future__ import annotations

import time
import warnings
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Final

import pytest
from confluent_kafka.admin import AdminClient, NewTopic

from harness.dlq_dialects import SHARE_HEADER_NAMES
from harness.scratch import ScratchRegistry
from harness.share_admin import (
    BROKER_DLQ_PREFIX,
    DEFAULT_DLQ_PREFIX,
    DLQ_TOPIC_ENABLE,
    broker_configs,
)
from harness.smoke.routes import (
    ROUTE_NAMES,
    SCENARIOS,
    Route,
    RouteRun,
    Scenario,
    Topics,
    probe_share_dlq,
    run_scenario,
    side_by_side_table,
)
from infra.config import Stack

REPORT: Final = Path("reports") / "share-side-by-side.md"
GROUP_DELETE_TIMEOUT_S: Final = 60.0
#: Per scenario: processed, dead-lettered, redeliveries, duplicates (the same on both routes).
EXPECTED: Final[dict[Scenario, tuple[int, int, int, int]]] = {
    "transient": (5, 0, 2, 0),
    "poison": (4, 1, 2, 0),
    "undecodable": (4, 1, 0, 0),
    "crash": (5, 0, 1, 0),
}

pytestmark = [
    pytest.mark.timeout(240),
    pytest.mark.writes,
    pytest.mark.own_cluster(reason="the comparison runs on a stack that declares share groups"),
]

MakeTopics = Callable[[Route], Topics]


@pytest.fixture(scope="module")
def admin(
    stack: Stack | None, kafka_admin: AdminClient, kafka_client_config: dict[str, str]
) -> AdminClient:
    """The cluster's AdminClient, once the stack is known to declare share groups."""
    if stack is None or stack.share_groups is None or not stack.share_groups.enabled:
        pytest.skip(
            "the stack declares no [share_groups]: run `nox -s smoke -- --stack "
            "examples/share-groups.toml` on that stack for the side-by-side comparison"
        )
    if kafka_client_config:
        pytest.skip("the share-group comparison runs on plaintext stacks only")
    return kafka_admin


@pytest.fixture(scope="module")
def dlq_prefix(admin: AdminClient, scratch: ScratchRegistry) -> str:
    """The broker's required DLQ topic prefix (``dlq.`` by default); a scratch name behind it
    is still this run's."""
    prefix = broker_configs(admin).get(BROKER_DLQ_PREFIX, DEFAULT_DLQ_PREFIX)
    scratch.outer_prefixes.add(prefix)
    return prefix


@pytest.fixture(scope="module")
def make_topics(
    admin: AdminClient, dlq_prefix: str, scratch: ScratchRegistry
) -> Iterator[MakeTopics]:
    """Create a source topic and its DLQ per route run; all deleted at the end."""
    created: list[str] = []

    def make(route: Route) -> Topics:
        source = scratch.topic_name(f"share-{route}")
        if route == "kafkarig":
            topics = Topics(source, f"{source}-dlq")
            configs: dict[str, str] = {}
        else:
            topics = Topics(source, f"{dlq_prefix}{source}")
            configs = {DLQ_TOPIC_ENABLE: "true"}
        scratch.register_topic(topics.dlq)
        futures = admin.create_topics(
            [NewTopic(topics.source, 1, 1), NewTopic(topics.dlq, 1, 1, config=configs)],
            request_timeout=30,
        )
        for name, future in futures.items():
            future.result(timeout=30)
            created.append(name)
        return topics

    yield make
    scratch.delete_topics(admin, created)


@pytest.fixture(scope="module")
def groups(admin: AdminClient, scratch: ScratchRegistry) -> Iterator[Callable[[str], str]]:
    """Fresh group ids; every group made is deleted at the end (its configs with it)."""
    made: list[str] = []

    def make(label: str) -> str:
        made.append(scratch.group_name(f"share-{label}"))
        return made[-1]

    yield make
    # A SIGKILLed member keeps its group non-empty until its session times out (45 s by
    # default for share groups), so deletion is retried until then (and at session end).
    left = scratch.delete_groups(admin, made, timeout_s=GROUP_DELETE_TIMEOUT_S)
    if left:
        warnings.warn(f"share smoke groups not deleted yet: {left}", stacklevel=1)


@pytest.fixture(scope="module")
def share_dlq_available(
    bootstrap_servers: str,
    admin: AdminClient,
    make_topics: MakeTopics,
    groups: Callable[[str], str],
) -> None:
    """Skip the module, with the reason, unless a rejected record reaches the broker's DLQ."""
    reason = probe_share_dlq(bootstrap_servers, admin, make_topics("share"), groups("probe"))
    if reason is not None:
        pytest.skip(reason)


@pytest.fixture(scope="module")
def side_by_side(request: pytest.FixtureRequest) -> Iterator[list[RouteRun]]:
    """Collects every run; prints and writes the table when the module ends."""
    runs: list[RouteRun] = []
    yield runs
    if not runs:
        return
    table = side_by_side_table(sorted(runs, key=lambda r: (SCENARIOS.index(r.scenario), r.route)))
    REPORT.parent.mkdir(exist_ok=True)
    REPORT.write_text(f"# Side by side ({time.strftime('%Y-%m-%d %H:%M')})\n\n{table}\n")
    reporter = request.config.pluginmanager.get_plugin("terminalreporter")
    capture = request.config.pluginmanager.get_plugin("capturemanager")
    if reporter is not None and capture is not None:
        with capture.global_and_fixture_disabled():
            reporter.write_sep("-", "kafkarig retry + DLQ vs share group + broker DLQ")
            for line in table.splitlines():
                reporter.write_line(line)
            reporter.write_line(f"(also in {REPORT})")


@pytest.mark.parametrize("scenario", SCENARIOS)
def test_both_routes_account_for_every_record(
    scenario: Scenario,
    bootstrap_servers: str,
    admin: AdminClient,
    make_topics: MakeTopics,
    groups: Callable[[str], str],
    share_dlq_available: None,
    side_by_side: list[RouteRun],
    tmp_path: Path,
    record_testsuite_property: Callable[[str, object], None],
) -> None:
    """Same failure, both routes: nothing lost, the same outcome, each DLQ in its dialect."""
    runs = []
    for route in ("kafkarig", "share"):
        run = run_scenario(
            route, scenario, bootstrap_servers, make_topics(route), groups(route), tmp_path, admin
        )
        side_by_side.append(run)
        runs.append(run)
    record_testsuite_property(f"side_by_side_{scenario}", side_by_side_table(runs))
    for run in runs:
        report = run.report
        assert report is not None
        outcome = (report.processed_unique, report.dlq_unique, run.redeliveries, report.duplicates)
        assert outcome == EXPECTED[scenario], f"{ROUTE_NAMES[run.route]}: {outcome}"
        for context in run.dead_letters:
            assert context.dialect == ("kafkarig" if run.route == "kafkarig" else "share-group")
            assert (context.source_topic, context.source_offset, context.group) == (
                run.source_topic,
                run.victim_offset,
                run.group,
            ), f"{ROUTE_NAMES[run.route]}: the dead letter names its source record and group"
    kafkarig, share = runs
    if scenario in ("poison", "undecodable"):
        (ours,), (brokers,) = kafkarig.dead_letters, share.dead_letters
        assert brokers.context_headers == SHARE_HEADER_NAMES, "the broker wrote KIP-1191 headers"
        expected_count = 3 if scenario == "poison" else 1
        assert (ours.attempts, brokers.attempts) == (expected_count, expected_count)
        assert brokers.error_message == "Offset rejected by client."
        assert kafkarig.dlq == [kafkarig.victim] and share.dlq == [share.victim]
