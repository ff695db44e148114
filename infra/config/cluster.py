"""``[cluster]``: mode, size, images, network exposure and broker settings, each key checked
on its own and then together (mode with flavor and versions, ports with the broker count, the
auto-creation settings with the broker count)."""

from __future__ import annotations

import ipaddress
import re

from pydantic import Field, field_validator, model_validator

from infra import versions
from infra.config.compose import AUTO_CREATE_PROPERTY
from infra.config.problems import Problem, problem, quoted_list, raise_problems, show, suggest
from infra.config.schema import (
    FLAVORS,
    MODES,
    Flavor,
    Mode,
    Section,
    ServerPropertyName,
    ServerPropertyValue,
)

MAX_BROKERS = 9
MIN_HOST_PORT = 1024
MAX_PORT = 65535

_VERSION_PATTERN = re.compile(r"\d+\.\d+\.\d+")
_HEAP_PATTERN = re.compile(r"[1-9][0-9]*[mg]")
_HOSTNAME_PATTERN = re.compile(
    r"(?=.{1,253}$)[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?(\.[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*"
)


class ClusterConfig(Section):
    """``[cluster]``: mode, size, images, network exposure and broker settings."""

    mode: Mode = "kraft"
    brokers: int = 1
    flavor: Flavor = "apache"
    kafka_version: str = versions.KAFKA_VERSION
    """Defaults to KAFKA_VERSION in kraft mode, KAFKA_ZK_VERSION in zookeeper mode."""
    confluent_version: str = versions.CONFLUENT_KRAFT_VERSION
    """Defaults to CONFLUENT_KRAFT_VERSION in kraft mode, CONFLUENT_ZK_VERSION otherwise."""
    kafka_image: str | None = None
    zookeeper_image: str | None = None
    host: str = "127.0.0.1"
    advertised_host: str = "localhost"
    port: int = 9092
    heap: str = "512m"
    broker_config: dict[ServerPropertyName, ServerPropertyValue] = Field(default_factory=dict)

    @property
    def auto_create_topics(self) -> bool:
        """Whether clients may create undeclared topics (``auto.create.topics.enable``)."""
        return self.broker_config.get(AUTO_CREATE_PROPERTY, "false").lower() == "true"

    @model_validator(mode="before")
    @classmethod
    def _default_versions_by_mode(cls, data: object) -> object:
        if isinstance(data, dict) and data.get("mode") == "zookeeper":
            data = dict(data)
            data.setdefault("kafka_version", versions.KAFKA_ZK_VERSION)
            data.setdefault("confluent_version", versions.CONFLUENT_ZK_VERSION)
        return data

    @field_validator("mode", mode="before")
    @classmethod
    def _check_mode(cls, value: object) -> object:
        if isinstance(value, str) and value not in MODES:
            raise problem(
                f"{show(value)} is not a cluster mode; allowed: {quoted_list(MODES)}"
                + suggest(value, MODES),
                hint='"kraft" runs Kafka without ZooKeeper (Kafka 4.x); "zookeeper" is the '
                "seed's topology on Kafka 3.9 / Confluent 7.9 images",
            )
        return value

    @field_validator("flavor", mode="before")
    @classmethod
    def _check_flavor(cls, value: object) -> object:
        if isinstance(value, str) and value not in FLAVORS:
            raise problem(
                f"{show(value)} is not an image flavor; allowed: {quoted_list(FLAVORS)}"
                + suggest(value, FLAVORS),
                hint='"local" uses the images `nox -s image` builds on this machine',
            )
        return value

    @field_validator("brokers")
    @classmethod
    def _check_brokers(cls, value: int) -> int:
        if not 1 <= value <= MAX_BROKERS:
            raise problem(
                f"{value} brokers is out of range; allowed: 1..{MAX_BROKERS}",
                hint="1 for a development stack, 3 for a replicated cluster",
            )
        return value

    @field_validator("kafka_version", "confluent_version")
    @classmethod
    def _check_version(cls, value: str) -> str:
        if not _VERSION_PATTERN.fullmatch(value):
            raise problem(
                f"{show(value)} is not a version; expected MAJOR.MINOR.PATCH, "
                'e.g. "4.4.0" (never "latest")',
                hint="kafkarig pins every image; see infra/versions.py for the defaults",
            )
        return value

    @field_validator("kafka_image", "zookeeper_image")
    @classmethod
    def _check_image(cls, value: str | None) -> str | None:
        if value is not None and (reason := _image_problem(value)) is not None:
            raise problem(
                f"image {show(value)} {reason}",
                hint='name a pinned tag, e.g. "apache/kafka:4.4.0", or drop the key to use '
                "the flavor's image",
            )
        return value

    @field_validator("host")
    @classmethod
    def _check_host(cls, value: str) -> str:
        try:
            ipaddress.ip_address(value)
        except ValueError:
            raise problem(
                f"{show(value)} is not an IP address; host is the interface the broker ports "
                "are published on",
                hint='"127.0.0.1" (default: this machine only) or "0.0.0.0" (every interface, '
                "as the seed did)",
            ) from None
        return value

    @field_validator("advertised_host")
    @classmethod
    def _check_advertised_host(cls, value: str) -> str:
        if not _HOSTNAME_PATTERN.fullmatch(value):
            raise problem(
                f"{show(value)} is not a host name or IPv4 address",
                hint='clients connect to it: "localhost" (default) or a name/address other '
                "machines can resolve",
            )
        return value

    @field_validator("port")
    @classmethod
    def _check_port(cls, value: int) -> int:
        if not MIN_HOST_PORT <= value <= MAX_PORT:
            raise problem(
                f"{value} is out of range; allowed: {MIN_HOST_PORT}..{MAX_PORT}",
                hint="9092 is Kafka's usual port; broker i is published on port + i - 1",
            )
        return value

    @field_validator("heap")
    @classmethod
    def _check_heap(cls, value: str) -> str:
        if not _HEAP_PATTERN.fullmatch(value):
            raise problem(
                f"{show(value)} is not a heap size; expected a number followed by m or g, "
                'e.g. "512m" or "1g"',
                hint="it becomes -Xmx/-Xms of every broker JVM",
            )
        return value

    @model_validator(mode="after")
    def _check_combination(self) -> ClusterConfig:
        problems = [*_image_combination_problems(self), *_auto_create_problems(self)]
        last_port = self.port + self.brokers - 1
        if last_port > MAX_PORT:
            problems.append(
                Problem(
                    f"{self.port} with {self.brokers} brokers needs ports up to {last_port}; "
                    f"the last broker's port must be <= {MAX_PORT}",
                    hint=f"set port to at most {MAX_PORT - self.brokers + 1}",
                    loc=("port",),
                )
            )
        if problems:
            raise_problems("cluster", problems, self)
        return self


