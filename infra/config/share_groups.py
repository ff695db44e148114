"""``[share_groups]`` of ``stack.toml``: share groups (KIP-932) and their broker-side DLQ.

What a stack needs for queues, as found in the Kafka 4.4.0 jars (``ShareVersion``,
``GroupConfig``, ``GroupCoordinatorConfig``, ``ShareGroupConfig``,
``ShareGroupDLQStateManager``) and proven on a broker:

* the feature ``share.version``: 1 enables share groups (Kafka 4.2+), 2 adds the
  dead-letter queue of KIP-1191 (4.4+). ``kafka-storage format`` of 4.4 finalizes 2 by
  default; ``--feature share.version=N`` at format time, or ``kafka-features upgrade
  --feature share.version=N`` on a running cluster, sets it. At 0 a share consumer fails
  with "ShareGroupHeartbeat fatal error: Broker: API version not supported"; at 1 rejected
  records are archived and no dead letter is written.
* broker properties: ``errors.deadletterqueue.topic.name.prefix`` (``dlq.``; every DLQ
  topic must start with it, ``""`` lifts that), ``errors.deadletterqueue.auto.create.topics.
  enable`` (false) and the bounds a group's configs must lie within:
  ``group.share.min.record.lock.duration.ms`` (15000, max 60000),
  ``group.share.min.session.timeout.ms`` (45000, max 60000),
  ``group.share.min.heartbeat.interval.ms`` (5000, max 15000); delivery count limit 2..10.
* group configs (dynamic, settable before the group exists): ``share.auto.offset.reset``
  (``latest`` by default!), ``share.delivery.count.limit``, ``share.record.lock.duration.ms``,
  ``share.session.timeout.ms``, ``share.heartbeat.interval.ms``,
  ``errors.deadletterqueue.topic.name``, ``errors.deadletterqueue.copy.record.enable``.
* a topic config on the DLQ topic: ``errors.deadletterqueue.group.enable=true``.

A wrong DLQ (no prefix, topic missing, flag unset) is accepted when the configs are set and
only fails when the broker writes a dead letter ("Failed to write to DLQ, proceeding to
ARCHIVED regardless."): :mod:`infra.share_groups` verifies all of it after ``up``. This
module is the model and what it implies; that one talks to Kafka.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Final

from pydantic import Field, field_validator, model_validator

from infra.config.problems import Problem, problem, show
from infra.config.schema import Section

FEATURE: Final = "share.version"
FEATURE_TOOL_CLASS: Final = "org.apache.kafka.tools.FeatureCommand"
"""Main class of ``kafka-features`` (the local images have no script for it)."""
MIN_KAFKA_SHARE: Final = (4, 2, 0)
MIN_KAFKA_DLQ: Final = (4, 4, 0)
DLQ_ENABLE_CONFIG: Final = "errors.deadletterqueue.group.enable"
MAX_TOPIC_NAME_LENGTH: Final = 249

_GROUP_PATTERN = re.compile(r"[A-Za-z0-9._-]{1,249}")
_TOPIC_PATTERN = re.compile(r"[A-Za-z0-9._-]{1,249}")
_RESET_PATTERN = re.compile(
    r"earliest|latest|by_duration:P(\d+D)?(T(\d+H)?(\d+M)?(\d+(\.\d+)?S)?)?"
)


class ShareGroupSpec(Section):
    """``[[share_groups.groups]]``: one share group, its group configs and its DLQ."""

    name: str
    topics: list[str] = Field(min_length=1)
    """The declared topics the group consumes; the DLQ is named after the first."""
    auto_offset_reset: str = "earliest"
    """``share.auto.offset.reset``: earliest, latest or by_duration:<ISO-8601 duration>."""
    delivery_count_limit: int = 5
    record_lock_duration_ms: int = 30_000
    session_timeout_ms: int = 45_000
    heartbeat_interval_ms: int = 5_000
    dlq: bool = False
    """Dead letters written by the broker (KIP-1191) to :attr:`dlq_topic`."""
    dlq_topic: str | None = None
    """Default: the broker's prefix followed by the first topic (``dlq.user-events``)."""
    dlq_copy_record: bool = True
    """Copy key and value into the dead letter, not just the ``__dlq.errors.*`` headers."""
    dlq_partitions: int = Field(default=1, ge=1)

    @field_validator("name")
    @classmethod
    def _check_name(cls, value: str) -> str:
        if not _GROUP_PATTERN.fullmatch(value):
            raise problem(f"share group name {value!r}: use 1..249 characters of a-z A-Z 0-9 . _ -")
        return value

    @field_validator("topics")
    @classmethod
    def _check_topics(cls, value: list[str]) -> list[str]:
        bad = [topic for topic in value if not _TOPIC_PATTERN.fullmatch(topic)]
        if bad:
            raise problem(f"not topic names: {bad}")
        return value

    @field_validator("auto_offset_reset")
    @classmethod
    def _check_reset(cls, value: str) -> str:
        if not _RESET_PATTERN.fullmatch(value):
            raise problem(
                f"auto_offset_reset {value!r}: use earliest, latest or by_duration:<ISO-8601>, "
                "e.g. by_duration:PT1H"
            )
        return value

    @field_validator("delivery_count_limit")
    @classmethod
    def _check_limit(cls, value: int) -> int:
        if not 2 <= value <= 10:
            raise problem(
                f"delivery_count_limit {value}: Kafka allows 2..10 "
                "(group.share.min/max.delivery.count.limit)"
            )
        return value

    def dlq_topic_name(self, prefix: str) -> str | None:
        """The DLQ topic, or ``None`` without ``dlq = true``."""
        if not self.dlq:
            return None
        return self.dlq_topic or f"{prefix}{self.topics[0]}"

    def group_configs(self, prefix: str) -> dict[str, str]:
        """The group configs to set on the broker, sorted by name."""
        configs = {
            "share.auto.offset.reset": self.auto_offset_reset,
            "share.delivery.count.limit": str(self.delivery_count_limit),
            "share.heartbeat.interval.ms": str(self.heartbeat_interval_ms),
            "share.record.lock.duration.ms": str(self.record_lock_duration_ms),
            "share.session.timeout.ms": str(self.session_timeout_ms),
        }
        topic = self.dlq_topic_name(prefix)
        if topic is not None:
            configs["errors.deadletterqueue.topic.name"] = topic
            configs["errors.deadletterqueue.copy.record.enable"] = str(self.dlq_copy_record).lower()
        return dict(sorted(configs.items()))


