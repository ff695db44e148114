"""The seed workflow, checked against a running cluster: topics, producer, consumer, kcat.

On a cluster kafkarig did not start the checks write only to scratch topics and read with
fresh groups; the seed-verbatim ones (marked ``seed_verbatim``) run only on kafkarig's own
plaintext stack. With ``--read-only`` only the metadata, layout and read checks run.
"""

from __future__ import annotations

import contextlib
import json
import os
import pty
import queue
import random
import subprocess
import threading
import time
import uuid
from collections import defaultdict
from collections.abc import Callable
from typing import Any

import pytest
from confluent_kafka import Message
from confluent_kafka.admin import AdminClient

from harness import admin as admin_ops
from harness import kcat
from harness.consumer import RetryingConsumer
from harness.dlq_writer import DlqOptions
from harness.producer import JsonProducer
from harness.pytest_plugin import ScratchTopic
from harness.reader import read_tail
from harness.retry import RetryPolicy
from harness.scratch import ScratchRegistry
from infra.config import Stack, TopicSpec
from infra.topics import describe_topics, differences

SEED_MESSAGE = {"user_id": 1, "action": "login"}
FAST_RETRY = RetryPolicy(max_attempts=3, initial_backoff_ms=20, max_backoff_ms=100)


def test_the_cluster_answers_with_a_leader_for_every_partition(kafka_admin: AdminClient) -> None:
    metadata = kafka_admin.list_topics(timeout=15)
    assert metadata.brokers, "the cluster reports no brokers"
    leaderless = [
        f"{name}[{partition.id}]"
        for name, topic in sorted(metadata.topics.items())
        for partition in topic.partitions.values()
        if partition.leader < 0 or partition.error is not None
    ]
    assert not leaderless, f"partitions without a leader: {', '.join(leaderless)}"


def test_declared_topics_exist_as_declared(
    kafka_admin: AdminClient, declared_topics: list[TopicSpec]
) -> None:
    if not declared_topics:
        pytest.skip("no stack file: no declared topics to check")
    states = describe_topics(kafka_admin, [t.name for t in declared_topics])
    problems = [
        f"{spec.name}: " + ("missing" if spec.name not in states else "; ".join(found))
        for spec in declared_topics
        if spec.name not in states or (found := differences(spec, states[spec.name]))
    ]
    assert not problems, "topics differ from the stack file:\n  " + "\n  ".join(problems)


def test_kcat_sees_the_brokers_and_topics_the_admin_client_sees(
    bootstrap_servers: str, kafka_admin: AdminClient, kafka_client_config: dict[str, str]
) -> None:
    before = admin_ops.topic_names(kafka_admin)
    seen = kcat.list_metadata(bootstrap_servers, config=kafka_client_config)
    # Topics listed both before and after kcat's look: others may come and go meanwhile.
    stable = before & admin_ops.topic_names(kafka_admin)
    brokers = admin_ops.describe_cluster(kafka_admin).broker_ids
    assert sorted(seen.brokers) == list(brokers)
    missing = sorted(stable - set(seen.topics))
    assert not missing, f"kcat -L does not list {', '.join(missing)}"


def test_named_topics_can_be_read_without_a_group_or_a_commit(
    request: pytest.FixtureRequest,
    bootstrap_servers: str,
    kafka_admin: AdminClient,
    kafka_client_config: dict[str, str],
    scratch: ScratchRegistry,
) -> None:
    topics = request.config.getoption("--read-topic")
    if not topics:
        pytest.skip("no --read-topic given")
    group = f"{scratch.prefix}read-only"  # librdkafka needs one; never joined, never committed
    max_records = request.config.getoption("--read-max-records")
    for topic in topics:
        read = read_tail(
            bootstrap_servers,
            topic,
            max_records=max_records,
            group_id=group,
            config=kafka_client_config,
        )
        print(read.summary())
        assert len(read.records) == read.expected, read.summary()
    assert group not in admin_ops.group_ids(kafka_admin), "the read created a group"


