"""The typed, validated model of ``stack.toml``.

A team describes its Kafka cluster and topics in one TOML file; :func:`load_stack` reads it
into a :class:`Stack`. Every section is a pydantic model with ``extra="forbid"`` and strict
types, so a typo is an error (with a "did you mean" suggestion) rather than a silently ignored
key. Every validation problem is collected and raised as ONE :class:`~infra.errors.ConfigError`
that lists them all, each with the key, the offending value, what is allowed and a hint; no
pydantic traceback reaches the user.

The :class:`Stack` also exposes the derived data the compose template and the lifecycle need:
images, broker services and ports, bootstrap servers, the resolved topic list (with the
generated dead-letter topics), a deterministic KRaft cluster id and the healthcheck probes.
"""

from __future__ import annotations

import base64
import difflib
import hashlib
import ipaddress
import json
import os
import re
import tomllib
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, get_args, get_origin

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)

from infra import layouts, versions
from infra.errors import ConfigError

Mode = Literal["kraft", "zookeeper"]
"""Cluster mode: KRaft (combined broker+controller nodes) or brokers plus one ZooKeeper."""

Flavor = Literal["apache", "confluent", "local"]
"""Image flavor: official ``apache/kafka``, ``confluentinc/cp-*``, or images built locally."""

MODES: tuple[str, ...] = get_args(Mode)
FLAVORS: tuple[str, ...] = get_args(Flavor)

STACK_FILE_NAME = "stack.toml"
"""The stack file kafkarig reads when none is named."""
FLAVOR_ENV_VAR = "KAFKARIG_FLAVOR"
"""Environment variable that overrides ``[cluster] flavor`` of the stack file."""
STATE_DIR_NAME = ".kafkarig"
"""Directory (under the project root) where generated files live, one folder per project."""
COMPOSE_FILE_NAME = "docker-compose.yml"

DLQ_SUFFIX = "-dlq"
"""A topic with ``dlq = true`` gets a dead-letter topic named ``<name>-dlq``."""
MAX_TOPIC_NAME_LENGTH = 249
MAX_BROKERS = 9
MIN_HOST_PORT = 1024
MAX_PORT = 65535

INTERNAL_PORT = 19092
"""Port of the compose-network listener (``INTERNAL``) on every broker."""
CONTROLLER_PORT = 19093
"""Port of the KRaft controller listener (``CONTROLLER``) on every broker."""
ZOOKEEPER_SERVICE = "zookeeper"
ZOOKEEPER_CLIENT_PORT = 2181
ZOOKEEPER_HEAP = "256m"
KAFKA_DATA_DIR = "/var/lib/kafka/data"
ZOOKEEPER_DATA_DIR = "/var/lib/zookeeper/data"
ZOOKEEPER_LOG_DIR = "/var/lib/zookeeper/log"

_PROJECT_PATTERN = re.compile(r"[a-z0-9][a-z0-9_-]{0,62}")
_TOPIC_NAME_PATTERN = re.compile(r"[a-zA-Z0-9._-]+")
_VERSION_PATTERN = re.compile(r"\d+\.\d+\.\d+")
_HEAP_PATTERN = re.compile(r"[1-9][0-9]*[mg]")
_HOSTNAME_PATTERN = re.compile(
    r"(?=.{1,253}$)[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?(\.[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*"
)
# Lower-case words joined by single '.', '_' or '-': exactly the names that survive the
# property -> KAFKA_* env var -> property round trip of the official images.
_PROPERTY_NAME_PATTERN = re.compile(r"[a-z0-9]+([._-][a-z0-9]+)*")
_BARE_TOML_KEY = re.compile(r"[A-Za-z0-9_-]+")

