"""After ``up``: apply ``[share_groups]`` to the cluster and verify it, like topics.

Group configs are dynamic and can be set before a group exists
(:func:`apply_group_configs`); :func:`verify_share_groups` then checks the finalized
``share.version``, the broker properties, every group's configs and every DLQ topic's
opt-in flag, and raises one :class:`~infra.share_groups.ShareGroupError` listing all
differences.
"""

from __future__ import annotations

import re
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

from infra.share_groups import (
    DLQ_ENABLE_CONFIG,
    FEATURE,
    ShareGroupError,
    ShareGroupsSection,
    broker_properties,
    dlq_topics,
    required_share_version,
)

STATE_TOPIC_REPLICAS: Final = "share.coordinator.state.topic.replication.factor"
_FEATURE_LINE: Final = re.compile(r"Feature:\s*(\S+).*?FinalizedVersionLevel:\s*(\S+)")


def parse_feature_describe(output: str) -> dict[str, str]:
    """``kafka-features describe`` output as ``{feature: finalized level}``."""
    return {match[1]: match[2] for match in _FEATURE_LINE.finditer(output)}


def apply_group_configs(
    admin: AdminClient, section: ShareGroupsSection, timeout_s: float = 15.0
) -> None:
    """Set every group's configs (incremental SET: configs set by others are kept)."""
    resources = [
        ConfigResource(
            ResourceType.GROUP,
            group.name,
            incremental_configs=[
                ConfigEntry(key, value, incremental_operation=AlterConfigOpType.SET)
                for key, value in group.group_configs(section.dlq_topic_prefix).items()
            ],
        )
        for group in section.groups
    ]
    if not resources:
        return
    for resource, future in admin.incremental_alter_configs(
        resources, request_timeout=timeout_s
    ).items():
        try:
            future.result(timeout=timeout_s)
        except KafkaException as exc:
            raise ShareGroupError(
                f"the broker refused the configs of share group {resource.name!r}: "
                f"{exc.args[0].str()}",
                hint="check the group's values against [share_groups] min_* bounds",
            ) from exc


def verify_share_groups(
    admin: AdminClient,
    section: ShareGroupsSection,
    finalized_features: Mapping[str, str],
    timeout_s: float = 15.0,
) -> None:
    """Check the cluster against the section; raise one error listing every difference.

    ``finalized_features`` comes from :func:`parse_feature_describe` (librdkafka's
    AdminClient cannot describe features).
    """
    if not section.enabled:
        return
    problems = []
    wanted = required_share_version(section)
    level = finalized_features.get(FEATURE, "0")
    if not level.isdigit() or int(level) < wanted:
        problems.append(f"{FEATURE} is finalized at {level}, the stack needs {wanted}")
    described = _describe(admin, _resources(section), timeout_s)
    broker = described.get((ResourceType.BROKER, "*"), {})
    for key, value in broker_properties(section).items():
        if broker.get(key, "") != value:
            problems.append(f"broker {key} is {broker.get(key)!r}, declared {value!r}")
    brokers = len(admin.list_topics(timeout=timeout_s).brokers)
    state_replicas = int(broker.get(STATE_TOPIC_REPLICAS, "3"))
    if state_replicas > brokers:
        problems.append(
            f"{STATE_TOPIC_REPLICAS} is {state_replicas} on {brokers} broker(s): the share "
            "state topic cannot be created and share consumers receive nothing"
        )
    for group in section.groups:
        actual = described.get((ResourceType.GROUP, group.name), {})
        for key, value in group.group_configs(section.dlq_topic_prefix).items():
            if actual.get(key) != value:
                problems.append(
                    f"share group {group.name!r}: {key} is {actual.get(key)!r}, declared {value!r}"
                )
    for topic in dlq_topics(section, replication_factor=1):
        topic_config = described.get((ResourceType.TOPIC, topic.name))
        if topic_config is None:
            problems.append(f"DLQ topic {topic.name!r} does not exist")
        elif topic_config.get(DLQ_ENABLE_CONFIG) != "true":
            problems.append(f"DLQ topic {topic.name!r} lacks {DLQ_ENABLE_CONFIG}=true")
    if problems:
        raise ShareGroupError(
            "share groups differ from stack.toml:\n  " + "\n  ".join(problems),
            hint="`nox -s up` applies [share_groups]; a cluster formatted before share "
            f"groups were declared needs: kafka-features upgrade --feature {FEATURE}={wanted}",
        )


def _resources(section: ShareGroupsSection) -> list[ConfigResource]:
    return [
        ConfigResource(ResourceType.BROKER, "*"),
        *(ConfigResource(ResourceType.GROUP, group.name) for group in section.groups),
        *(ConfigResource(ResourceType.TOPIC, t.name) for t in dlq_topics(section, 1)),
    ]


def _describe(
    admin: AdminClient, resources: list[ConfigResource], timeout_s: float
) -> dict[tuple[ResourceType, str], dict[str, str]]:
    """Configs per (type, name); a missing topic is left out, a broker as ``"*"``."""
    broker_id = str(min(admin.list_topics(timeout=timeout_s).brokers))
    existing = set(admin.list_topics(timeout=timeout_s).topics)
    wanted = [
        ConfigResource(r.restype, broker_id) if r.restype == ResourceType.BROKER else r
        for r in resources
        if r.restype != ResourceType.TOPIC or r.name in existing
    ]
    result: dict[tuple[ResourceType, str], dict[str, str]] = {}
    for resource, future in admin.describe_configs(wanted, request_timeout=timeout_s).items():
        try:
            entries = future.result(timeout=timeout_s)
        except KafkaException as exc:
            raise ShareGroupError(
                f"cannot describe {resource.restype.name.lower()} {resource.name!r}: "
                f"{exc.args[0].str()}"
            ) from exc
        name = "*" if resource.restype == ResourceType.BROKER else resource.name
        result[(resource.restype, name)] = {
            key: entry.value for key, entry in entries.items() if entry.value is not None
        }
    return result
