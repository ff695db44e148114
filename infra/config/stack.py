"""The root of ``stack.toml``: its sections, the checks across them, and what follows from them.

A :class:`Stack` is what every other part of kafkarig works from: the compose template reads
its topology (images, brokers, listeners, healthchecks, volumes), the lifecycle its services,
the topic plan its resolved topics, and the share-group plan its ``[share_groups]``.
``[security]``, ``[[users]]`` and ``[[acls]]`` have their own section models; their cross
checks are in :mod:`infra.config.access`.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

from pydantic import Field, PrivateAttr, ValidationInfo, field_validator, model_validator

from infra.config import topology
from infra.config.access import acl_problems, smoke_user_problems, user_problems
from infra.config.acls import AclSpec
from infra.config.cluster import ClusterConfig
from infra.config.compose import ZOOKEEPER_SERVICE
from infra.config.health import Healthcheck, broker_healthcheck, zookeeper_healthcheck
from infra.config.problems import Problem, raise_problems, show
from infra.config.schema import Section, StackSection, TopicSpec
from infra.config.security import SecuritySection
from infra.config.share_groups import (
    ShareGroupsSection,
    broker_properties,
    dlq_topics,
    stack_problems,
)
from infra.config.topology import Broker
from infra.config.users import UserSpec

STATE_DIR_NAME = ".kafkarig"
"""Directory (beside the stack file) where generated files live, one folder per project."""
COMPOSE_FILE_NAME = "docker-compose.yml"


class Stack(Section):
    """A validated ``stack.toml``, plus everything derived from it.

    Build one with :func:`~infra.config.load_stack` (a file), ``parse_stack`` (TOML text) or
    ``build_stack`` (parsed data): they turn validation failures into one ConfigError.
    """

    stack: StackSection = Field(default_factory=StackSection)
    cluster: ClusterConfig = Field(default_factory=ClusterConfig)
    # ---- secure stacks: [security], [[users]], [[acls]] (checked in infra.config.access)
    security: SecuritySection = Field(default_factory=SecuritySection)
    users: list[UserSpec] = Field(default_factory=list)
    acls: list[AclSpec] = Field(default_factory=list)
    # ----
    topics: list[TopicSpec] = Field(default_factory=list)
    share_groups: ShareGroupsSection | None = None

    _source_file: Path | None = PrivateAttr(default=None)

    @field_validator("topics")
    @classmethod
    def _check_topics_fit_together(
        cls, topics: list[TopicSpec], info: ValidationInfo
    ) -> list[TopicSpec]:
        # A field validator (not a model one) so that these checks still run, and their
        # problems are still reported, when another section has errors. The replication
        # factor check needs [cluster]: it runs when [cluster] itself is valid.
        problems = list(_duplicate_topic_problems(topics))
        cluster = info.data.get("cluster")
        if isinstance(cluster, ClusterConfig):
            problems.extend(_replication_problems(topics, cluster.brokers))
        if problems:
            problems.sort(key=lambda item: item.loc[0] if isinstance(item.loc[0], int) else 0)
            raise_problems("topics", problems, topics)
        return topics

    @field_validator("share_groups")
    @classmethod
    def _check_share_groups_fit(
        cls, section: ShareGroupsSection | None, info: ValidationInfo
    ) -> ShareGroupsSection | None:
        cluster, topics = info.data.get("cluster"), info.data.get("topics")
        if section is None or not isinstance(cluster, ClusterConfig) or topics is None:
            return section
        if cluster.flavor == "confluent" and section.enabled:
            found = [
                Problem(
                    f"share groups need Kafka 4.2+; confluent {cluster.confluent_version} runs "
                    "an older Kafka",
                    hint='use flavor "local" or "apache" (Kafka 4.4) for share groups',
                )
            ]
        else:
            found = stack_problems(
                section,
                mode=cluster.mode,
                kafka_version=cluster.kafka_version,
                declared_topics=[topic.name for topic in topics],
            )
        if found:
            raise_problems("share_groups", found, section)
        return section

    @field_validator("users")
    @classmethod
    def _check_users_fit_security(
        cls, users: list[UserSpec], info: ValidationInfo
    ) -> list[UserSpec]:
        security = info.data.get("security")
        if not isinstance(security, SecuritySection):
            return users
        if problems := list(user_problems(users, security)):
            raise_problems("users", problems, users)
        return users

    @field_validator("acls")
    @classmethod
    def _check_acls_fit_users(cls, acls: list[AclSpec], info: ValidationInfo) -> list[AclSpec]:
        security, users = info.data.get("security"), info.data.get("users")
        if not isinstance(security, SecuritySection) or not isinstance(users, list):
            return acls
        if problems := list(acl_problems(acls, users, security)):
            raise_problems("acls", problems, acls)
        return acls

    @model_validator(mode="after")
    def _check_smoke_user(self) -> Stack:
        if problems := list(smoke_user_problems(self.security, self.users)):
            raise_problems("security", [_under("security", p) for p in problems], self)
        return self

    # ---- identity ----------------------------------------------------------------------

    @property
    def project(self) -> str:
        """Compose project name."""
        return self.stack.project

    @property
    def network(self) -> str:
        """Name of the compose network (compose prefixes it with the project)."""
        return self.stack.project

    @property
    def cluster_id(self) -> str:
        """Deterministic KRaft cluster id (see :func:`~infra.config.topology.cluster_id_for`)."""
        return topology.cluster_id_for(self.stack.project)

    @property
    def source_file(self) -> Path | None:
        """The stack file this stack was loaded from (absolute), None when built from data."""
        return self._source_file

    def with_source_file(self, path: Path) -> Stack:
        """This stack, remembering the file it was read from."""
        copy = self.model_copy()
        copy._source_file = path.resolve()
        return copy

    def compose_file(self, root: Path) -> Path:
        """The rendered compose file: ``<root>/.kafkarig/<project>/docker-compose.yml``."""
        return root / STATE_DIR_NAME / self.stack.project / COMPOSE_FILE_NAME

    # ---- images and services -----------------------------------------------------------

    @property
    def is_kraft(self) -> bool:
        """Whether the cluster runs in KRaft mode (no ZooKeeper)."""
        return self.cluster.mode == "kraft"

    @property
    def kafka_image(self) -> str:
        """The broker image: the explicit ``kafka_image`` or the flavor's pinned image."""
        return topology.kafka_image(self.cluster)

    @property
    def zookeeper_image(self) -> str | None:
        """The ZooKeeper image in zookeeper mode, None in KRaft mode."""
        return topology.zookeeper_image(self.cluster)

    @property
    def images(self) -> list[str]:
        """Every image the stack runs, sorted (for pulling or checking they exist)."""
        images = {self.kafka_image}
        if self.zookeeper_image is not None:
            images.add(self.zookeeper_image)
        return sorted(images)

    @property
    def brokers(self) -> list[Broker]:
        """The broker services, by node id."""
        return topology.brokers(self.cluster)

    @property
    def services(self) -> list[str]:
        """Every compose service name, sorted."""
        return topology.services(self.cluster)

    @property
    def volumes(self) -> list[str]:
        """Every named volume (without the compose project prefix), sorted."""
        return topology.volumes(self.cluster)

    @property
    def bootstrap_servers(self) -> str:
        """Bootstrap servers for clients on the host: ``localhost:9092,localhost:9093,..``."""
        return ",".join(broker.advertised_address for broker in self.brokers)

    @property
    def internal_bootstrap_servers(self) -> str:
        """Bootstrap servers for clients on the compose network: ``kafka:19092,..``."""
        return ",".join(broker.internal_address for broker in self.brokers)

    @property
    def quorum_voters(self) -> str | None:
        """KRaft ``controller.quorum.voters`` (``1@kafka:19093``), None in zookeeper mode."""
        return topology.quorum_voters(self.cluster)

    @property
    def zookeeper_connect(self) -> str | None:
        """``zookeeper:2181`` in zookeeper mode, None in KRaft mode."""
        return topology.zookeeper_connect(self.cluster)

    @property
    def internal_topic_replication_factor(self) -> int:
        """Replication factor of __consumer_offsets and __transaction_state: min(3, brokers)."""
        return min(3, self.cluster.brokers)

    @property
    def internal_topic_min_isr(self) -> int:
        """min.insync.replicas of the internal topics: min(2, brokers)."""
        return min(2, self.cluster.brokers)

    # ---- health ------------------------------------------------------------------------

    @property
    def healthcheck(self) -> Healthcheck:
        """The broker's client-side readiness probe for this flavor."""
        return broker_healthcheck()

    @property
    def zookeeper_healthcheck(self) -> Healthcheck | None:
        """ZooKeeper's readiness probe in zookeeper mode, None in KRaft mode."""
        return None if self.is_kraft else zookeeper_healthcheck()

    @property
    def zookeeper_service(self) -> str | None:
        """The ZooKeeper service name in zookeeper mode, None in KRaft mode."""
        return None if self.is_kraft else ZOOKEEPER_SERVICE

    # ---- topics ------------------------------------------------------------------------

    @property
    def all_topics(self) -> list[TopicSpec]:
        """Declared topics followed, each, by its generated dead-letter topic.

        A dead-letter topic has the partitions and replication factor of its topic and
        default configs (its retention is the broker's, not the source topic's).
        """
        resolved: list[TopicSpec] = []
        for topic in self.topics:
            resolved.append(topic)
            if topic.dlq_topic is not None:
                resolved.append(
                    TopicSpec(
                        name=topic.dlq_topic,
                        partitions=topic.partitions,
                        replication_factor=topic.replication_factor,
                    )
                )
        if self.share_groups is not None:
            for dlq in dlq_topics(self.share_groups, self.internal_topic_replication_factor):
                resolved.append(
                    TopicSpec(
                        name=dlq.name,
                        partitions=dlq.partitions,
                        replication_factor=dlq.replication_factor,
                        config=dlq.config,
                    )
                )
        return resolved

    @property
    def implied_broker_properties(self) -> dict[str, str]:
        """Server properties other sections imply (``[share_groups]``' DLQ prefix, bounds);
        ``[cluster.broker_config]`` overrides them."""
        return broker_properties(self.share_groups) if self.share_groups is not None else {}