# Server properties the compose template sets itself: setting them in broker_config would
# fight the template, so each names the stack.toml key that controls it instead.
_TEMPLATE_OWNED_PROPERTIES: dict[str, str] = {
    "node.id": "node ids follow the broker's position (1..brokers)",
    "broker.id": "broker ids follow the broker's position (1..brokers)",
    "process.roles": "set by [cluster] mode",
    "controller.quorum.voters": "set by [cluster] mode and brokers",
    "controller.listener.names": "set by [cluster] mode",
    "zookeeper.connect": "set by [cluster] mode",
    "listeners": "set by [cluster] host and port",
    "advertised.listeners": "set by [cluster] advertised_host and port",
    "listener.security.protocol.map": "kafkarig's listeners are INTERNAL, HOST and CONTROLLER",
    "inter.broker.listener.name": "kafkarig's brokers talk over the INTERNAL listener",
    "log.dirs": "data lives in the broker's named volume at " + KAFKA_DATA_DIR,
    "offsets.topic.replication.factor": "derived from [cluster] brokers: min(3, brokers)",
    "transaction.state.log.replication.factor": "derived from [cluster] brokers: min(3, brokers)",
    "transaction.state.log.min.isr": "derived from [cluster] brokers: min(2, brokers)",
    "share.coordinator.state.topic.replication.factor": "derived from [cluster] brokers",
    "share.coordinator.state.topic.min.isr": "derived from [cluster] brokers",
    "group.initial.rebalance.delay.ms": "kafkarig sets 0 so test consumers start at once",
    "auto.create.topics.enable": "topics are code: declare them as [[topics]]",
}


# --------------------------------------------------------------------------- problems


@dataclass(frozen=True)
class Problem:
    """One thing wrong with a stack file: what is wrong and how to fix it.

    ``loc`` is the key path below the location pydantic reports for the validator that found
    the problem (empty for a field validator, the key for a section-level check).
    """

    message: str
    hint: str | None = None
    loc: tuple[str | int, ...] = ()


class _StackProblems(ValueError):
    """Carries :class:`Problem` objects out of a pydantic validator."""

    def __init__(self, *problems: Problem) -> None:
        self.problems = problems
        super().__init__("; ".join(problem.message for problem in problems))


