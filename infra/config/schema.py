"""The sections of ``stack.toml`` as pydantic models: ``[stack]`` and ``[[topics]]`` here,
``[cluster]`` in :mod:`infra.config.cluster`, and the value types they share.

Every section forbids unknown keys and uses strict types, so a typo is an error (with a "did
you mean") rather than a silently ignored key. Each validator checks one key and raises a
:func:`~infra.config.problems.problem` that names the offending value, what is allowed and a
hint. The root model, which adds the checks across sections and the derived topology, is
:class:`infra.config.stack.Stack`.
"""

from __future__ import annotations

import re
from decimal import Decimal, InvalidOperation
from typing import Annotated, Literal, get_args

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    field_validator,
    model_validator,
)

from infra.config.compose import TEMPLATE_OWNED_PROPERTIES, is_launcher_setting
from infra.config.problems import Problem, problem, raise_problems, show

Mode = Literal["kraft", "zookeeper"]
"""Cluster mode: KRaft (combined broker+controller nodes) or brokers plus one ZooKeeper."""

Flavor = Literal["apache", "confluent", "local"]
"""Image flavor: official ``apache/kafka``, ``confluentinc/cp-*``, or images built locally."""

MODES: tuple[str, ...] = get_args(Mode)
FLAVORS: tuple[str, ...] = get_args(Flavor)

DLQ_SUFFIX = "-dlq"
"""A topic with ``dlq = true`` gets a dead-letter topic named ``<name>-dlq``."""
MAX_TOPIC_NAME_LENGTH = 249

_PROJECT_PATTERN = re.compile(r"[a-z0-9][a-z0-9_-]{0,62}")
_TOPIC_NAME_PATTERN = re.compile(r"[a-zA-Z0-9._-]+")
# Lower-case words joined by single '.', '_' or '-': exactly the names that survive the
# property -> KAFKA_* env var -> property round trip of the official images.
_PROPERTY_NAME_PATTERN = re.compile(r"[a-z0-9]+([._-][a-z0-9]+)*")


# --------------------------------------------------------------------------- value types


def config_value(value: bool | int | float | str) -> str:
    """A TOML string, integer, float or boolean as the string Kafka reads.

    A float with an integral value is written as an integer (``1e3`` -> ``"1000"``), because
    Kafka parses LONG and INT configs with ``Long.parseLong``; booleans are ``true``/``false``.
    """
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        try:
            exact = Decimal(repr(value))
        except InvalidOperation:  # pragma: no cover - repr of a float is always a Decimal
            return repr(value)
        if exact.is_finite() and exact == exact.to_integral_value():
            return str(int(exact))
        return repr(value)
    return str(value)


def _config_value(what: str) -> BeforeValidator:
    def coerce(value: object) -> object:
        if isinstance(value, bool | int | float | str):
            return config_value(value)
        kind = "a table" if isinstance(value, dict) else "an array"
        raise problem(
            f"{what} value is {kind}; expected a string, number or boolean",
            hint='write it as a string, e.g. "604800000"',
        )

    return BeforeValidator(coerce)


def _property_name(what: str, hint: str) -> AfterValidator:
    def check(name: str) -> str:
        if not _PROPERTY_NAME_PATTERN.fullmatch(name):
            raise problem(
                f"{what} name {show(name)} is not valid; allowed: lower-case words joined by "
                "single '.', '_' or '-' (e.g. \"retention.ms\")",
                hint=hint,
            )
        return name

    return AfterValidator(check)


def _server_property(name: str) -> str:
    if name in TEMPLATE_OWNED_PROPERTIES:
        raise problem(
            f"server property {show(name)} is set by kafkarig's compose template",
            hint=TEMPLATE_OWNED_PROPERTIES[name],
        )
    if is_launcher_setting(name):
        raise problem(
            f"{show(name)} is not a server property: as KAFKA_{name.upper().replace('.', '_')} "
            "the images read it as a JVM or launcher setting",
            hint="the broker heap is [cluster] heap; other JVM options are not configurable here",
        )
    return name