def _under(field: str, found: Problem) -> Problem:
    """A problem of one section, located from the root (for a check of the whole stack)."""
    return Problem(found.message, found.hint, (field, *found.loc))


def _replication_problems(topics: list[TopicSpec], brokers: int) -> Iterator[Problem]:
    """A topic cannot have more replicas than the cluster has brokers."""
    for index, topic in enumerate(topics):
        if topic.replication_factor > brokers:
            yield Problem(
                f"{topic.replication_factor} replicas but [cluster] brokers = {brokers}; "
                "a topic cannot have more replicas than there are brokers",
                hint=f"lower replication_factor to at most {brokers}, or set [cluster] "
                f"brokers = {topic.replication_factor}",
                loc=(index, "replication_factor"),
            )


def _duplicate_topic_problems(topics: list[TopicSpec]) -> Iterator[Problem]:
    """Each topic once, counting the generated dead-letter topics.

    Kafka refuses two topics whose names differ only in '.' versus '_' (their metric names
    collide), so names are compared with '.' replaced by '_'.
    """
    seen: dict[str, tuple[str, str, bool]] = {}
    for index, topic in enumerate(topics):
        origin = f"[[topics]] #{index + 1} ({topic.name})"
        candidates = [(topic.name, False)]
        if topic.dlq_topic is not None:
            candidates.append((topic.dlq_topic, True))
        for name, generated in candidates:
            key = name.replace(".", "_")
            if key not in seen:
                seen[key] = (name, origin, generated)
                continue
            other_name, other_origin, other_generated = seen[key]
            by = "the dlq = true of " if other_generated else ""
            what = f"dlq = true generates {show(name)}" if generated else show(name)
            message = f"{what}, which {by}{other_origin} already declares"
            if other_generated and not generated:
                message = f"{show(name)} is already created by the dlq = true of {other_origin}"
            hint = "declare each topic once"
            if generated or other_generated:
                hint = f"drop the explicit {show(name)} topic: dlq = true creates it"
            if other_name != name:
                message += f" as {show(other_name)}: Kafka treats '.' and '_' in names alike"
                hint = "rename one of the two topics"
            yield Problem(message, hint=hint, loc=(index, "dlq" if generated else "name"))