def _show(value: object) -> str:
    """A value as the user wrote it in TOML, with its type when that helps."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return json.dumps(value, ensure_ascii=False)
    if isinstance(value, int | float):
        return str(value)
    if isinstance(value, dict):
        return "a table"
    if isinstance(value, list):
        return "an array"
    return repr(value)


def _toml_type(value: object) -> str:
    """The TOML type name of a parsed value."""
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, int):
        return "an integer"
    if isinstance(value, float):
        return "a float"
    if isinstance(value, dict):
        return "a table"
    if isinstance(value, list):
        return "an array"
    return type(value).__name__


def _suggest(word: str, choices: Any) -> str:
    """``"; did you mean 'x'?"`` for a near miss among ``choices``, else ``""``."""
    matches = difflib.get_close_matches(word, list(choices), n=1, cutoff=0.6)
    return f"; did you mean '{matches[0]}'?" if matches else ""


def _quoted_list(values: Any) -> str:
    return ", ".join(f"'{value}'" for value in values)


# --------------------------------------------------------------------------- helpers


def _coerce_str_mapping(value: object, what: str) -> object:
    """Accept TOML strings, integers, floats and booleans as values; store them as strings."""
    if not isinstance(value, dict):
        return value  # the dict type check reports it
    result: dict[object, object] = {}
    problems: list[Problem] = []
    for key, item in value.items():
        if isinstance(item, bool):
            result[key] = "true" if item else "false"
        elif isinstance(item, str | int | float):
            result[key] = str(item)
        else:
            problems.append(
                Problem(
                    f"{what} value is {_toml_type(item)}; expected a string, number or boolean",
                    hint='write it as a string, e.g. "604800000"',
                    loc=(str(key),),
                )
            )
    if problems:
        raise _StackProblems(*problems)
    return result


def _check_property_names(names: Any, what: str, hint: str) -> list[Problem]:
    problems = []
    for name in names:
        if not _PROPERTY_NAME_PATTERN.fullmatch(name):
            problems.append(
                Problem(
                    f"{what} name {_show(name)} is not valid; allowed: lower-case words "
                    "joined by single '.', '_' or '-' (e.g. \"retention.ms\")",
                    hint=hint,
                    loc=(name,),
                )
            )
    return problems


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


def cluster_id_for(project: str) -> str:
    """A deterministic KRaft cluster id for a project.

    Base64url without padding of the first 16 bytes of ``sha256(project)``: 22 characters,
    the format ``kafka-storage random-uuid`` prints. Stable, so rendered files (and golden
    tests) are stable. Like Kafka's own ``Uuid.randomUuid``, an id starting with ``-`` is
    avoided (it would read as an option on a command line): the digest is hashed again.
    """
    seed = project.encode("utf-8")
    while True:
        digest = hashlib.sha256(seed).digest()[:16]
        cluster_id = base64.urlsafe_b64encode(digest).decode("ascii").rstrip("=")
        if not cluster_id.startswith("-"):
            return cluster_id
        seed = digest


# --------------------------------------------------------------------------- models


class _Section(BaseModel):
    """Base of every stack.toml section: strict types, unknown keys are errors, immutable."""

    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)


class StackSection(_Section):
    """``[stack]``: the identity of the stack."""

    project: str = "kafkarig"
    """Compose project name; also names the network and prefixes the volumes."""

    @field_validator("project")
    @classmethod
    def _check_project(cls, value: str) -> str:
        if not _PROJECT_PATTERN.fullmatch(value):
            raise _StackProblems(
                Problem(
                    f"{_show(value)} is not a valid project name; allowed: 1..63 characters, "
                    "lower-case letters, digits, '_' and '-', starting with a letter or digit",
                    hint='Docker Compose uses it as the project name, e.g. project = "orders"',
                )
            )
        return value


class ClusterConfig(_Section):
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
    broker_config: dict[str, str] = Field(default_factory=dict)

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
            raise _StackProblems(
                Problem(
                    f"{_show(value)} is not a cluster mode; allowed: {_quoted_list(MODES)}"
                    + _suggest(value, MODES),
                    hint='"kraft" runs Kafka without ZooKeeper (Kafka 4.x); "zookeeper" is the '
                    "seed's topology on Kafka 3.9 / Confluent 7.9 images",
                )
            )
        return value

    @field_validator("flavor", mode="before")
    @classmethod
    def _check_flavor(cls, value: object) -> object:
        if isinstance(value, str) and value not in FLAVORS:
            raise _StackProblems(
                Problem(
                    f"{_show(value)} is not an image flavor; allowed: {_quoted_list(FLAVORS)}"
                    + _suggest(value, FLAVORS),
                    hint='"local" uses the images `nox -s image` builds on this machine',
                )
            )
        return value

    @field_validator("brokers")
    @classmethod
    def _check_brokers(cls, value: int) -> int:
        if not 1 <= value <= MAX_BROKERS:
            raise _StackProblems(
                Problem(
                    f"{value} brokers is out of range; allowed: 1..{MAX_BROKERS}",
                    hint="1 for a development stack, 3 for a replicated cluster",
                )
            )
        return value

    @field_validator("kafka_version", "confluent_version")
    @classmethod
    def _check_version(cls, value: str) -> str:
        if not _VERSION_PATTERN.fullmatch(value):
            raise _StackProblems(
                Problem(
                    f"{_show(value)} is not a version; expected MAJOR.MINOR.PATCH, "
                    'e.g. "4.4.0" (never "latest")',
                    hint="kafkarig pins every image; see infra/versions.py for the defaults",
                )
            )
        return value

    @field_validator("kafka_image", "zookeeper_image")
    @classmethod
    def _check_image(cls, value: str | None) -> str | None:
        if value is not None and (problem := _image_problem(value)) is not None:
            raise _StackProblems(
                Problem(
                    f"image {_show(value)} {problem}",
                    hint='name a pinned tag, e.g. "apache/kafka:4.4.0", or drop the key to use '
                    "the flavor's image",
                )
            )
        return value

    @field_validator("host")
    @classmethod
    def _check_host(cls, value: str) -> str:
        try:
            ipaddress.ip_address(value)
        except ValueError:
            raise _StackProblems(
                Problem(
                    f"{_show(value)} is not an IP address; host is the interface the broker "
                    "ports are published on",
                    hint='"127.0.0.1" (default: this machine only) or "0.0.0.0" (every '
                    "interface, as the seed did)",
                )
            ) from None
        return value

    @field_validator("advertised_host")
    @classmethod
    def _check_advertised_host(cls, value: str) -> str:
        if not _HOSTNAME_PATTERN.fullmatch(value):
            raise _StackProblems(
                Problem(
                    f"{_show(value)} is not a host name or IPv4 address",
                    hint='clients connect to it: "localhost" (default) or a name/address '
                    "other machines can resolve",
                )
            )
        return value

    @field_validator("port")
    @classmethod
    def _check_port(cls, value: int) -> int:
        if not MIN_HOST_PORT <= value <= MAX_PORT:
            raise _StackProblems(
                Problem(
                    f"{value} is out of range; allowed: {MIN_HOST_PORT}..{MAX_PORT}",
                    hint="9092 is Kafka's usual port; broker i is published on port + i - 1",
                )
            )
        return value

    @field_validator("heap")
    @classmethod
    def _check_heap(cls, value: str) -> str:
        if not _HEAP_PATTERN.fullmatch(value):
            raise _StackProblems(
                Problem(
                    f"{_show(value)} is not a heap size; expected a number followed by m or g, "
                    'e.g. "512m" or "1g"',
                    hint="it becomes -Xmx/-Xms of every broker JVM",
                )
            )
        return value

    @field_validator("broker_config", mode="before")
    @classmethod
    def _coerce_broker_config(cls, value: object) -> object:
        return _coerce_str_mapping(value, "broker_config")

    @field_validator("broker_config")
    @classmethod
    def _check_broker_config(cls, value: dict[str, str]) -> dict[str, str]:
        problems = _check_property_names(
            value,
            "server property",
            hint='use the property name as in server.properties, e.g. "log.retention.hours"',
        )
        for name in value:
            if name in _TEMPLATE_OWNED_PROPERTIES:
                problems.append(
                    Problem(
                        f"server property {_show(name)} is set by kafkarig's compose template",
                        hint=_TEMPLATE_OWNED_PROPERTIES[name],
                        loc=(name,),
                    )
                )
            elif _is_launcher_setting(name):
                problems.append(
                    Problem(
                        f"{_show(name)} is not a server property: as KAFKA_"
                        f"{name.upper().replace('.', '_')} the images read it as a JVM or "
                        "launcher setting",
                        hint="the broker heap is [cluster] heap; other JVM options are not "
                        "configurable here",
                        loc=(name,),
                    )
                )
        if problems:
            raise _StackProblems(*problems)
        return value

    @model_validator(mode="after")
    def _check_combination(self) -> ClusterConfig:
        problems: list[Problem] = []
        zookeeper = self.mode == "zookeeper"
        if zookeeper and self.flavor == "apache":
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
            self.flavor == "local"
            and self.kafka_image is None
            and self.kafka_version not in versions.LOCAL_KAFKA_VERSIONS
        ):
            problems.append(
                Problem(
                    f"kafka_version {_show(self.kafka_version)} has no local image; the local "
                    f"image builder supports {_quoted_list(versions.LOCAL_KAFKA_VERSIONS)}",
                    hint="`nox -s image` builds these; pick one of them, or use flavor "
                    '"apache" or "confluent"',
                    loc=("kafka_version",),
                )
            )
        if zookeeper and self.flavor == "confluent":
            if _major(self.confluent_version) >= 8:
                problems.append(
                    Problem(
                        f"confluent_version {_show(self.confluent_version)} with mode "
                        '"zookeeper": Confluent Platform 8.0 removed ZooKeeper',
                        hint=f'use confluent_version = "{versions.CONFLUENT_ZK_VERSION}" (the '
                        'zookeeper-mode default) or mode = "kraft"',
                        loc=("confluent_version",),
                    )
                )
        elif zookeeper and _major(self.kafka_version) >= 4:
            problems.append(
                Problem(
                    f'kafka_version {_show(self.kafka_version)} with mode "zookeeper": '
                    "Kafka 4.0 removed ZooKeeper mode",
                    hint=f'use kafka_version = "{versions.KAFKA_ZK_VERSION}" (the zookeeper-mode '
                    'default) or mode = "kraft"',
                    loc=("kafka_version",),
                )
            )
        if not zookeeper and self.zookeeper_image is not None:
            problems.append(
                Problem(
                    'zookeeper_image is set but mode is "kraft": there is no ZooKeeper to run',
                    hint='remove zookeeper_image, or set mode = "zookeeper"',
                    loc=("zookeeper_image",),
                )
            )
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
            raise _StackProblems(*problems)
        return self


def _is_launcher_setting(name: str) -> bool:
    """Whether ``KAFKA_<name>`` is read by the images as a JVM/launcher variable."""
    return (
        name.endswith(".opts")
        or name.split(".", 1)[0] in {"log4j", "jmx", "tools"}
        or name in {"version", "home", "debug"}
    )


class TopicSpec(_Section):
    """``[[topics]]``: one topic as kafkarig creates and verifies it."""

    name: str
    partitions: int = 1
    replication_factor: int = 1
    dlq: bool = False
    """Also create ``<name>-dlq`` with the same partitions and replication factor."""
    config: dict[str, str] = Field(default_factory=dict)
    """Topic configs (``retention.ms`` ...), values stored as strings."""

    @property
    def dlq_topic(self) -> str | None:
        """Name of this topic's dead-letter topic, or None without ``dlq = true``."""
        return self.name + DLQ_SUFFIX if self.dlq else None

    @field_validator("name")
    @classmethod
    def _check_name(cls, value: str) -> str:
        allowed = (
            f"allowed: 1..{MAX_TOPIC_NAME_LENGTH} characters of a-z, A-Z, 0-9, '.', '_' and "
            '\'-\', not "." or ".."'
        )
        if (
            not 1 <= len(value) <= MAX_TOPIC_NAME_LENGTH
            or not _TOPIC_NAME_PATTERN.fullmatch(value)
            or value in {".", ".."}
        ):
            raise _StackProblems(
                Problem(
                    f"{_show(value)} is not a valid Kafka topic name; {allowed}",
                    hint='e.g. name = "user-events"',
                )
            )
        return value

    @field_validator("partitions")
    @classmethod
    def _check_partitions(cls, value: int) -> int:
        if value < 1:
            raise _StackProblems(
                Problem(
                    f"{value} partitions; a topic needs at least 1",
                    hint="the seed's user-events has 3",
                )
            )
        return value

    @field_validator("replication_factor")
    @classmethod
    def _check_replication_factor(cls, value: int) -> int:
        if value < 1:
            raise _StackProblems(
                Problem(
                    f"{value} replicas; the replication factor must be at least 1",
                    hint="1 on a single broker, up to [cluster] brokers on a cluster",
                )
            )
        return value

    @field_validator("config", mode="before")
    @classmethod
    def _coerce_config(cls, value: object) -> object:
        return _coerce_str_mapping(value, "topic config")

    @field_validator("config")
    @classmethod
    def _check_config(cls, value: dict[str, str]) -> dict[str, str]:
        problems = _check_property_names(
            value,
            "topic config",
            hint='use the topic config name as kafka-configs knows it, e.g. "retention.ms"',
        )
        if problems:
            raise _StackProblems(*problems)
        return value

    @model_validator(mode="after")
    def _check_dlq_name_fits(self) -> TopicSpec:
        if self.dlq and len(self.name) + len(DLQ_SUFFIX) > MAX_TOPIC_NAME_LENGTH:
            raise _StackProblems(
                Problem(
                    f"with dlq = true the dead-letter topic {_show(self.name + DLQ_SUFFIX)} "
                    f"would be longer than {MAX_TOPIC_NAME_LENGTH} characters",
                    hint=f"shorten the name to at most {MAX_TOPIC_NAME_LENGTH - len(DLQ_SUFFIX)}"
                    " characters",
                    loc=("name",),
                )
            )
        return self


