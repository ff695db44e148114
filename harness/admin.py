"""Admin helpers on any cluster: reach it (with a client config), describe it, delete what
the harness made, and take a snapshot of what a test must leave unchanged.

Every function takes the client properties (``config``: TLS, SASL, ...) that the cluster
needs; a refused login or handshake shows up in the error message, because librdkafka
reports those through its error callback while the request itself only times out.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Final

from confluent_kafka import ConsumerGroupTopicPartitions, KafkaError, KafkaException, TopicPartition
from confluent_kafka.admin import AdminClient, OffsetSpec

from harness.errors import HarnessError

_LIBRDKAFKA_LOG: Final = logging.getLogger("kafkarig.harness.admin.librdkafka")
#: Internal topics change whenever any group commits; a snapshot leaves them out.
INTERNAL_TOPIC_PREFIX: Final = "__"


class ClusterUnreachableError(HarnessError):
    """The cluster did not answer, or refused this client (TLS, SASL, authorization)."""


@dataclass
class ClientErrors:
    """The errors librdkafka reported through ``error_cb`` (a refused login, a failed TLS
    handshake, an unreachable broker), newest last, at most ``keep`` of them. The callback
    runs inside the client's ``poll()``: poll an AdminClient before reading these."""

    keep: int = 20
    seen: list[KafkaError] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def __call__(self, error: KafkaError) -> None:
        with self._lock:
            self.seen.append(error)
            del self.seen[: -self.keep]

    def last(self) -> str | None:
        """The newest error as text (``None``: nothing reported)."""
        with self._lock:
            return self.seen[-1].str() if self.seen else None


@dataclass(frozen=True)
class ClusterInfo:
    """What ``describe_cluster`` reports."""

    cluster_id: str | None
    broker_ids: tuple[int, ...]
    controller_id: int | None


def admin_client(
    bootstrap_servers: str,
    config: Mapping[str, Any] | None = None,
    *,
    errors: ClientErrors | None = None,
) -> AdminClient:
    """An AdminClient with ``config`` (``bootstrap_servers`` wins over the config's); its
    librdkafka log goes to Python logging and its errors to ``errors`` when given."""
    settings: dict[str, Any] = {**(config or {}), "bootstrap.servers": bootstrap_servers}
    if errors is not None:
        settings["error_cb"] = errors
    try:
        return AdminClient(settings, logger=_LIBRDKAFKA_LOG)
    except KafkaException as error:
        raise ClusterUnreachableError(
            f"invalid client configuration: {error.args[0]}",
            hint="check the client config's property names and values against "
            "librdkafka's CONFIGURATION.md",
        ) from error


def describe_cluster(admin: AdminClient, timeout_s: float = 10.0) -> ClusterInfo:
    """Cluster id, broker ids and controller of the cluster behind ``admin``."""
    cluster = admin.describe_cluster(request_timeout=timeout_s).result(timeout=timeout_s + 1)
    controller = cluster.controller.id if cluster.controller is not None else None
    return ClusterInfo(
        cluster.cluster_id, tuple(sorted(node.id for node in cluster.nodes)), controller
    )


def wait_for_cluster(
    bootstrap_servers: str,
    config: Mapping[str, Any] | None = None,
    *,
    brokers: int = 1,
    timeout_s: float = 30.0,
    poll_interval_s: float = 0.5,
) -> ClusterInfo:
    """Wait until ``describe_cluster`` reports at least ``brokers`` brokers.

    Raises :class:`ClusterUnreachableError` with the last answer and the client's last
    error (e.g. ``SASL authentication error: ...``) after ``timeout_s``.
    """
    errors = ClientErrors()
    settings = {"socket.connection.setup.timeout.ms": 5000, **(config or {})}
    admin = admin_client(bootstrap_servers, settings, errors=errors)
    deadline = time.monotonic() + timeout_s
    seen = "no answer"
    while True:
        try:
            info = describe_cluster(admin, timeout_s=min(5.0, timeout_s))
            if len(info.broker_ids) >= brokers:
                return info
            seen = f"{len(info.broker_ids)} broker(s): {list(info.broker_ids)}"
        except (KafkaException, TimeoutError) as error:
            seen = f"{type(error).__name__}: {error}"
        admin.poll(0.1)  # error_cb runs only inside poll()
        if time.monotonic() >= deadline:
            client_error = errors.last()
            raise ClusterUnreachableError(
                f"the cluster at {bootstrap_servers} did not report {brokers} broker(s) "
                f"within {timeout_s:.0f} s; last answer: {seen}"
                + (f"; last client error: {client_error}" if client_error else ""),
                hint="is the address right, and does the client config (security.protocol, "
                "sasl.*, ssl.ca.location) match the listener?",
            )
        time.sleep(poll_interval_s)


def topic_names(admin: AdminClient, timeout_s: float = 10.0) -> set[str]:
    """Every topic the cluster lists (internal ones included)."""
    return set(admin.list_topics(timeout=timeout_s).topics)


def group_ids(admin: AdminClient, timeout_s: float = 10.0) -> set[str]:
    """Every group the cluster lists."""
    result = admin.list_consumer_groups(request_timeout=timeout_s).result(timeout=timeout_s + 1)
    return {listing.group_id for listing in result.valid}


def _error_code(error: KafkaException) -> int | None:
    kafka_error = error.args[0] if error.args else None
    return kafka_error.code() if isinstance(kafka_error, KafkaError) else None