def _major(version: str) -> int:
    return int(version.split(".", 1)[0])


def _image_problem(image: str) -> str | None:
    """Why an explicit image reference is not acceptable, or None when it is."""
    if not image or any(char.isspace() for char in image):
        return "is not an image reference"
    name, _, digest = image.partition("@")
    last = name.rsplit("/", 1)[-1]
    _, has_tag, tag = last.partition(":")
    if not digest and not has_tag:
        return "has no tag; kafkarig pins every image"
    if has_tag and tag == "latest":
        return "uses ':latest'; kafkarig pins every image"
    return None


def _image_combination_problems(cluster: ClusterConfig) -> list[Problem]:
    """Mode, flavor, versions and images that cannot run together."""
    problems = []
    zookeeper = cluster.mode == "zookeeper"
    if zookeeper and cluster.flavor == "apache":
        problems.append(
            Problem(
                '"apache" with mode "zookeeper": apache/kafka images are KRaft only; '
                "use flavor local or confluent",
                hint='set flavor = "local" (images from `nox -s image`) or "confluent" '
                '(cp-kafka/cp-zookeeper 7.9), or mode = "kraft"',
                loc=("flavor",),
            )
        )
    if (
        cluster.flavor == "local"
        and cluster.kafka_image is None
        and cluster.kafka_version not in versions.LOCAL_KAFKA_VERSIONS
    ):
        problems.append(
            Problem(
                f"kafka_version {show(cluster.kafka_version)} has no local image; the local "
                f"image builder supports {quoted_list(versions.LOCAL_KAFKA_VERSIONS)}",
                hint="`nox -s image` builds these; pick one of them, or use flavor "
                '"apache" or "confluent"',
                loc=("kafka_version",),
            )
        )
    if zookeeper and cluster.flavor == "confluent":
        if _major(cluster.confluent_version) >= 8:
            problems.append(
                Problem(
                    f"confluent_version {show(cluster.confluent_version)} with mode "
                    '"zookeeper": Confluent Platform 8.0 removed ZooKeeper',
                    hint=f'use confluent_version = "{versions.CONFLUENT_ZK_VERSION}" (the '
                    'zookeeper-mode default) or mode = "kraft"',
                    loc=("confluent_version",),
                )
            )
    elif zookeeper and _major(cluster.kafka_version) >= 4:
        problems.append(
            Problem(
                f'kafka_version {show(cluster.kafka_version)} with mode "zookeeper": '
                "Kafka 4.0 removed ZooKeeper mode",
                hint=f'use kafka_version = "{versions.KAFKA_ZK_VERSION}" (the zookeeper-mode '
                'default) or mode = "kraft"',
                loc=("kafka_version",),
            )
        )
    if not zookeeper and cluster.zookeeper_image is not None:
        problems.append(
            Problem(
                'zookeeper_image is set but mode is "kraft": there is no ZooKeeper to run',
                hint='remove zookeeper_image, or set mode = "zookeeper"',
                loc=("zookeeper_image",),
            )
        )
    return problems


def _auto_create_problems(cluster: ClusterConfig) -> list[Problem]:
    """The auto-creation settings a client's first produce would trip over."""
    settings = cluster.broker_config
    problems = []
    enabled = settings.get(AUTO_CREATE_PROPERTY)
    if enabled is not None and enabled.lower() not in {"true", "false"}:
        problems.append(
            Problem(
                f"{AUTO_CREATE_PROPERTY} = {show(enabled)}; expected true or false",
                hint="true lets clients create undeclared topics by naming them",
                loc=("broker_config", AUTO_CREATE_PROPERTY),
            )
        )
    for name, low, high, hint in (
        ("num.partitions", 1, None, "partitions of an auto-created topic, at least 1"),
        (
            "default.replication.factor",
            1,
            cluster.brokers,
            f"replicas of an auto-created topic: 1..[cluster] brokers ({cluster.brokers})",
        ),
    ):
        raw = settings.get(name)
        if raw is None:
            continue
        number = int(raw) if raw.isdigit() else None
        if number is None or number < low or (high is not None and number > high):
            allowed = f"{low}..{high}" if high is not None else f"at least {low}"
            problems.append(
                Problem(
                    f"{name} = {show(raw)}; allowed: an integer, {allowed}",
                    hint=hint,
                    loc=("broker_config", name),
                )
            )
    return problems