def _topic_index(problem: Problem) -> int:
    """Sort key: the [[topics]] entry a topic problem is about."""
    index = problem.loc[0] if problem.loc else 0
    return index if isinstance(index, int) else 0


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
            what = f"dlq = true generates {_show(name)}" if generated else _show(name)
            message = f"{what}, which {by}{other_origin} already declares"
            if other_generated and not generated:
                message = f"{_show(name)} is already created by the dlq = true of {other_origin}"
            hint = "declare each topic once"
            if generated or other_generated:
                hint = f"drop the explicit {_show(name)} topic: dlq = true creates it"
            if other_name != name:
                message += f" as {_show(other_name)}: Kafka treats '.' and '_' in names alike"
                hint = "rename one of the two topics"
            yield Problem(message, hint=hint, loc=(index, "dlq" if generated else "name"))


@dataclass(frozen=True)
class Broker:
    """One broker service of the rendered compose file."""

    service: str
    """Compose service, container and host name: ``kafka`` alone, else ``kafka-1``.."""
    node_id: int
    """KRaft node id / ZooKeeper-mode broker id, 1..N."""
    host_port: int
    """Port published on the host (and used inside the container) for the HOST listener."""
    host: str
    """Host interface the port is published on."""
    advertised_host: str
    """Host name clients outside the compose network use."""

    @property
    def internal_address(self) -> str:
        """``<service>:19092``: the broker's address on the compose network."""
        return f"{self.service}:{INTERNAL_PORT}"

    @property
    def advertised_address(self) -> str:
        """``<advertised_host>:<host_port>``: the broker's address for host clients."""
        return f"{self.advertised_host}:{self.host_port}"

    @property
    def controller_address(self) -> str:
        """``<service>:19093``: the broker's KRaft controller listener."""
        return f"{self.service}:{CONTROLLER_PORT}"

    @property
    def port_mapping(self) -> str:
        """Compose short-syntax port: ``<host>:<host_port>:<host_port>`` (IPv6 bracketed)."""
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{host}:{self.host_port}:{self.host_port}"

    @property
    def volume(self) -> str:
        """Named volume holding the broker's log dir."""
        return f"{self.service}-data"