class ShareGroupsSection(Section):
    """``[share_groups]``: enable share groups; broker-wide DLQ prefix and bounds."""

    enabled: bool = True
    dlq_topic_prefix: str = "dlq."
    """``errors.deadletterqueue.topic.name.prefix``; ``""`` allows any DLQ topic name."""
    min_record_lock_duration_ms: int = 15_000
    min_session_timeout_ms: int = 45_000
    min_heartbeat_interval_ms: int = 5_000
    groups: list[ShareGroupSpec] = Field(default_factory=list)

    @field_validator("dlq_topic_prefix")
    @classmethod
    def _check_prefix(cls, value: str) -> str:
        if value and not _TOPIC_PATTERN.fullmatch(value):
            raise problem(f"dlq_topic_prefix {value!r}: only a-z A-Z 0-9 . _ - are allowed")
        return value

    @model_validator(mode="after")
    def _check_groups(self) -> ShareGroupsSection:
        problems: list[str] = []
        for name, minimum, maximum in (
            ("min_record_lock_duration_ms", self.min_record_lock_duration_ms, 60_000),
            ("min_session_timeout_ms", self.min_session_timeout_ms, 60_000),
            ("min_heartbeat_interval_ms", self.min_heartbeat_interval_ms, 15_000),
        ):
            if not 1_000 <= minimum <= maximum:
                problems.append(f"{name} {minimum}: must be 1000..{maximum}")
        names = [group.name for group in self.groups]
        for name in sorted({n for n in names if names.count(n) > 1}):
            problems.append(f"share group {name!r} is declared twice")
        for group in self.groups:
            problems.extend(self._group_problems(group))
        if problems:
            raise problem(
                "; ".join(problems),
                "share groups: see the [share_groups] comments of examples/share-groups.toml",
            )
        return self

    def _group_problems(self, group: ShareGroupSpec) -> list[str]:
        where = f"share group {group.name!r}"
        problems = []
        for key, value, minimum, maximum in (
            (
                "record_lock_duration_ms",
                group.record_lock_duration_ms,
                self.min_record_lock_duration_ms,
                60_000,
            ),
            ("session_timeout_ms", group.session_timeout_ms, self.min_session_timeout_ms, 60_000),
            (
                "heartbeat_interval_ms",
                group.heartbeat_interval_ms,
                self.min_heartbeat_interval_ms,
                15_000,
            ),
        ):
            if not minimum <= value <= maximum:
                problems.append(f"{where}: {key} {value} outside {minimum}..{maximum}")
        if group.heartbeat_interval_ms >= group.session_timeout_ms:
            problems.append(f"{where}: heartbeat_interval_ms must be below session_timeout_ms")
        topic = group.dlq_topic_name(self.dlq_topic_prefix)
        if topic is not None:
            if topic.startswith("__"):
                problems.append(f"{where}: DLQ topic {topic!r} may not start with '__'")
            if not topic.startswith(self.dlq_topic_prefix):
                problems.append(
                    f"{where}: DLQ topic {topic!r} must start with dlq_topic_prefix "
                    f"{self.dlq_topic_prefix!r} (the broker drops dead letters otherwise)"
                )
            if not _TOPIC_PATTERN.fullmatch(topic) or len(topic) > MAX_TOPIC_NAME_LENGTH:
                problems.append(f"{where}: DLQ topic {topic!r} is not a valid topic name")
        elif group.dlq_topic is not None:
            problems.append(f"{where}: dlq_topic is set but dlq = false")
        return problems

    @property
    def uses_dlq(self) -> bool:
        """Whether any group has a broker-side DLQ."""
        return any(group.dlq for group in self.groups)


