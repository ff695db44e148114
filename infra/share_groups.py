"""``[share_groups]`` as a kind of declared resource: planned, applied and verified by ``up``.

Group configs are dynamic and can be set before a group exists
(:func:`apply_group_configs`); the ``share.version`` feature is read and raised with Kafka's
FeatureCommand inside a broker container (librdkafka's AdminClient has no feature API);
:func:`verify_share_groups` then checks the finalized ``share.version``, the broker
properties, every group's configs and every DLQ topic's opt-in flag, and raises one
:class:`~infra.errors.ShareGroupError` listing all differences.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import ClassVar, Final

from confluent_kafka import KafkaException
from confluent_kafka.admin import (
    AdminClient,
    AlterConfigOpType,
    ConfigEntry,
    ConfigResource,
    ResourceType,
)
from python_on_whales import DockerClient
from python_on_whales.exceptions import DockerException

from infra.config import INTERNAL_PORT, Stack
from infra.config.share_groups import (
    DLQ_ENABLE_CONFIG,
    FEATURE,
    FEATURE_TOOL_CLASS,
    ShareGroupsSection,
    broker_properties,
    dlq_topics,
    feature_upgrade_args,
    required_share_version,
)
from infra.docker import docker_client, docker_failure
from infra.errors import KafkarigError, ShareGroupError
from infra.plan import Action, Plan, Verb

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


# --------------------------------------------------------------------------- the kind


def feature_tool(flavor: str) -> list[str]:
    """The ``kafka-features`` command inside a broker container of the flavor."""
    if flavor == "apache":
        return ["/opt/kafka/bin/kafka-features.sh"]
    if flavor == "confluent":
        return ["kafka-features"]
    return ["kafka-run-class", FEATURE_TOOL_CLASS]  # the local images have no script for it


class ShareGroupAction(Action):
    """An action on the share groups of a stack."""

    kind: ClassVar[str] = "share group"


@dataclass(frozen=True)
class RaiseShareVersion(ShareGroupAction):
    """Upgrade the finalized ``share.version`` (a cluster formatted before it was declared)."""

    current: int
    declared: int
    verb: ClassVar[Verb] = "update"

    @property
    def name(self) -> str:
        return FEATURE

    def describe(self) -> str:
        return f"feature level {self.current} -> {self.declared} (kafka-features upgrade)"


@dataclass(frozen=True)
class SetGroupConfigs(ShareGroupAction):
    """Set a group's declared configs (incremental: configs set by others are kept)."""

    group: str
    changes: tuple[tuple[str, str | None, str], ...]
    """``(key, current or None, declared)`` per config that differs."""
    new: bool
    verb: ClassVar[Verb] = "update"

    @property
    def name(self) -> str:
        return self.group

    def describe(self) -> str:
        if self.new:
            return ", ".join(f"{key}={declared}" for key, _, declared in self.changes)
        return ", ".join(
            f"{key} {current if current is not None else '(unset)'} -> {declared}"
            for key, current, declared in self.changes
        )


@dataclass(frozen=True)
class DeclareShareGroup(SetGroupConfigs):
    """Set the configs of a group the cluster knows nothing of yet (it may not exist yet)."""

    verb: ClassVar[Verb] = "create"


@dataclass(frozen=True)
class KeepShareGroup(ShareGroupAction):
    """A share group whose configs (or the feature level) are as declared."""

    group: str
    what: str
    verb: ClassVar[Verb] = "keep"

    @property
    def name(self) -> str:
        return self.group

    def describe(self) -> str:
        return self.what


class ShareGroupResources:
    """The ``[share_groups]`` of a stack as a kind of declared resource (see :mod:`infra.plan`).

    Planned after the topics (the DLQ topics are topics of the stack), applied after them:
    the feature first, then the group configs, then everything is verified.
    """

    kind = "share group"
    refusal_error: type[KafkarigError] = ShareGroupError

    def __init__(
        self, stack: Stack, *, client: DockerClient | None = None, timeout_s: float = 15.0
    ) -> None:
        if stack.share_groups is None:
            raise ValueError("the stack declares no [share_groups]")
        self.section = stack.share_groups
        self.broker = stack.brokers[0].service
        self.flavor = stack.cluster.flavor
        self.client = client
        self.timeout_s = timeout_s

    def plan_offline(self) -> Plan:
        """The plan for a cluster that does not run yet: every group's configs are set."""
        prefix = self.section.dlq_topic_prefix
        return Plan(
            tuple(
                DeclareShareGroup(
                    group.name,
                    tuple((k, None, v) for k, v in group.group_configs(prefix).items()),
                    new=True,
                )
                for group in self.section.groups
            )
        )

    def plan(self, admin: AdminClient, *, validate: bool) -> Plan:
        """Compare the feature level and every group's configs with the cluster."""
        actions: list[Action] = []
        wanted = required_share_version(self.section)
        level = self.finalized_level()
        if level < wanted:
            actions.append(RaiseShareVersion(level, wanted))
        else:
            actions.append(KeepShareGroup(FEATURE, f"feature level {level}, as needed"))
        prefix = self.section.dlq_topic_prefix
        described = _describe(
            admin, [ConfigResource(ResourceType.GROUP, g.name) for g in self.section.groups],
            self.timeout_s,
        )  # fmt: skip
        for group in self.section.groups:
            actual = described.get((ResourceType.GROUP, group.name), {})
            changes = tuple(
                (key, actual.get(key), value)
                for key, value in group.group_configs(prefix).items()
                if actual.get(key) != value
            )
            if changes:
                new = all(actual.get(key) is None for key, _, _ in changes)
                kind = DeclareShareGroup if new else SetGroupConfigs
                actions.append(kind(group.name, changes, new=new))
            else:
                actions.append(KeepShareGroup(group.name, "configs as declared"))
        return Plan(tuple(actions))

    def apply(self, admin: AdminClient, plan: Plan) -> None:
        """Raise the feature level if needed, set the group configs, then verify it all."""
        for action in plan.of_kind(self.kind):
            if isinstance(action, RaiseShareVersion):
                self._features(*feature_upgrade_args(self.section, self._internal_bootstrap))
        apply_group_configs(admin, self.section, self.timeout_s)
        verify_share_groups(
            admin, self.section, {FEATURE: str(self.finalized_level())}, self.timeout_s
        )

    def finalized_level(self) -> int:
        """The cluster's finalized ``share.version`` (0 when the feature is not finalized)."""
        output = self._features("--bootstrap-server", self._internal_bootstrap, "describe")
        level = parse_feature_describe(output).get(FEATURE, "0")
        return int(level) if level.isdigit() else 0

    @property
    def _internal_bootstrap(self) -> str:
        return f"localhost:{INTERNAL_PORT}"

    def _features(self, *arguments: str) -> str:
        command: Sequence[str] = [*feature_tool(self.flavor), *arguments]
        client = self.client or docker_client()
        try:
            return str(client.container.execute(self.broker, list(command)))
        except DockerException as error:
            raise ShareGroupError(
                f"cannot ask broker {self.broker} for its features.\n{docker_failure(error)}",
                hint="the share groups of stack.toml need share.version; `kafkarig status` "
                "shows whether the broker runs.",
            ) from error