@dataclass(frozen=True)
class Healthcheck:
    """A compose healthcheck: the probe command and its timing."""

    test: tuple[str, ...]
    interval_s: int
    timeout_s: int
    retries: int

    @property
    def budget_s(self) -> int:
        """How long Docker keeps probing before it declares the container unhealthy."""
        return self.interval_s * self.retries


def _local_probe(*test: str) -> Healthcheck:
    """A native probe (bash, no JVM; see infra.layouts): cheap enough to run every 2 s."""
    return Healthcheck(test, interval_s=2, timeout_s=5, retries=60)


class Stack(_Section):
    """A validated ``stack.toml``, plus everything derived from it.

    Build one with :func:`load_stack` (a file), :func:`parse_stack` (TOML text) or
    :func:`build_stack` (parsed data): they turn validation failures into one ConfigError.
    """

    stack: StackSection = Field(default_factory=StackSection)
    cluster: ClusterConfig = Field(default_factory=ClusterConfig)
    topics: list[TopicSpec] = Field(default_factory=list)

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
            raise _StackProblems(*sorted(problems, key=_topic_index))
        return topics

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
        """Deterministic KRaft cluster id (see :func:`cluster_id_for`)."""
        return cluster_id_for(self.stack.project)

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
        cluster = self.cluster
        if cluster.kafka_image is not None:
            return cluster.kafka_image
        if cluster.flavor == "confluent":
            return f"confluentinc/cp-kafka:{cluster.confluent_version}"
        if cluster.flavor == "local":
            return f"kafkarig/kafka:{cluster.kafka_version}"
        return f"apache/kafka:{cluster.kafka_version}"

    @property
    def zookeeper_image(self) -> str | None:
        """The ZooKeeper image in zookeeper mode, None in KRaft mode."""
        cluster = self.cluster
        if self.is_kraft:
            return None
        if cluster.zookeeper_image is not None:
            return cluster.zookeeper_image
        if cluster.flavor == "local":
            return f"kafkarig/zookeeper:{versions.ZOOKEEPER_VERSION}"
        return f"confluentinc/cp-zookeeper:{cluster.confluent_version}"

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
        count = self.cluster.brokers
        return [
            Broker(
                service="kafka" if count == 1 else f"kafka-{node_id}",
                node_id=node_id,
                host_port=self.cluster.port + node_id - 1,
                host=self.cluster.host,
                advertised_host=self.cluster.advertised_host,
            )
            for node_id in range(1, count + 1)
        ]

    @property
    def services(self) -> list[str]:
        """Every compose service name, sorted."""
        names = [broker.service for broker in self.brokers]
        if not self.is_kraft:
            names.append(ZOOKEEPER_SERVICE)
        return sorted(names)

    @property
    def volumes(self) -> list[str]:
        """Every named volume (without the compose project prefix), sorted."""
        names = [broker.volume for broker in self.brokers]
        if not self.is_kraft:
            names += [f"{ZOOKEEPER_SERVICE}-data", f"{ZOOKEEPER_SERVICE}-log"]
        return sorted(names)

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
        if not self.is_kraft:
            return None
        return ",".join(f"{b.node_id}@{b.controller_address}" for b in self.brokers)

    @property
    def zookeeper_connect(self) -> str | None:
        """``zookeeper:2181`` in zookeeper mode, None in KRaft mode."""
        return None if self.is_kraft else f"{ZOOKEEPER_SERVICE}:{ZOOKEEPER_CLIENT_PORT}"

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
        """The broker's readiness probe: kafkarig's native probe, the same on every flavor."""
        return _local_probe(*layouts.probe_command("kafka", f"127.0.0.1:{INTERNAL_PORT}"))

    @property
    def zookeeper_healthcheck(self) -> Healthcheck | None:
        """ZooKeeper's readiness probe in zookeeper mode, None in KRaft mode."""
        if self.is_kraft:
            return None
        return _local_probe(
            *layouts.probe_command("zookeeper", f"127.0.0.1:{ZOOKEEPER_CLIENT_PORT}")
        )

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
        return resolved


