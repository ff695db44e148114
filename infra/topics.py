"""Topics as declared in ``stack.toml``: created through the AdminClient, then verified.

A topic that already exists is never changed: if its partitions, replication factor or
declared configs differ from ``stack.toml``, that is reported as an error, not kept silently.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass

from confluent_kafka import KafkaError, KafkaException
from confluent_kafka.admin import AdminClient, ConfigResource, NewTopic

from infra.config import TopicSpec
from infra.errors import TopicError
from infra.readiness import WaitFor

_LOGGER = logging.getLogger("kafkarig.topics.librdkafka")


@dataclass(frozen=True)
class TopicState:
    """A topic as the cluster describes it."""

    name: str
    partitions: int
    replication_factor: int
    in_sync_replicas: int  # the smallest ISR over its partitions
    configs: dict[str, str]


@dataclass(frozen=True)
class TopicReport:
    """What :func:`ensure_topics` did with one declared topic."""

    spec: TopicSpec
    created: bool
    state: TopicState


def admin_client(bootstrap_servers: str) -> AdminClient:
    """An AdminClient whose librdkafka chatter goes to Python logging, not the terminal."""
    return AdminClient({"bootstrap.servers": bootstrap_servers}, logger=_LOGGER)


def describe_topics(
    admin: AdminClient, names: Sequence[str], timeout_s: float = 15.0
) -> dict[str, TopicState]:
    """Partitions, replication, smallest ISR and all configs of the named existing topics."""
    metadata = admin.list_topics(timeout=timeout_s)
    present = [name for name in names if name in metadata.topics]
    configs: dict[str, dict[str, str]] = {}
    if present:
        futures = admin.describe_configs(
            [ConfigResource(ConfigResource.Type.TOPIC, name) for name in present],
            request_timeout=timeout_s,
        )
        for resource, future in futures.items():
            entries = future.result(timeout=timeout_s)
            configs[resource.name] = {
                key: entry.value for key, entry in entries.items() if entry.value is not None
            }
    states = {}
    for name in present:
        partitions = metadata.topics[name].partitions.values()
        states[name] = TopicState(
            name=name,
            partitions=len(partitions),
            replication_factor=max((len(p.replicas) for p in partitions), default=0),
            in_sync_replicas=min((len(p.isrs) for p in partitions), default=0),
            configs=configs.get(name, {}),
        )
    return states


def differences(spec: TopicSpec, state: TopicState) -> list[str]:
    """How an existing topic differs from its declaration, one phrase per difference."""
    found = []
    if state.partitions != spec.partitions:
        found.append(f"{state.partitions} partition(s), stack.toml declares {spec.partitions}")
    if state.replication_factor != spec.replication_factor:
        found.append(
            f"replication factor {state.replication_factor}, stack.toml declares "
            f"{spec.replication_factor}"
        )
    for key, wanted in sorted(spec.config.items()):
        actual = state.configs.get(key)
        if actual != wanted:
            found.append(f"{key}={actual}, stack.toml declares {key}={wanted}")
    return found


def ensure_topics(
    bootstrap_servers: str, specs: Sequence[TopicSpec], *, timeout_s: float = 60.0
) -> list[TopicReport]:
    """Create the declared topics that are missing, then verify every one of them.

    Raises :class:`TopicError` naming each topic that could not be created or that exists
    other than declared.
    """
    admin = admin_client(bootstrap_servers)
    names = [spec.name for spec in specs]
    try:
        existing = describe_topics(admin, names)
    except (KafkaException, TimeoutError) as error:
        raise TopicError(f"could not list topics on {bootstrap_servers}: {error}") from error
    missing = [spec for spec in specs if spec.name not in existing]
    problems: list[str] = []
    if missing:
        futures = admin.create_topics(
            [
                NewTopic(
                    spec.name,
                    num_partitions=spec.partitions,
                    replication_factor=spec.replication_factor,
                    config=dict(spec.config),
                )
                for spec in missing
            ],
            request_timeout=timeout_s,
        )
        for name, future in futures.items():
            try:
                future.result(timeout=timeout_s)
            except TimeoutError:
                problems.append(f"topic {name}: no answer to the creation within {timeout_s:.0f}s")
            except KafkaException as error:
                kafka_error = error.args[0]
                if isinstance(kafka_error, KafkaError) and (
                    kafka_error.code() == KafkaError.TOPIC_ALREADY_EXISTS
                ):
                    continue  # created concurrently; verified below like any other
                problems.append(f"topic {name}: creation failed: {error}")
    if problems:
        raise TopicError(
            "could not create the declared topics:\n  " + "\n  ".join(problems),
            hint="check the topic configs in stack.toml against the broker's error above.",
        )

    def all_described() -> dict[str, TopicState]:
        return describe_topics(admin, names)

    # Metadata of new topics reaches every broker shortly after creation.
    states = WaitFor(
        expected=f"topics {', '.join(names)} in the cluster metadata",
        probe=all_described,
        accept=lambda found: (
            len(found) == len(names)
            and all(state.in_sync_replicas >= 1 for state in found.values())
        ),
        timeout_s=timeout_s,
    ).wait()

    reports = []
    created = {spec.name for spec in missing}
    for spec in specs:
        state = states[spec.name]
        found = differences(spec, state)
        if found:
            problems.append(f"topic {spec.name} exists with " + "; ".join(found))
        reports.append(TopicReport(spec=spec, created=spec.name in created, state=state))
    if problems:
        raise TopicError(
            "existing topics differ from stack.toml:\n  " + "\n  ".join(problems),
            hint="kafkarig never changes an existing topic. Change stack.toml to match, or "
            "delete the topic (`docker exec <broker> kafka-topics --bootstrap-server "
            "localhost:19092 --delete --topic NAME`) and run `nox -s up` again.",
        )
    return reports