def test_seed_message_round_trips(
    bootstrap_servers: str,
    seed_topic: str,
    json_producer: JsonProducer,
    kafka_client_config: dict[str, str],
) -> None:
    marker = uuid.uuid4().hex
    json_producer.send(seed_topic, SEED_MESSAGE, key=marker)
    json_producer.flush()
    (ack,) = [a for a in json_producer.acked if a.key_text == marker]
    (record,) = kcat.consume(
        bootstrap_servers,
        seed_topic,
        count=1,
        partition=ack.partition,
        offset=str(ack.offset),
        config=kafka_client_config,
    )
    assert (record.partition, record.offset) == (ack.partition, ack.offset)
    assert record.key_text == marker
    assert record.json() == SEED_MESSAGE


@pytest.mark.seed_verbatim
def test_the_seed_kcat_command_prints_a_record_this_run_produced(
    bootstrap_servers: str, seed_topic: str, json_producer: JsonProducer
) -> None:
    # The seed's verification command as written (kcat -b HOST:PORT -C -t TOPIC) follows the
    # topic forever and prints values only. The value produced here has the seed message's
    # shape with a user id drawn for this run, so an older record cannot pass the check.
    # kcat runs on a pseudo-terminal, as in a user's shell (on a pipe it buffers its output);
    # its lines are read on a thread while the test produces.
    first_broker = bootstrap_servers.split(",")[0]
    message = {**SEED_MESSAGE, "user_id": random.randrange(10**9, 10**10)}
    expected = json.dumps(message)
    lines: queue.Queue[str] = queue.Queue()
    controller, terminal = pty.openpty()
    seed_kcat = subprocess.Popen(
        [kcat.find_kcat(), "-b", first_broker, "-C", "-t", seed_topic],
        stdout=terminal,
        stderr=subprocess.DEVNULL,
        stdin=subprocess.DEVNULL,
    )
    os.close(terminal)

    def read_lines() -> None:
        # OSError (EIO) ends the loop once kcat is gone.
        with open(controller, "rb", buffering=0) as output, contextlib.suppress(OSError):
            for raw in output:
                lines.put(raw.decode(errors="replace").strip())

    threading.Thread(target=read_lines, daemon=True).start()
    seen = False
    try:
        json_producer.send(seed_topic, message, key="seed-kcat-check")
        json_producer.flush()
        deadline = time.monotonic() + 20
        with contextlib.suppress(queue.Empty):
            while not seen:  # every line printed so far, older records included
                seen = lines.get(timeout=max(0.1, deadline - time.monotonic())) == expected
    finally:
        seed_kcat.kill()
        seed_kcat.wait()
    assert seen, f"`kcat -b {first_broker} -C -t {seed_topic}` did not print {expected}"


