"""Share groups and the broker's DLQ on real Kafka 4.4.0: enabling them, and the share route.

One broker per module, started with ``docker run`` and the share-group settings passed as
``KAFKA_*`` env (the lowest lock duration Kafka allows a broker to configure, so a crashed
member's records come back in seconds). Every scenario of :mod:`harness.smoke.routes` runs
through the share route and must lose nothing; the dead letters are the broker's, with the
KIP-1191 headers. The ``share.version`` feature is proven by formatting a broker at 0 and
upgrading it with Kafka's FeatureCommand.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from confluent_kafka.admin import (
    AdminClient,
    AlterConfigOpType,
    ConfigEntry,
    ConfigResource,
    NewTopic,
    ResourceType,
)
from python_on_whales import Container, DockerClient

from harness.dlq_dialects import SHARE_HEADER_NAMES
from harness.errors import ConsumerError
from harness.share_admin import DLQ_TOPIC_ENABLE
from harness.share_consumer import ShareGroupConsumer
from harness.smoke.routes import (
    SCENARIOS,
    Scenario,
    Topics,
    probe_share_dlq,
    read_dlq,
    run_scenario,
)
from infra.config.share_groups import (
    FEATURE_TOOL_CLASS,
    ShareGroupsSection,
    broker_properties,
    dlq_topics,
    feature_upgrade_args,
)
from infra.errors import ShareGroupError
from infra.readiness import wait_for_brokers
from infra.share_groups import (
    apply_group_configs,
    parse_feature_describe,
    verify_share_groups,
)
from tests.integration.conftest import KAFKA_4_IMAGE, RunContainer, free_port, kraft_env

LOCK_MS = 2000
SECTION = ShareGroupsSection.model_validate(
    {
        "dlq_topic_prefix": "dlq.",
        "min_record_lock_duration_ms": 1000,
        "groups": [
            {
                "name": "it-workers",
                "topics": ["it-orders"],
                "delivery_count_limit": 3,
                "record_lock_duration_ms": LOCK_MS,
                "dlq": True,
            }
        ],
    }
)


def _env(port: int, name: str) -> dict[str, str]:
    # The share coordinator's state topic defaults to 3 replicas: on one broker it is never
    # created and share consumers silently receive nothing (the compose template sets 1).
    properties = broker_properties(SECTION) | {
        "share.coordinator.state.topic.replication.factor": "1",
        "share.coordinator.state.topic.min.isr": "1",
    }
    share_env = {"KAFKA_" + key.upper().replace(".", "_"): v for key, v in properties.items()}
    return kraft_env(1, port, "1@localhost:19093", name) | share_env


def _features(container: Container) -> dict[str, str]:
    command = ["kafka-run-class", FEATURE_TOOL_CLASS, "--bootstrap-server", "localhost:19092"]
    return parse_feature_describe(str(container.execute([*command, "describe"])))


@pytest.fixture(scope="module")
def share_broker(docker: DockerClient, local_images: list[str]) -> Iterator[tuple[str, Container]]:
    """One Kafka 4.4.0 broker with [share_groups]'s properties; removed at the end."""
    port, name = free_port(), f"share-{uuid.uuid4().hex[:8]}"
    container = docker.run(
        KAFKA_4_IMAGE,
        detach=True,
        name=name,
        hostname=name,
        envs=_env(port, name),
        publish=[(f"127.0.0.1:{port}", port)],
    )
    assert isinstance(container, Container)
    try:
        bootstrap = f"localhost:{port}"
        wait_for_brokers(bootstrap, 1, timeout_s=120)
        admin = AdminClient({"bootstrap.servers": bootstrap})
        assert probe_share_dlq(bootstrap, admin, _topics(admin, "probe"), "it-probe") is None
        yield bootstrap, container
    finally:
        container.remove(force=True, volumes=True)


def _topics(admin: AdminClient, label: str) -> Topics:
    source = f"it-share-{label}-{uuid.uuid4().hex[:8]}"
    topics = Topics(source, f"dlq.{source}")
    futures = admin.create_topics(
        [NewTopic(source, 1, 1), NewTopic(topics.dlq, 1, 1, config={DLQ_TOPIC_ENABLE: "true"})]
    )
    for future in futures.values():
        future.result(timeout=30)
    return topics


