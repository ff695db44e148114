"""ShareGroupConsumer settings that fail before any broker is contacted, and error mapping."""

from __future__ import annotations

import pytest
from confluent_kafka import KafkaError

from harness.errors import ConfigurationError
from harness.share_consumer import ShareGroupConsumer, ShareRunStats, _poll_failure

NOWHERE = "127.0.0.1:9"  # nothing listens: the client is created but never connects


@pytest.mark.parametrize("key", ["session.timeout.ms", "auto.offset.reset", "enable.auto.commit"])
def test_broker_side_settings_are_refused_with_the_group_config_to_use(key: str) -> None:
    with pytest.raises(ConfigurationError, match=rf"{key} cannot be set on a share consumer"):
        ShareGroupConsumer(NOWHERE, "t", group_id="g", delivery_count_limit=3, config={key: 1})


def test_an_unknown_ack_commit_mode_is_refused() -> None:
    with pytest.raises(ConfigurationError, match="ack_commit must be 'record' or 'batch'"):
        ShareGroupConsumer(NOWHERE, "t", group_id="g", delivery_count_limit=3, ack_commit="x")  # type: ignore[arg-type]


def test_no_topic_is_refused() -> None:
    with pytest.raises(ConfigurationError, match="topics must be one or more topic names"):
        ShareGroupConsumer(NOWHERE, [], group_id="g", delivery_count_limit=3)


def test_acknowledgement_is_always_explicit_and_the_given_limit_is_kept() -> None:
    consumer = ShareGroupConsumer(
        NOWHERE,
        "t",
        group_id="g",
        delivery_count_limit=4,
        config={"share.acknowledgement.mode": "implicit", "client.id": "me"},
    )
    try:
        assert consumer.config["share.acknowledgement.mode"] == "explicit"
        assert (consumer.config["client.id"], consumer.delivery_count_limit) == ("me", 4)
    finally:
        consumer.close()


def test_a_cluster_without_share_groups_gets_the_feature_to_upgrade() -> None:
    error = KafkaError(
        KafkaError.UNSUPPORTED_VERSION,
        "ShareGroupHeartbeat fatal error: Broker: API version not supported",
        fatal=True,
    )
    failure = _poll_failure(error, "localhost:9092")
    assert "the cluster at localhost:9092 has no share groups" in failure.message
    assert failure.hint is not None and "share.version=2" in failure.hint


def test_finished_counts_processed_and_dead_lettered() -> None:
    assert ShareRunStats(processed=3, dlq=2, retries=7).finished == 5