# --------------------------------------------------------------------------- loading


def load_stack(path: Path, env: Mapping[str, str] | None = None) -> Stack:
    """Read and validate a stack file.

    ``env`` (default ``os.environ``) may override ``[cluster] flavor`` with
    ``KAFKARIG_FLAVOR``. Raises :class:`ConfigError` when the file is missing, unreadable,
    not TOML, or invalid; the message lists every problem.
    """
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        raise ConfigError(
            f"stack file {path} not found",
            hint=f"copy the {STACK_FILE_NAME} shipped with kafkarig (the repository root) and "
            "edit it, or name another file with --stack FILE",
        ) from None
    except OSError as exc:
        raise ConfigError(
            f"stack file {path} cannot be read: {exc.strerror or exc}",
            hint="check that it is a readable file, not a directory",
        ) from None
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ConfigError(
            f"stack file {path} is not UTF-8 text (byte {exc.start})",
            hint="TOML files must be UTF-8 encoded",
        ) from None
    return parse_stack(text, source=str(path), env=env)


def parse_stack(
    text: str, *, source: str = STACK_FILE_NAME, env: Mapping[str, str] | None = None
) -> Stack:
    """Parse and validate stack TOML text; ``source`` names it in error messages."""
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(
            f"{source} is not valid TOML: {exc}",
            hint='strings need double quotes ("4.4.0"), tables are [name], each topic is a '
            "[[topics]] table; see the shipped stack.toml",
        ) from None
    return build_stack(data, source=source, env=env)