TopicConfigName = Annotated[
    str,
    _property_name(
        "topic config",
        hint='use the topic config name as kafka-configs knows it, e.g. "retention.ms"',
    ),
]
TopicConfigValue = Annotated[str, _config_value("topic config")]
ServerPropertyName = Annotated[
    str,
    _property_name(
        "server property",
        hint='use the property name as in server.properties, e.g. "log.retention.hours"',
    ),
    AfterValidator(_server_property),
]
ServerPropertyValue = Annotated[str, _config_value("broker_config")]


class Section(BaseModel):
    """Base of every stack.toml section: strict types, unknown keys are errors, immutable."""

    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)


# --------------------------------------------------------------------------- [stack]


class StackSection(Section):
    """``[stack]``: the identity of the stack."""

    project: str = "kafkarig"
    """Compose project name; also names the network and prefixes the volumes."""

    @field_validator("project")
    @classmethod
    def _check_project(cls, value: str) -> str:
        if not _PROJECT_PATTERN.fullmatch(value):
            raise problem(
                f"{show(value)} is not a valid project name; allowed: 1..63 characters, "
                "lower-case letters, digits, '_' and '-', starting with a letter or digit",
                hint='Docker Compose uses it as the project name, e.g. project = "orders"',
            )
        return value


# --------------------------------------------------------------------------- [[topics]]


class TopicSpec(Section):
    """``[[topics]]``: one topic as kafkarig creates and verifies it."""

    name: str
    partitions: int = 1
    replication_factor: int = 1
    dlq: bool = False
    """Also create ``<name>-dlq`` with the same partitions and replication factor."""
    config: dict[TopicConfigName, TopicConfigValue] = Field(default_factory=dict)
    """Topic configs (``retention.ms`` ...), values stored as strings."""

    @property
    def dlq_topic(self) -> str | None:
        """Name of this topic's dead-letter topic, or None without ``dlq = true``."""
        return self.name + DLQ_SUFFIX if self.dlq else None

    @field_validator("name")
    @classmethod
    def _check_name(cls, value: str) -> str:
        if (
            not 1 <= len(value) <= MAX_TOPIC_NAME_LENGTH
            or not _TOPIC_NAME_PATTERN.fullmatch(value)
            or value in {".", ".."}
        ):
            raise problem(
                f"{show(value)} is not a valid Kafka topic name; allowed: "
                f"1..{MAX_TOPIC_NAME_LENGTH} characters of a-z, A-Z, 0-9, '.', '_' and '-', "
                'not "." or ".."',
                hint='e.g. name = "user-events"',
            )
        return value

    @field_validator("partitions")
    @classmethod
    def _check_partitions(cls, value: int) -> int:
        if value < 1:
            raise problem(
                f"{value} partitions; a topic needs at least 1", hint="the seed's user-events has 3"
            )
        return value

    @field_validator("replication_factor")
    @classmethod
    def _check_replication_factor(cls, value: int) -> int:
        if value < 1:
            raise problem(
                f"{value} replicas; the replication factor must be at least 1",
                hint="1 on a single broker, up to [cluster] brokers on a cluster",
            )
        return value

    @model_validator(mode="after")
    def _check_dlq_name_fits(self) -> TopicSpec:
        if self.dlq and len(self.name) + len(DLQ_SUFFIX) > MAX_TOPIC_NAME_LENGTH:
            raise_problems(
                "topic",
                [
                    Problem(
                        f"with dlq = true the dead-letter topic {show(self.name + DLQ_SUFFIX)} "
                        f"would be longer than {MAX_TOPIC_NAME_LENGTH} characters",
                        hint=f"shorten the name to at most "
                        f"{MAX_TOPIC_NAME_LENGTH - len(DLQ_SUFFIX)} characters",
                        loc=("name",),
                    )
                ],
                self.name,
            )
        return self
