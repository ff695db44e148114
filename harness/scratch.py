"""Scratch topics and groups of one smoke run, and their cleanup.

Everything a run creates on a cluster is named ``kafkarig-smoke-<run id>-<label>-<random>``
(the run id is the UTC start time and a random part, e.g. ``20250301T101500-3f9a2c``), so
that it is recognisable on any cluster and one run's leftovers can never be confused with
another's or with somebody's own topics. :class:`ScratchRegistry` hands out the names,
remembers them, and :meth:`ScratchRegistry.cleanup` deletes every registered name plus any
topic or group carrying this run's prefix (a sweep, for whatever a killed check left).
"""

from __future__ import annotations

import re
import secrets
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Final

from confluent_kafka import KafkaException
from confluent_kafka.admin import AdminClient

from harness import admin as admin_ops
from harness.errors import ConfigurationError
from harness.producer import HeadersArg, JsonProducer

#: The fixed start of every name a smoke run creates.
SCRATCH_PREFIX: Final = "kafkarig-smoke-"
_SLUG_CHARS: Final = 40


def new_run_id(now: datetime | None = None) -> str:
    """A run id: the UTC time and 6 random hex digits (``20250301T101500-3f9a2c``)."""
    moment = (now or datetime.now(UTC)).astimezone(UTC)
    return f"{moment:%Y%m%dT%H%M%S}-{secrets.token_hex(3)}"


def slug(text: str) -> str:
    """``text`` as a short lower-case name part: runs of other characters become ``-``."""
    return re.sub(r"[^a-zA-Z0-9]+", "-", text).strip("-").lower()[:_SLUG_CHARS].strip("-")


@dataclass(frozen=True)
class CleanupReport:
    """What a run deleted over its whole course, and what it could not (with why)."""

    topics: tuple[str, ...] = ()
    groups: tuple[str, ...] = ()
    left: dict[str, str] = field(default_factory=dict)

    def summary(self) -> str:
        """One line for the smoke summary."""
        text = f"deleted {len(self.topics)} scratch topic(s) and {len(self.groups)} group(s)"
        if self.left:
            text += "; LEFT BEHIND: " + "; ".join(f"{k} ({v})" for k, v in self.left.items())
        return text


@dataclass
class ScratchRegistry:
    """The scratch topics and groups of one run: named here, deleted through here.

    ``topics`` and ``groups`` are the names not known to be deleted yet;
    ``deleted_topics`` and ``deleted_groups`` the ones deleted so far.
    """

    run_id: str = field(default_factory=new_run_id)
    topics: set[str] = field(default_factory=set)
    groups: set[str] = field(default_factory=set)
    deleted_topics: set[str] = field(default_factory=set)
    deleted_groups: set[str] = field(default_factory=set)
    outer_prefixes: set[str] = field(default_factory=lambda: {""})
    """Prefixes a broker may require before a scratch name (a share group's DLQ topic must
    start with the broker's ``dlq.``): ``dlq.kafkarig-smoke-<run>-...`` is this run's too."""
    _random: Callable[[], str] = field(default=lambda: uuid.uuid4().hex[:8], repr=False)

    @property
    def prefix(self) -> str:
        """The start of every name this run creates."""
        return f"{SCRATCH_PREFIX}{self.run_id}-"

    def owns(self, name: str) -> bool:
        """Whether ``name`` was (or would be) made by this run."""
        outer, found, _ = name.partition(self.prefix)
        return bool(found) and outer in self.outer_prefixes

    def _name(self, label: str) -> str:
        part = slug(label)
        return f"{self.prefix}{part + '-' if part else ''}{self._random()}"

    def topic_name(self, label: str = "") -> str:
        """A new scratch topic name, registered for deletion."""
        name = self._name(label)
        self.topics.add(name)
        return name

    def register_topic(self, name: str) -> None:
        """Register a topic this run creates under a derived name (e.g. ``<name>-dlq``)."""
        if not self.owns(name):
            raise ValueError(f"{name!r} does not carry this run's prefix {self.prefix!r}")
        self.topics.add(name)

    def group_name(self, label: str = "") -> str:
        """A new consumer group id, registered for deletion."""
        name = self._name(label)
        self.groups.add(name)
        return name

    def delete_topics(self, admin: AdminClient, names: Iterable[str]) -> dict[str, str]:
        """Delete some of this run's topics now; returns ``{name: error}`` for failures."""
        wanted = {name for name in names if self.owns(name)}
        failed = admin_ops.delete_topics(admin, wanted)
        done = wanted - set(failed)
        self.topics -= done
        self.deleted_topics |= done
        return failed

    def delete_groups(
        self, admin: AdminClient, names: Iterable[str], *, timeout_s: float = 0.0
    ) -> dict[str, str]:
        """Delete some of this run's groups now (a group that never existed counts as
        deleted); returns ``{name: error}`` for the ones still there after ``timeout_s``."""
        wanted = {name for name in names if self.owns(name)}
        outcome = admin_ops.delete_groups(admin, wanted, timeout_s=timeout_s)
        done = wanted - set(outcome.failed)
        self.groups -= done
        self.deleted_groups |= set(outcome.deleted)
        return outcome.failed

    def cleanup(self, admin: AdminClient, *, group_timeout_s: float = 60.0) -> CleanupReport:
        """Delete every remaining topic and group of this run, and every one the cluster
        lists with this run's prefix (a sweep for whatever a killed check left behind).

        Groups whose members are still leaving (a killed consumer stays until its session
        times out) are retried for up to ``group_timeout_s``.
        """
        left: dict[str, str] = {}
        topics, groups = set(self.topics), set(self.groups)
        try:
            topics |= {t for t in admin_ops.topic_names(admin) if self.owns(t)}
            groups |= {g for g in admin_ops.group_ids(admin) if self.owns(g)}
        except (KafkaException, TimeoutError) as error:
            left["(sweep)"] = f"could not list topics and groups: {error}"
        left |= self.delete_groups(admin, groups, timeout_s=group_timeout_s)
        left |= self.delete_topics(admin, topics)
        return CleanupReport(
            topics=tuple(sorted(self.deleted_topics)),
            groups=tuple(sorted(self.deleted_groups)),
            left=left,
        )


class ScratchOnlyProducer(JsonProducer):
    """A :class:`JsonProducer` that refuses to write to any topic but this run's scratch
    topics, unless the cluster is kafkarig's own."""

    def __init__(
        self,
        bootstrap_servers: str,
        *,
        scratch: ScratchRegistry,
        allow_any_topic: bool,
        config: dict[str, str] | None = None,
    ) -> None:
        self._scratch = scratch
        self._allow_any_topic = allow_any_topic
        super().__init__(bootstrap_servers, config=config)

    def send_raw(
        self,
        topic: str,
        value: bytes | None,
        key: str | bytes | None = None,
        headers: HeadersArg = None,
        *,
        partition: int | None = None,
    ) -> None:
        """Queue ``value`` for ``topic``, refusing a topic that is not this run's scratch."""
        if not self._allow_any_topic and not self._scratch.owns(topic):
            raise ConfigurationError(
                f"refusing to produce to {topic!r}: on a cluster kafkarig did not start, "
                f"checks write only to this run's scratch topics ({self._scratch.prefix}*)",
                hint="create the topic with the scratch_topic fixture",
            )
        super().send_raw(topic, value, key, headers, partition=partition)