@pytest.mark.seed_verbatim
def test_seed_docker_exec_command_lists_the_topics(stack: Stack | None, seed_topic: str) -> None:
    if stack is None or [b.service for b in stack.brokers] != ["kafka"]:
        pytest.skip("the seed's `docker exec kafka ...` needs kafkarig's single-broker stack")
    port = stack.brokers[0].host_port
    # As the seed writes it, on every flavor: kafkarig puts kafka-topics on PATH in each.
    result = subprocess.run(
        [
            "docker",
            "exec",
            "kafka",
            "kafka-topics",
            "--list",
            "--bootstrap-server",
            f"localhost:{port}",
        ],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert seed_topic in result.stdout.split()


def _collect(into: list[tuple[Any, Message]]) -> Callable[[Any, Message], None]:
    def handler(value: Any, message: Message) -> None:
        into.append((value, message))

    return handler


def _consumer(
    bootstrap: str, topic: str, group: str, client_config: dict[str, str]
) -> RetryingConsumer:
    """kafkarig's consumer with the client config (its DLQ producer's too)."""
    return RetryingConsumer(
        bootstrap,
        topic,
        group_id=group,
        policy=FAST_RETRY,
        config=client_config,
        dlq=DlqOptions(producer_config=client_config),
    )


def test_per_key_ordering_holds_across_three_partitions(
    bootstrap_servers: str,
    kafka_client_config: dict[str, str],
    scratch_topic: ScratchTopic,
    json_producer: JsonProducer,
    unique_group: Callable[..., str],
) -> None:
    topic = scratch_topic(partitions=3, dlq=True)
    keys = [f"user-{n}" for n in range(12)]
    per_key = 25
    for sequence in range(per_key):
        for key in keys:
            json_producer.send(topic, {"key": key, "seq": sequence}, key=key)
    json_producer.flush()
    seen: list[tuple[Any, Message]] = []
    with _consumer(bootstrap_servers, topic, unique_group(), kafka_client_config) as consumer:
        consumer.run(_collect(seen), max_messages=len(keys) * per_key, idle_timeout_s=20)
    sequences: dict[str, list[int]] = defaultdict(list)
    partitions: dict[str, set[int]] = defaultdict(set)
    for value, message in seen:
        sequences[value["key"]].append(value["seq"])
        partitions[value["key"]].add(message.partition() or 0)
    assert sorted(sequences) == sorted(keys)
    for key in keys:
        assert sequences[key] == list(range(per_key)), f"{key} out of order"
        assert len(partitions[key]) == 1, f"{key} spread over partitions {partitions[key]}"
    assert len({p for ps in partitions.values() for p in ps}) == 3, "keys did not use 3 partitions"


def test_the_group_commits_and_a_restarted_consumer_does_not_reprocess(
    bootstrap_servers: str,
    kafka_client_config: dict[str, str],
    scratch_topic: ScratchTopic,
    json_producer: JsonProducer,
    unique_group: Callable[..., str],
) -> None:
    topic = scratch_topic(partitions=3, dlq=True)
    group = unique_group()
    for n in range(20):
        json_producer.send(topic, {"id": f"first-{n}"}, key=str(n))
    json_producer.flush()
    first: list[tuple[Any, Message]] = []
    with _consumer(bootstrap_servers, topic, group, kafka_client_config) as consumer:
        consumer.run(_collect(first), max_messages=20, idle_timeout_s=20)
    for n in range(10):
        json_producer.send(topic, {"id": f"second-{n}"}, key=str(n))
    json_producer.flush()
    second: list[tuple[Any, Message]] = []
    with _consumer(bootstrap_servers, topic, group, kafka_client_config) as consumer:
        # The group join happens inside this generous run, not inside the short idle window.
        consumer.run(_collect(second), max_messages=10, idle_timeout_s=30)
        after = consumer.run(_collect(second), idle_timeout_s=2)
    assert sorted(v["id"] for v, _ in first) == sorted(f"first-{n}" for n in range(20))
    assert sorted(v["id"] for v, _ in second) == sorted(f"second-{n}" for n in range(10))
    assert after.received == 0, "the restarted consumer saw records the group had committed"


def test_kcat_sees_exactly_what_was_produced(
    bootstrap_servers: str,
    kafka_client_config: dict[str, str],
    scratch_topic: ScratchTopic,
    json_producer: JsonProducer,
) -> None:
    topic = scratch_topic(partitions=3)
    for n in range(30):
        json_producer.send(topic, {"n": n, "action": "login"}, key=f"k{n % 7}")
    json_producer.flush()
    produced = sorted((a.partition, a.offset, a.key, a.value) for a in json_producer.acked)
    records = kcat.consume(bootstrap_servers, topic, config=kafka_client_config)
    seen = sorted((r.partition, r.offset, r.key, r.payload) for r in records)
    assert len(produced) == 30
    assert seen == produced
    assert {p for p, *_ in seen} == {0, 1, 2}