# -- what the section implies ------------------------------------------------------------


def required_share_version(section: ShareGroupsSection) -> int:
    """The ``share.version`` level the stack needs: 0 off, 1 share groups, 2 with a DLQ."""
    if not section.enabled:
        return 0
    return 2 if section.uses_dlq else 1


def storage_format_features(section: ShareGroupsSection) -> list[str]:
    """``--feature`` values for ``kafka-storage format`` (``["share.version=2"]``)."""
    return [f"{FEATURE}={required_share_version(section)}"]


def feature_upgrade_args(section: ShareGroupsSection, bootstrap: str) -> list[str]:
    """Arguments of ``kafka-features`` (or FEATURE_TOOL_CLASS) raising share.version."""
    return [
        "--bootstrap-server",
        bootstrap,
        "upgrade",
        "--feature",
        f"{FEATURE}={required_share_version(section)}",
    ]


def broker_properties(section: ShareGroupsSection) -> dict[str, str]:
    """Server properties of every broker (for ``KAFKA_*`` env), sorted by name."""
    if not section.enabled:
        return {}
    return {
        "errors.deadletterqueue.auto.create.topics.enable": "false",
        "errors.deadletterqueue.topic.name.prefix": section.dlq_topic_prefix,
        "group.share.min.heartbeat.interval.ms": str(section.min_heartbeat_interval_ms),
        "group.share.min.record.lock.duration.ms": str(section.min_record_lock_duration_ms),
        "group.share.min.session.timeout.ms": str(section.min_session_timeout_ms),
    }


@dataclass(frozen=True)
class ShareDlqTopic:
    """A DLQ topic the stack creates: ``TopicSpec(**asdict(this))`` in the stack model."""

    name: str
    partitions: int
    replication_factor: int
    config: dict[str, str]


def dlq_topics(section: ShareGroupsSection, replication_factor: int) -> list[ShareDlqTopic]:
    """The DLQ topics of every group (one per name), with the KIP-1191 opt-in config."""
    topics: dict[str, ShareDlqTopic] = {}
    for group in section.groups if section.enabled else []:
        name = group.dlq_topic_name(section.dlq_topic_prefix)
        if name is not None and name not in topics:
            topics[name] = ShareDlqTopic(
                name, group.dlq_partitions, replication_factor, {DLQ_ENABLE_CONFIG: "true"}
            )
    return list(topics.values())


def stack_problems(
    section: ShareGroupsSection,
    *,
    mode: str,
    kafka_version: str,
    declared_topics: Sequence[str],
) -> list[Problem]:
    """What the rest of the stack contradicts: ZooKeeper mode, too old a Kafka, topics."""
    if not section.enabled:
        return []
    problems = []
    if mode != "kraft":
        problems.append(
            Problem(
                "share groups need KRaft mode",
                hint='set [cluster] mode = "kraft" (Kafka 4.4), or drop [share_groups]',
            )
        )
    version = tuple(int(part) for part in re.findall(r"\d+", kafka_version)[:3])
    needed = MIN_KAFKA_DLQ if section.uses_dlq else MIN_KAFKA_SHARE
    if version < needed:
        what = "a share-group DLQ (KIP-1191)" if section.uses_dlq else "share groups"
        problems.append(
            Problem(
                f"{what} needs Kafka {'.'.join(map(str, needed))}+, the stack runs {kafka_version}",
                hint='set [cluster] kafka_version = "4.4.0" (the default in KRaft mode)',
            )
        )
    for index, group in enumerate(section.groups):
        missing = [topic for topic in group.topics if topic not in declared_topics]
        if missing:
            problems.append(
                Problem(
                    f"share group {group.name!r} reads undeclared topic(s) "
                    + ", ".join(map(show, missing)),
                    hint="declare each as a [[topics]] table, or drop it from the group's topics",
                    loc=("groups", index, "topics"),
                )
            )
    return problems