def build_stack(
    data: Mapping[str, Any], *, source: str = STACK_FILE_NAME, env: Mapping[str, str] | None = None
) -> Stack:
    """Validate parsed stack data (as ``tomllib`` returns it) into a :class:`Stack`."""
    environ = os.environ if env is None else env
    flavor_override = environ.get(FLAVOR_ENV_VAR) or None
    document = dict(data)
    if flavor_override is not None and isinstance(document.get("cluster", {}), dict):
        document["cluster"] = {**document.get("cluster", {}), "flavor": flavor_override}
    try:
        return Stack.model_validate(document)
    except ValidationError as exc:
        lines = list(_describe_errors(exc, document))
        count = len(lines)
        message = f"{source} is invalid ({count} problem{'s' if count != 1 else ''}):\n"
        message += "\n".join(lines)
        if flavor_override is not None:
            message += (
                f"\n  (note: [cluster] flavor = {_show(flavor_override)} comes from the "
                f"{FLAVOR_ENV_VAR} environment variable)"
            )
        raise ConfigError(
            message, hint=f"the {STACK_FILE_NAME} shipped with kafkarig documents every key"
        ) from None


def _describe_errors(error: ValidationError, document: Mapping[str, Any]) -> Iterator[str]:
    """One ``  - where: what`` line (plus an indented hint) per problem."""
    for item in error.errors(include_url=False):
        loc = tuple(item["loc"])
        cause = item.get("ctx", {}).get("error")
        if isinstance(cause, _StackProblems):
            for problem in cause.problems:
                where = _where(loc + problem.loc, document)
                yield _line(f"{where}: {problem.message}", problem.hint)
        elif item["type"] == "extra_forbidden":
            yield _unknown_key_line(loc, document)
        else:
            message, hint = _describe_type_error(item["type"], loc, item)
            yield _line(f"{_where(loc, document)}: {message}", hint)


