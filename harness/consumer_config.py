"""The retrying consumer's client settings, and reading a group's committed offsets.

:data:`DEFAULT_CONSUMER_CONFIG` is the seed's consumer (group ``analytics-group``,
``auto.offset.reset=earliest``, auto-commit on) with ``enable.auto.offset.store`` off: the
consumer stores an offset itself, only after the record was handled or dead-lettered.
:func:`merge_consumer_config` puts a caller's settings over it and refuses what would break
that rule. Both group protocols work: ``classic`` (the default) and KIP-848's ``consumer``
(``group.protocol=consumer``; its session timeout and heartbeat are the broker's settings).
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from typing import Any, Final

from confluent_kafka import Consumer, KafkaException, TopicPartition

from harness.errors import ConfigurationError, ConsumerError

#: The seed's consumer settings, verbatim (kafka-python names translated). Auto-commit of
#: *positions*: a record counts as consumed once polled, before it is processed. Only for
#: demonstrating what kafkarig does not do.
SEED_CONSUMER_CONFIG: Final[Mapping[str, Any]] = {
    "group.id": "analytics-group",
    "auto.offset.reset": "earliest",
    "enable.auto.commit": True,
}

#: The defaults of the retrying consumer: the seed's, with explicit offset stores.
DEFAULT_CONSUMER_CONFIG: Final[Mapping[str, Any]] = {
    **SEED_CONSUMER_CONFIG,
    "enable.auto.offset.store": False,
}

#: Client settings that the broker owns under ``group.protocol=consumer`` (librdkafka
#: refuses them there).
CLASSIC_ONLY_SETTINGS: Final = ("session.timeout.ms", "heartbeat.interval.ms")


def is_true(value: object) -> bool:
    """A librdkafka boolean setting given as bool, number or string."""
    return str(value).lower() in ("true", "1")


def merge_consumer_config(
    bootstrap_servers: str, config: Mapping[str, Any] | None, group_id: str | None
) -> dict[str, Any]:
    """``config`` over :data:`DEFAULT_CONSUMER_CONFIG`, checked; ``group_id`` sets ``group.id``."""
    user_config = dict(config or {})
    if group_id is not None:
        if user_config.get("group.id", group_id) != group_id:
            raise ConfigurationError(
                f"group_id={group_id!r} contradicts config group.id={user_config['group.id']!r}",
                hint="set the group in one place",
            )
        user_config["group.id"] = group_id
    merged: dict[str, Any] = {
        **DEFAULT_CONSUMER_CONFIG,
        **user_config,
        "bootstrap.servers": bootstrap_servers,
    }
    if is_true(merged.get("enable.auto.offset.store")):
        raise ConfigurationError(
            "enable.auto.offset.store must be false: offsets are stored only after a "
            "record was handled or dead-lettered",
            hint="drop enable.auto.offset.store from the consumer config",
        )
    if str(merged.get("group.protocol", "classic")) == "consumer":
        refused = [key for key in CLASSIC_ONLY_SETTINGS if key in merged]
        if refused:
            raise ConfigurationError(
                f"{', '.join(refused)} cannot be set with group.protocol=consumer: the "
                "broker decides them (group.consumer.session.timeout.ms, "
                "group.consumer.heartbeat.interval.ms)",
                hint="drop them from the consumer config, or set them on the brokers",
            )
    return merged


def check_poll_timeout(poll_timeout_s: float, config: Mapping[str, Any]) -> None:
    """The poll slice must stay far below ``max.poll.interval.ms``."""
    max_poll_interval_ms = float(config.get("max.poll.interval.ms", 300_000))
    if not 0 < poll_timeout_s * 1000 <= max_poll_interval_ms / 10:
        raise ConfigurationError(
            f"poll_timeout_s={poll_timeout_s} must be > 0 and at most a tenth of "
            f"max.poll.interval.ms ({max_poll_interval_ms:.0f} ms)"
        )


def topic_list(topics: str | Sequence[str]) -> list[str]:
    """One or more topic names as a list."""
    items = [topics] if isinstance(topics, str) else list(topics)
    if not items or not all(isinstance(t, str) and t for t in items):
        raise ConfigurationError(f"topics must be one or more topic names, got {topics!r}")
    return items


def committed_offsets(
    bootstrap_servers: str,
    group_id: str,
    topic: str,
    *,
    timeout_s: float = 10.0,
    config: Mapping[str, Any] | None = None,
) -> dict[int, int | None]:
    """The group's committed offset per partition of ``topic`` (``None``: nothing committed).

    Uses a throw-away client that never joins the group, so it disturbs no member.
    Transient errors (e.g. the group coordinator still loading) are retried until
    ``timeout_s``.
    """
    client = Consumer(
        {
            **(config or {}),
            "bootstrap.servers": bootstrap_servers,
            "group.id": group_id,
            "enable.auto.commit": False,
        }
    )
    deadline = time.monotonic() + timeout_s
    try:
        metadata = client.list_topics(topic, timeout=timeout_s)
        topic_metadata = metadata.topics.get(topic)
        if topic_metadata is None or topic_metadata.error is not None:
            why = "absent" if topic_metadata is None else topic_metadata.error.str()
            raise ConsumerError(f"cannot read committed offsets: topic {topic!r} is {why}")
        partitions = [TopicPartition(topic, p) for p in sorted(topic_metadata.partitions)]
        while True:
            try:
                committed = client.committed(
                    partitions, timeout=max(0.1, deadline - time.monotonic())
                )
                break
            except KafkaException:
                if time.monotonic() + 0.2 >= deadline:
                    raise
                time.sleep(0.2)
        return {tp.partition: (tp.offset if tp.offset >= 0 else None) for tp in committed}
    except KafkaException as exc:
        raise ConsumerError(
            f"cannot read committed offsets of group {group_id!r} on {topic!r}: {exc.args[0]}",
            hint=f"is the broker at {bootstrap_servers} reachable?",
        ) from exc
    finally:
        client.close()
