"""Share-group plumbing on the AdminClient: group configs, the broker's DLQ prefix, a probe.

Share groups (KIP-932) take their behaviour from *group configs* rather than client
settings: ``share.auto.offset.reset`` (``latest`` by default: a new group skips what is
already in the topic), ``share.delivery.count.limit`` (5; the broker bounds it to
``group.share.min/max.delivery.count.limit``, 2..10), ``share.record.lock.duration.ms`` and,
for the broker-side dead-letter queue of KIP-1191 (Kafka 4.4, feature ``share.version=2``),
``errors.deadletterqueue.topic.name`` and ``errors.deadletterqueue.copy.record.enable``.
The DLQ topic itself needs the topic config ``errors.deadletterqueue.group.enable=true`` and
a name starting with the broker's ``errors.deadletterqueue.topic.name.prefix`` (``dlq.``).
A misconfigured DLQ is not refused when the configs are set: the broker logs "Failed to
write to DLQ, proceeding to ARCHIVED regardless." and the dead letter is gone, which is why
:func:`dlq_problems` checks before anything is rejected. Nothing here imports ``infra``.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from typing import Final

from confluent_kafka import KafkaException
from confluent_kafka.admin import (
    AdminClient,
    AlterConfigOpType,
    ConfigEntry,
    ConfigResource,
    ResourceType,
)

from harness.errors import ConfigurationError

DELIVERY_COUNT_LIMIT: Final = "share.delivery.count.limit"
AUTO_OFFSET_RESET: Final = "share.auto.offset.reset"
RECORD_LOCK_DURATION_MS: Final = "share.record.lock.duration.ms"
DLQ_TOPIC: Final = "errors.deadletterqueue.topic.name"
DLQ_COPY_RECORD: Final = "errors.deadletterqueue.copy.record.enable"
DLQ_TOPIC_ENABLE: Final = "errors.deadletterqueue.group.enable"
BROKER_DLQ_PREFIX: Final = "errors.deadletterqueue.topic.name.prefix"
BROKER_MIN_LOCK_DURATION_MS: Final = "group.share.min.record.lock.duration.ms"
#: Kafka's default of errors.deadletterqueue.topic.name.prefix.
DEFAULT_DLQ_PREFIX: Final = "dlq."


def _fail(what: str, exc: KafkaException, hint: str) -> ConfigurationError:
    error = exc.args[0]
    text = error.str() if hasattr(error, "str") else str(error)
    return ConfigurationError(f"{what}: {text}", hint=hint)


def set_group_configs(
    admin: AdminClient, group: str, configs: Mapping[str, str], *, timeout_s: float = 15.0
) -> None:
    """Set ``configs`` on share group ``group`` (it need not exist yet); others are kept.

    Returns once the broker describes the new values (its metadata catches up with the
    controller asynchronously), so a consumer started next sees them.
    """
    entries = [
        ConfigEntry(name, value, incremental_operation=AlterConfigOpType.SET)
        for name, value in configs.items()
    ]
    resource = ConfigResource(ResourceType.GROUP, group, incremental_configs=entries)
    for future in admin.incremental_alter_configs([resource], request_timeout=timeout_s).values():
        try:
            future.result(timeout=timeout_s)
        except KafkaException as exc:
            raise _fail(
                f"the broker refused the configs of share group {group!r} ({dict(configs)})",
                exc,
                "share.delivery.count.limit and share.record.lock.duration.ms must lie within "
                "the broker's group.share.min/max.* bounds",
            ) from exc
    deadline = time.monotonic() + timeout_s
    while True:
        current = group_configs(admin, group, timeout_s=timeout_s)
        stale = {
            name: current.get(name) for name, value in configs.items() if current.get(name) != value
        }
        if not stale:
            return
        if time.monotonic() >= deadline:
            raise ConfigurationError(
                f"share group {group!r} still shows {stale} {timeout_s} s after setting "
                f"{dict(configs)}",
                hint="the broker's metadata is lagging; is the controller healthy?",
            )
        time.sleep(0.1)


def delete_group_configs(
    admin: AdminClient, group: str, names: list[str], *, timeout_s: float = 15.0
) -> None:
    """Remove the group configs ``names`` from ``group`` (back to the broker's defaults)."""
    entries = [
        ConfigEntry(name, "", incremental_operation=AlterConfigOpType.DELETE) for name in names
    ]
    resource = ConfigResource(ResourceType.GROUP, group, incremental_configs=entries)
    for future in admin.incremental_alter_configs([resource], request_timeout=timeout_s).values():
        try:
            future.result(timeout=timeout_s)
        except KafkaException as exc:
            raise _fail(
                f"cannot delete configs of group {group!r}", exc, "is the broker up?"
            ) from exc


def group_configs(admin: AdminClient, group: str, *, timeout_s: float = 15.0) -> dict[str, str]:
    """Every config of group ``group`` as the broker resolves it (defaults included)."""
    return _describe(admin, ResourceType.GROUP, group, timeout_s)


def broker_configs(
    admin: AdminClient, broker_id: str | None = None, *, timeout_s: float = 15.0
) -> dict[str, str]:
    """The configs of one broker (by default the one with the lowest id)."""
    if broker_id is None:
        brokers = admin.list_topics(timeout=timeout_s).brokers
        if not brokers:
            raise ConfigurationError("the cluster reports no brokers", hint="is it up?")
        broker_id = str(min(brokers))
    return _describe(admin, ResourceType.BROKER, broker_id, timeout_s)


def topic_configs(admin: AdminClient, topic: str, *, timeout_s: float = 15.0) -> dict[str, str]:
    """Every config of topic ``topic``."""
    return _describe(admin, ResourceType.TOPIC, topic, timeout_s)


def _describe(
    admin: AdminClient, kind: ResourceType, name: str, timeout_s: float
) -> dict[str, str]:
    futures = admin.describe_configs([ConfigResource(kind, name)], request_timeout=timeout_s)
    (future,) = futures.values()
    try:
        entries = future.result(timeout=timeout_s)
    except KafkaException as exc:
        raise _fail(
            f"cannot describe the configs of {kind.name.lower()} {name!r}",
            exc,
            "is the broker reachable, and does the client have DescribeConfigs rights?",
        ) from exc
    return {key: entry.value for key, entry in entries.items() if entry.value is not None}


def delivery_count_limit(admin: AdminClient, group: str, *, timeout_s: float = 15.0) -> int:
    """The delivery count limit in force for ``group`` (its config, else the broker's)."""
    value = group_configs(admin, group, timeout_s=timeout_s).get(DELIVERY_COUNT_LIMIT)
    if value is None or not value.isdigit():
        raise ConfigurationError(
            f"the broker reports no usable {DELIVERY_COUNT_LIMIT} for group {group!r} "
            f"(got {value!r})",
            hint="share groups need Kafka 4.2+ with share.version >= 1; or pass "
            "delivery_count_limit explicitly",
        )
    return int(value)


def dlq_problems(admin: AdminClient, group: str, *, timeout_s: float = 15.0) -> list[str]:
    """Why the broker would drop ``group``'s dead letters, one sentence each (empty: none).

    Checks what Kafka 4.4 checks only when it writes a dead letter: a DLQ topic is set, it
    does not start with ``__``, it has the broker's prefix, it exists, and it carries
    ``errors.deadletterqueue.group.enable=true``. (Auto-creation is not assumed.)
    """
    topic = group_configs(admin, group, timeout_s=timeout_s).get(DLQ_TOPIC, "")
    if not topic:
        return [f"share group {group!r} has no {DLQ_TOPIC}: rejected records are archived"]
    prefix = broker_configs(admin, timeout_s=timeout_s).get(BROKER_DLQ_PREFIX, DEFAULT_DLQ_PREFIX)
    problems = []
    if topic.startswith("__"):
        problems.append(f"DLQ topic {topic!r} starts with '__', which the broker refuses")
    if prefix and not topic.startswith(prefix):
        problems.append(
            f"DLQ topic {topic!r} lacks the broker's required prefix {prefix!r} "
            f"({BROKER_DLQ_PREFIX})"
        )
    if topic not in admin.list_topics(timeout=timeout_s).topics:
        problems.append(f"DLQ topic {topic!r} does not exist")
    elif topic_configs(admin, topic, timeout_s=timeout_s).get(DLQ_TOPIC_ENABLE) != "true":
        problems.append(f"DLQ topic {topic!r} lacks the topic config {DLQ_TOPIC_ENABLE}=true")
    return problems
