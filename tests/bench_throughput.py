"""Throughput figures on a running stack (``nox -s up`` first): the harness producer with
100-byte JSON values beside ``kafka-producer-perf-test`` on the same broker, and the
retrying consumer loop with a no-op handler."""

from __future__ import annotations

import json
import re
import subprocess
import time
import uuid
from pathlib import Path
from typing import Any

from confluent_kafka import Message
from confluent_kafka.admin import AdminClient, NewTopic

from harness.consumer import RetryingConsumer
from harness.producer import JsonProducer
from infra.config import load_stack

RECORDS = 200_000
VALUE_BYTES = 100


def _value(index: int) -> dict[str, Any]:
    """A JSON value that encodes to exactly VALUE_BYTES bytes."""
    value: dict[str, Any] = {"user_id": index, "action": "login", "pad": ""}
    value["pad"] = "x" * (VALUE_BYTES - len(json.dumps(value).encode()))
    return value


def _topic(admin: AdminClient, partitions: int = 3) -> str:
    name = f"bench-{uuid.uuid4().hex[:8]}"
    # With its DLQ topic: the retrying consumer refuses to start without one.
    topics = [NewTopic(name, partitions, 1), NewTopic(f"{name}-dlq", partitions, 1)]
    for future in admin.create_topics(topics).values():
        future.result(timeout=30)
    return name


def bench_throughput(runs: int) -> None:
    """Print producer and consumer throughput; ``runs`` repeats the producer measurement."""
    stack = load_stack(Path("stack.toml"))
    bootstrap = stack.bootstrap_servers
    admin = AdminClient({"bootstrap.servers": bootstrap})
    values = [_value(index) for index in range(1000)]
    assert all(len(json.dumps(v).encode()) == VALUE_BYTES for v in values)
    broker = stack.brokers[0].service
    for _ in range(max(1, min(runs, 3))):
        topic = _topic(admin)
        with JsonProducer(bootstrap) as producer:
            started = time.monotonic()
            for index in range(RECORDS):
                producer.send(topic, values[index % 1000])
                if index % 10_000 == 0:
                    producer.poll(0)
            producer.flush()
            elapsed = time.monotonic() - started
        print(
            f"throughput: harness JsonProducer (idempotent, acks=all, {VALUE_BYTES} B JSON): "
            f"{RECORDS / elapsed:,.0f} msg/s ({RECORDS} records in {elapsed:.1f}s)"
        )
        perf_topic = _topic(admin)
        result = subprocess.run(
            [
                "docker", "exec", broker, "kafka-producer-perf-test",
                "--topic", perf_topic,
                "--num-records", str(RECORDS),
                "--record-size", str(VALUE_BYTES),
                "--throughput", "-1",
                "--producer-props", f"bootstrap.servers={stack.brokers[0].advertised_address}",
                "acks=all", "enable.idempotence=true", "linger.ms=5",
            ],
            capture_output=True, text=True, check=True,
        )  # fmt: skip
        summary = result.stdout.strip().splitlines()[-1]
        rate = re.search(r"([\d.]+) records/sec", summary)
        print(
            f"throughput: kafka-producer-perf-test (in the broker container, same settings): "
            f"{float(rate.group(1)) if rate else float('nan'):,.0f} msg/s ({summary})"
        )
        admin.delete_topics([perf_topic])

    count = 0

    def no_op(value: Any, message: Message) -> None:
        nonlocal count
        count += 1

    group = f"bench-{uuid.uuid4().hex[:8]}"
    with RetryingConsumer(bootstrap, topic, group_id=group) as consumer:
        consumer.run(no_op, max_messages=1)  # join the group and get the assignment first
        started = time.monotonic()
        stats = consumer.run(no_op, max_messages=RECORDS - 1, idle_timeout_s=10)
        elapsed = time.monotonic() - started
    print(
        f"throughput: RetryingConsumer loop, no-op handler: {stats.processed / elapsed:,.0f} "
        f"msg/s ({stats.processed} records in {elapsed:.1f}s)"
    )
    admin.delete_topics([topic])