@pytest.mark.parametrize("scenario", SCENARIOS)
def test_the_share_route_loses_nothing_and_the_broker_writes_kip_1191_dead_letters(
    scenario: Scenario, share_broker: tuple[str, Container], tmp_path: Path
) -> None:
    bootstrap, _ = share_broker
    admin = AdminClient({"bootstrap.servers": bootstrap})
    topics = _topics(admin, scenario)
    group = f"it-share-{uuid.uuid4().hex[:8]}"

    run = run_scenario("share", scenario, bootstrap, topics, group, tmp_path, admin)

    report = run.report
    assert report is not None  # account_deliveries raised if anything was lost
    print(f"{scenario}: {report.summary()} redeliveries={run.redeliveries}")
    assert report.acked == len(run.ids)
    assert report.duplicates == 0
    if scenario in ("poison", "undecodable"):
        assert run.dlq == [run.victim]
        assert set(run.processed) == set(run.ids) - {run.victim}
        (dead,) = run.dead_letters
        assert dead.dialect == "share-group"
        assert dead.context_headers == SHARE_HEADER_NAMES
        assert (dead.source_topic, dead.source_partition, dead.source_offset) == (
            topics.source,
            0,
            run.victim_offset,
        )
        assert dead.group == group
        assert dead.attempts == (3 if scenario == "poison" else 1)
        assert dead.error_message == "Offset rejected by client."
    else:
        assert run.dlq == []
        assert sorted(run.processed) == sorted(run.ids)
        assert run.calls[run.victim] == (3 if scenario == "transient" else 2)


def test_a_section_applied_after_up_verifies_and_a_broken_dlq_is_reported(
    share_broker: tuple[str, Container],
) -> None:
    bootstrap, container = share_broker
    admin = AdminClient({"bootstrap.servers": bootstrap})
    (dlq,) = dlq_topics(SECTION, replication_factor=1)
    admin.create_topics([NewTopic("it-orders", 1, 1), NewTopic(dlq.name, 1, 1, config=dlq.config)])[
        dlq.name
    ].result(timeout=30)

    apply_group_configs(admin, SECTION)
    features = _features(container)
    assert features["share.version"] == "2", "Kafka 4.4.0 formats with share.version=2"
    verify_share_groups(admin, SECTION, features)

    with pytest.raises(
        ShareGroupError, match=r"share.version is finalized at 1, the stack needs 2"
    ):
        verify_share_groups(admin, SECTION, {**features, "share.version": "1"})
    other = SECTION.model_copy(
        update={"groups": [SECTION.groups[0].model_copy(update={"delivery_count_limit": 4})]}
    )
    with pytest.raises(ShareGroupError, match=r"share.delivery.count.limit is '3', declared '4'"):
        verify_share_groups(admin, other, features)
    flag_off = ConfigResource(
        ResourceType.TOPIC,
        dlq.name,
        incremental_configs=[
            ConfigEntry(DLQ_TOPIC_ENABLE, "false", incremental_operation=AlterConfigOpType.SET)
        ],
    )
    for future in admin.incremental_alter_configs([flag_off]).values():
        future.result(timeout=30)
    with pytest.raises(ShareGroupError, match=rf"DLQ topic '{dlq.name}' lacks {DLQ_TOPIC_ENABLE}"):
        verify_share_groups(admin, SECTION, features)


def test_share_version_0_refuses_share_consumers_until_kafka_features_upgrades_it(
    run_container: RunContainer, unique_name: str, tmp_path: Path
) -> None:
    port, name = free_port(), f"sv0-{unique_name}"
    format_at_0 = (
        "kafka-entrypoint print-properties > /tmp/server.properties && kafka-storage format "
        '-t "$CLUSTER_ID" -c /tmp/server.properties --feature share.version=0 && '
        "exec kafka-entrypoint start"
    )
    container = run_container(
        KAFKA_4_IMAGE,
        _env(port, name),
        name=name,
        ports={port: port},
        command=["bash", "-c", format_at_0],
    )
    bootstrap = f"localhost:{port}"
    wait_for_brokers(bootstrap, 1, timeout_s=120)
    assert _features(container)["share.version"] == "0"
    admin = AdminClient({"bootstrap.servers": bootstrap})
    topics = _topics(admin, "sv0")

    with (
        ShareGroupConsumer(
            bootstrap, topics.source, group_id="it-sv0", delivery_count_limit=3
        ) as consumer,
        pytest.raises(ConsumerError, match=r"has no share groups.*API version not supported"),
    ):
        consumer.run(lambda value, message: None, idle_timeout_s=20)

    upgrade = [
        "kafka-run-class",
        FEATURE_TOOL_CLASS,
        *feature_upgrade_args(SECTION, "localhost:19092"),
    ]
    assert "share.version was upgraded to 2" in str(container.execute(upgrade))
    assert _features(container)["share.version"] == "2"
    assert probe_share_dlq(bootstrap, admin, _topics(admin, "sv2"), "it-sv2-probe") is None
    run = run_scenario("share", "undecodable", bootstrap, topics, "it-sv2", tmp_path, admin)
    assert run.dlq == [run.victim], "after the upgrade the broker dead-letters"
    assert read_dlq(bootstrap, topics.dlq, 1, timeout_s=5)