def delete_topics(
    admin: AdminClient, names: Iterable[str], timeout_s: float = 30.0
) -> dict[str, str]:
    """Delete topics; returns ``{name: error}`` for each one not deleted (absent is fine)."""
    wanted = sorted(set(names))
    if not wanted:
        return {}
    failed: dict[str, str] = {}
    for name, future in admin.delete_topics(wanted, request_timeout=timeout_s).items():
        try:
            future.result(timeout=timeout_s)
        except KafkaException as error:
            if _error_code(error) != KafkaError.UNKNOWN_TOPIC_OR_PART:
                failed[name] = str(error.args[0])
        except TimeoutError:
            failed[name] = f"no answer within {timeout_s:.0f} s"
    return failed


@dataclass(frozen=True)
class GroupDeletion:
    """What :func:`delete_groups` did: groups deleted, groups that did not exist, failures."""

    deleted: tuple[str, ...] = ()
    absent: tuple[str, ...] = ()
    failed: dict[str, str] = field(default_factory=dict)


def delete_groups(
    admin: AdminClient,
    ids: Iterable[str],
    *,
    timeout_s: float = 60.0,
    retry_interval_s: float = 1.0,
) -> GroupDeletion:
    """Delete consumer groups. A group that never existed is reported as ``absent``; a
    group that still has members (a killed consumer stays a member until its session
    times out) is retried until ``timeout_s`` and then reported in ``failed``.
    """
    pending = sorted(set(ids))
    deleted: list[str] = []
    absent: list[str] = []
    failed: dict[str, str] = {}
    deadline = time.monotonic() + timeout_s
    while pending:
        failed = {}
        futures = admin.delete_consumer_groups(pending, request_timeout=10)
        for group, future in futures.items():
            try:
                future.result(timeout=15)
                deleted.append(group)
            except KafkaException as error:
                if _error_code(error) == KafkaError.GROUP_ID_NOT_FOUND:
                    absent.append(group)
                else:
                    failed[group] = str(error.args[0])
            except TimeoutError:
                failed[group] = "no answer within 15 s"
        pending = sorted(failed)
        if not pending or time.monotonic() + retry_interval_s >= deadline:
            break
        time.sleep(retry_interval_s)
    return GroupDeletion(tuple(sorted(deleted)), tuple(sorted(absent)), failed)


def end_offsets(
    admin: AdminClient, topics: Sequence[str], timeout_s: float = 15.0
) -> dict[tuple[str, int], int]:
    """The end offset (high watermark) of every partition of ``topics``."""
    metadata = admin.list_topics(timeout=timeout_s)
    request = {
        TopicPartition(topic, partition): OffsetSpec.latest()  # type: ignore[no-untyped-call]
        for topic in topics
        if topic in metadata.topics
        for partition in metadata.topics[topic].partitions
    }
    if not request:
        return {}
    futures = admin.list_offsets(request, request_timeout=timeout_s)
    return {
        (tp.topic, tp.partition): future.result(timeout=timeout_s).offset
        for tp, future in futures.items()
    }


def committed_offsets(
    admin: AdminClient, group: str, timeout_s: float = 15.0
) -> dict[tuple[str, int], int]:
    """Every committed offset of ``group`` (partitions without a commit are left out)."""
    futures = admin.list_consumer_group_offsets(
        [ConsumerGroupTopicPartitions(group)], request_timeout=timeout_s
    )
    result = futures[group].result(timeout=timeout_s)
    return {
        (tp.topic, tp.partition): tp.offset
        for tp in result.topic_partitions or []
        if tp.offset >= 0
    }


@dataclass(frozen=True)
class ClusterSnapshot:
    """What a run against somebody's cluster must leave as it was: the topics and their
    end offsets, the groups and their committed offsets (internal topics left out)."""

    topics: frozenset[str]
    end_offsets: Mapping[tuple[str, int], int]
    groups: frozenset[str]
    committed: Mapping[str, Mapping[tuple[str, int], int]]

    def differences(self, after: ClusterSnapshot) -> list[str]:
        """Every way ``after`` differs from this snapshot, one phrase each."""
        found = [f"new topic {name}" for name in sorted(after.topics - self.topics)]
        found += [f"topic {name} is gone" for name in sorted(self.topics - after.topics)]
        found += [f"new group {name}" for name in sorted(after.groups - self.groups)]
        found += [f"group {name} is gone" for name in sorted(self.groups - after.groups)]
        for (topic, partition), offset in sorted(self.end_offsets.items()):
            now = after.end_offsets.get((topic, partition))
            if now != offset:
                found.append(f"end offset of {topic}[{partition}]: {offset} -> {now}")
        for group, offsets in sorted(self.committed.items()):
            now_offsets = after.committed.get(group, {})
            if now_offsets != offsets:
                found.append(f"committed offsets of {group}: {offsets} -> {now_offsets}")
        return found


def snapshot(admin: AdminClient, timeout_s: float = 15.0) -> ClusterSnapshot:
    """Record the topics, end offsets, groups and committed offsets of the cluster now."""
    topics = {t for t in topic_names(admin, timeout_s) if not t.startswith(INTERNAL_TOPIC_PREFIX)}
    groups = group_ids(admin, timeout_s)
    return ClusterSnapshot(
        topics=frozenset(topics),
        end_offsets=end_offsets(admin, sorted(topics), timeout_s),
        groups=frozenset(groups),
        committed={group: committed_offsets(admin, group, timeout_s) for group in groups},
    )
