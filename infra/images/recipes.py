"""What each local image is made of: its Maven dependencies, tools and tag."""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from infra.errors import ImageBuildError
from infra.versions import KAFKA_VERSION, KAFKA_ZK_VERSION, ZOOKEEPER_VERSION

LOG4J_VERSION = "2.25.5"  # pinned for Kafka 4.x, with the slf4j 1.7 binding Kafka needs
ZOOKEEPER_METRICS_VERSION = "4.1.12.1"
ZOOKEEPER_SNAPPY_VERSION = "1.1.10.5"
MINIMUM_KAFKA = (3, 7)
VERSION_PATTERN = re.compile(r"^(\d+)\.(\d+)\.(\d+)$")

# Tool commands on PATH (also as <name>.sh) and their main classes, newest location first.
KAFKA_TOOLS: dict[str, tuple[str, ...]] = {
    "kafka-topics": ("org.apache.kafka.tools.TopicCommand", "kafka.admin.TopicCommand"),
    "kafka-console-producer": (
        "org.apache.kafka.tools.ConsoleProducer",
        "kafka.tools.ConsoleProducer",
    ),
    "kafka-console-consumer": (
        "org.apache.kafka.tools.consumer.ConsoleConsumer",
        "kafka.tools.ConsoleConsumer",
    ),
    "kafka-consumer-groups": (
        "org.apache.kafka.tools.consumer.group.ConsumerGroupCommand",
        "kafka.admin.ConsumerGroupCommand",
    ),
    "kafka-configs": ("org.apache.kafka.tools.ConfigCommand", "kafka.admin.ConfigCommand"),
    "kafka-storage": ("kafka.tools.StorageTool",),
    "kafka-broker-api-versions": (
        "org.apache.kafka.tools.BrokerApiVersionsCommand",
        "kafka.admin.BrokerApiVersionsCommand",
    ),
    "kafka-producer-perf-test": ("org.apache.kafka.tools.ProducerPerformance",),
    "kafka-consumer-perf-test": (
        "org.apache.kafka.tools.ConsumerPerformance",
        "kafka.tools.ConsumerPerformance",
    ),
    "kafka-get-offsets": ("org.apache.kafka.tools.GetOffsetShell", "kafka.tools.GetOffsetShell"),
    "kafka-metadata-quorum": ("org.apache.kafka.tools.MetadataQuorumCommand",),
}


@dataclass(frozen=True)
class MavenArtifact:
    """One ``group:artifact:version`` coordinate, with exclusions as ``group:artifact``."""

    group: str
    artifact: str
    version: str
    exclusions: tuple[str, ...] = ()

    @property
    def coordinate(self) -> str:
        """``group:artifact:version``."""
        return f"{self.group}:{self.artifact}:{self.version}"


@dataclass(frozen=True)
class ImageRecipe:
    """Everything that decides what a local image contains."""

    kind: str  # "kafka" or "zookeeper"
    version: str
    tag: str
    dependencies: tuple[MavenArtifact, ...]
    pinned: tuple[MavenArtifact, ...] = ()
    tools: dict[str, tuple[str, ...]] = field(default_factory=dict)

    @property
    def major(self) -> int:
        """The major version (Kafka 4.x and 3.x differ in logging and tools)."""
        return parse_version(self.version)[0]

    @property
    def slug(self) -> str:
        """The tag as a file name: ``kafkarig_kafka_4.4.0``."""
        return self.tag.replace("/", "_").replace(":", "_")


def parse_version(version: str) -> tuple[int, int, int]:
    """``"4.4.0"`` → ``(4, 4, 0)``; a clear error for anything else."""
    match = VERSION_PATTERN.match(version)
    if not match:
        raise ImageBuildError(
            f"unknown Kafka version {version!r}: expected MAJOR.MINOR.PATCH such as "
            f"{KAFKA_VERSION}.",
            hint=f"build the pinned versions with `nox -s image`, or name a released Kafka "
            f"version, e.g. `nox -s image -- --kafka-version {KAFKA_VERSION}`.",
        )
    major, minor, patch = (int(part) for part in match.groups())
    return major, minor, patch


def kafka_recipe(version: str) -> ImageRecipe:
    """The recipe of ``kafkarig/kafka:<version>`` (Kafka 3.7 and newer)."""
    major, minor, _ = parse_version(version)
    if (major, minor) < MINIMUM_KAFKA:
        raise ImageBuildError(
            f"Kafka {version} is older than the local images support (3.7 and newer).",
            hint=f"use {KAFKA_VERSION} (KRaft) or {KAFKA_ZK_VERSION} (ZooKeeper mode).",
        )
    # kafka-tools depends on Connect's runtime (Jetty, Jersey) for a plugin tool we do not ship.
    dependencies = [
        MavenArtifact("org.apache.kafka", "kafka_2.13", version),
        MavenArtifact(
            "org.apache.kafka", "kafka-tools", version, ("org.apache.kafka:connect-runtime",)
        ),
    ]
    pinned: list[MavenArtifact] = []
    if major >= 4:
        dependencies.append(
            MavenArtifact("org.apache.logging.log4j", "log4j-slf4j-impl", LOG4J_VERSION)
        )
        pinned = [
            MavenArtifact("org.apache.logging.log4j", name, LOG4J_VERSION)
            for name in ("log4j-api", "log4j-core", "log4j-slf4j-impl")
        ]
    return ImageRecipe(
        kind="kafka",
        version=version,
        tag=f"kafkarig/kafka:{version}",
        dependencies=tuple(dependencies),
        pinned=tuple(pinned),
        tools=KAFKA_TOOLS,
    )


def zookeeper_recipe(version: str = ZOOKEEPER_VERSION) -> ImageRecipe:
    """The recipe of ``kafkarig/zookeeper:<version>``."""
    parse_version(version)
    # ZooKeeper's POM marks these "provided", yet its server needs them and its own
    # distribution ships them; the versions are the ones its parent POM declares (3.8.4).
    return ImageRecipe(
        kind="zookeeper",
        version=version,
        tag=f"kafkarig/zookeeper:{version}",
        dependencies=(
            MavenArtifact("org.apache.zookeeper", "zookeeper", version),
            MavenArtifact("io.dropwizard.metrics", "metrics-core", ZOOKEEPER_METRICS_VERSION),
            MavenArtifact("org.xerial.snappy", "snappy-java", ZOOKEEPER_SNAPPY_VERSION),
        ),
    )


def default_recipes() -> list[ImageRecipe]:
    """The images ``nox -s image`` builds: Kafka 4.x (KRaft), Kafka 3.9 and ZooKeeper."""
    return [kafka_recipe(KAFKA_VERSION), kafka_recipe(KAFKA_ZK_VERSION), zookeeper_recipe()]