def _line(text: str, hint: str | None) -> str:
    return f"  - {text}" + (f"\n      hint: {hint}" if hint else "")


def _unknown_key_line(loc: tuple[str | int, ...], document: Mapping[str, Any]) -> str:
    parent, key = loc[:-1], str(loc[-1])
    allowed = list(_model_at(parent).model_fields)
    where = f"in {_where(parent, document)}" if parent else "at the top level"
    return _line(
        f"unknown key '{key}' {where}" + _suggest(key, allowed),
        f"allowed keys {where}: {', '.join(allowed)}",
    )


def _describe_type_error(
    kind: str, loc: tuple[str | int, ...], item: Mapping[str, Any]
) -> tuple[str, str | None]:
    value = item.get("input")
    got = f"got {_toml_type(value)}"
    if not isinstance(value, dict | list):
        got += f" ({_show(value)})"
    if kind == "missing":
        return "required key is missing", None
    if kind == "list_type" and loc == ("topics",):
        return (
            f"expected an array of tables, {got}",
            "write each topic as a [[topics]] table (double brackets)",
        )
    if kind == "list_type":
        return f"expected an array, {got}", None
    if kind in {"model_type", "dict_type", "model_attributes_type"}:
        return f"expected a table, {got}", None
    if kind == "int_type":
        return f"expected an integer, {got}", "write numbers without quotes, e.g. 3"
    if kind == "string_type":
        return f"expected a string, {got}", 'write strings in double quotes, e.g. "4.4.0"'
    if kind == "bool_type":
        return f"expected true or false, {got}", None
    if kind == "literal_error":
        return f"{_show(value)} is not allowed; expected {item['ctx']['expected']}", None
    return f"{item['msg']}, {got}", None


def _model_at(loc: tuple[str | int, ...]) -> type[BaseModel]:
    """The section model found at a location (list indexes step into the item type)."""
    model: type[BaseModel] = Stack
    for part in loc:
        if isinstance(part, int):
            continue
        annotation = model.model_fields[part].annotation
        candidates = get_args(annotation) if get_origin(annotation) else (annotation,)
        model = next(c for c in candidates if isinstance(c, type) and issubclass(c, BaseModel))
    return model


def _where(loc: tuple[str | int, ...], document: Mapping[str, Any]) -> str:
    """A location as the user sees it in the TOML file: ``[cluster] port``,
    ``[[topics]] #1 (user-events) partitions``, ``[cluster] broker_config."log.dirs"``."""
    if not loc:
        return "top level"
    head, rest = loc[0], loc[1:]
    if head == "topics":
        section = "[[topics]]"
        if rest and isinstance(rest[0], int):
            index, rest = rest[0], rest[1:]
            section += f" #{index + 1}"
            topics = document.get("topics")
            if isinstance(topics, list) and index < len(topics):
                entry = topics[index]
                if isinstance(entry, dict) and isinstance(entry.get("name"), str):
                    section += f" ({entry['name']})"
    elif head in {"stack", "cluster"}:
        section = f"[{head}]"
    else:
        section, rest = "", loc
    keys = ".".join(
        str(part) if _BARE_TOML_KEY.fullmatch(str(part)) else json.dumps(str(part)) for part in rest
    )
    return f"{section} {keys}".strip()
