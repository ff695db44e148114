"""Side by side: kafkarig's retry + DLQ and a share group + the broker's DLQ (KIP-932/1191).

Each scenario of :mod:`harness.smoke.routes` runs through both routes on fresh topics and
groups; the delivery accounting must hold on both, and the expected outcome (processed,
dead-lettered, redeliveries, duplicates) is the same. The comparison table is printed at the
end of the module, written to ``reports/share-side-by-side.md`` and attached to the JUnit
report as the property ``side_by_side``. Skipped, with the broker's own words, on a cluster
without share groups (``share.version`` 0) or without their DLQ (``share.version`` 1).
"""

from __future__ import annotations

import contextlib
import time
import uuid
import warnings
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Final

import pytest
from confluent_kafka import KafkaError, KafkaException
from confluent_kafka.admin import AdminClient, NewTopic

from harness.dlq_dialects import SHARE_HEADER_NAMES
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

REPORT: Final = Path("reports") / "share-side-by-side.md"
GROUP_DELETE_TIMEOUT_S: Final = 60.0
#: Per scenario: processed, dead-lettered, redeliveries, duplicates (the same on both routes).
EXPECTED: Final[dict[Scenario, tuple[int, int, int, int]]] = {
    "transient": (5, 0, 2, 0),
    "poison": (4, 1, 2, 0),
    "undecodable": (4, 1, 0, 0),
    "crash": (5, 0, 1, 0),
}

pytestmark = pytest.mark.timeout(240)

MakeTopics = Callable[[Route], Topics]


@pytest.fixture(scope="module")
def admin(bootstrap_servers: str) -> AdminClient:
    """An AdminClient on the cluster under test (module-scoped)."""
    return AdminClient({"bootstrap.servers": bootstrap_servers})


@pytest.fixture(scope="module")
def dlq_prefix(admin: AdminClient) -> str:
    """The broker's required DLQ topic prefix (``dlq.`` by default)."""
    return broker_configs(admin).get(BROKER_DLQ_PREFIX, DEFAULT_DLQ_PREFIX)


@pytest.fixture(scope="module")
def make_topics(admin: AdminClient, dlq_prefix: str) -> Iterator[MakeTopics]:
    """Create a source topic and its DLQ per route run; all deleted at the end."""
    created: list[str] = []

    def make(route: Route) -> Topics:
        source = f"smoke-share-{route}-{uuid.uuid4().hex[:8]}"
        if route == "kafkarig":
            topics = Topics(source, f"{source}-dlq")
            configs: dict[str, str] = {}
        else:
            topics = Topics(source, f"{dlq_prefix}{source}")
            configs = {DLQ_TOPIC_ENABLE: "true"}
        futures = admin.create_topics(
            [NewTopic(topics.source, 1, 1), NewTopic(topics.dlq, 1, 1, config=configs)],
            request_timeout=30,
        )
        for name, future in futures.items():
            future.result(timeout=30)
            created.append(name)
        return topics

    yield make
    if created:
        for future in admin.delete_topics(created, request_timeout=30).values():
            with contextlib.suppress(KafkaException):
                future.result(timeout=30)


@pytest.fixture(scope="module")
def groups(admin: AdminClient) -> Iterator[Callable[[str], str]]:
    """Fresh group ids; every group made is deleted at the end (its configs with it)."""
    made: list[str] = []

    def make(label: str) -> str:
        made.append(f"smoke-share-{label}-{uuid.uuid4().hex[:8]}")
        return made[-1]

    yield make
    # A SIGKILLed member keeps its group non-empty until its session times out (45 s by
    # default for share groups), so deletion is retried until then.
    left, deadline = list(made), time.monotonic() + GROUP_DELETE_TIMEOUT_S
    while left and time.monotonic() < deadline:
        for group, future in admin.delete_consumer_groups(left, request_timeout=30).items():
            try:
                future.result(timeout=30)
                left.remove(group)
            except KafkaException as error:
                if error.args[0].code() == KafkaError.GROUP_ID_NOT_FOUND:
                    left.remove(group)  # never created (e.g. the module was skipped early)
        if left:
            time.sleep(1.0)
    if left:
        warnings.warn(f"share smoke groups not deleted: {left}", stacklevel=1)


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
    record_property: Callable[[str, object], None],
) -> None:
    """Same failure, both routes: nothing lost, the same outcome, each DLQ in its dialect."""
    runs = []
    for route in ("kafkarig", "share"):
        run = run_scenario(
            route, scenario, bootstrap_servers, make_topics(route), groups(route), tmp_path, admin
        )
        side_by_side.append(run)
        runs.append(run)
    record_property("side_by_side", side_by_side_table(runs))
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
