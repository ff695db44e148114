"""Throughput, side by side, on a running stack (``nox -s up`` first).

One run measures, on the same broker and the same topic layout (a fresh 3-partition topic,
100-byte JSON values, 200,000 records):

producers  the harness ``JsonProducer`` (idempotent, acks=all, linger.ms=5, every delivery
           report recorded), raw confluent-kafka with the same settings (``json.dumps`` per
           record and a delivery callback that checks the error), kafka-python (the seed's
           library: ``value_serializer=json.dumps``, acks=all, idempotent), and
           ``kafka-producer-perf-test`` in the broker container (same settings);
consumers  the harness ``RetryingConsumer`` with a no-op handler (offsets stored after the
           handler), raw confluent-kafka (``consume()`` batches + ``json.loads``, auto commit),
           kafka-python (the seed's loop) and ``kafka-consumer-perf-test``.

Consumers are timed from their first record to their last, so the group join is not
counted (the perf tool's ``fetch.nMsg.sec`` excludes it likewise). Every figure is the
median and range of ``--runs`` runs (at least 3), after one unmeasured warm-up run of the
Python clients; each row's ratio to raw confluent-kafka is the median of the run-by-run
ratios (both measured in the same run, so a busy moment of the machine hits both).
"""

from __future__ import annotations

import json
import re
import statistics
import subprocess
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from confluent_kafka import Consumer, KafkaError, Message, Producer
from confluent_kafka.admin import AdminClient, NewTopic

from harness.consumer import RetryingConsumer
from harness.producer import DEFAULT_PRODUCER_CONFIG, JsonProducer
from infra.config import load_stack

RECORDS = 200_000
VALUE_BYTES = 100
PARTITIONS = 3
INTERNAL_BOOTSTRAP = "localhost:19092"  # the broker's compose-network listener, from inside it


def json_value(index: int) -> dict[str, Any]:
    """A JSON value that encodes to exactly VALUE_BYTES bytes."""
    value: dict[str, Any] = {"user_id": index, "action": "login", "pad": ""}
    value["pad"] = "x" * (VALUE_BYTES - len(json.dumps(value).encode()))
    return value


VALUES = [json_value(index) for index in range(1000)]


@dataclass
class Row:
    """One client's figures over the runs."""

    direction: str
    client: str
    rates: list[float] = field(default_factory=list)

    @property
    def median(self) -> float:
        """Median msg/s over the runs."""
        return statistics.median(self.rates)


def _new_topic(admin: AdminClient) -> str:
    name = f"bench-{uuid.uuid4().hex[:8]}"
    # With its DLQ topic: the retrying consumer refuses to start without one.
    topics = [NewTopic(name, PARTITIONS, 1), NewTopic(f"{name}-dlq", PARTITIONS, 1)]
    for future in admin.create_topics(topics).values():
        future.result(timeout=30)
    return name


def _rate(elapsed_s: float, count: int = RECORDS) -> float:
    return count / elapsed_s


# -- producers ---------------------------------------------------------------------------


def produce_harness(bootstrap: str, topic: str) -> float:
    """The harness JsonProducer, delivery reports recorded."""
    with JsonProducer(bootstrap) as producer:
        started = time.monotonic()
        for index in range(RECORDS):
            producer.send(topic, VALUES[index % 1000])
        producer.flush()
        elapsed = time.monotonic() - started
        assert len(producer.acked) == RECORDS
    return _rate(elapsed)


def produce_raw(bootstrap: str, topic: str) -> float:
    """confluent-kafka's Producer with the harness settings and a checking callback."""
    failed = 0

    def on_delivery(error: KafkaError | None, message: Message) -> None:
        nonlocal failed
        if error is not None:
            failed += 1

    producer = Producer({**DEFAULT_PRODUCER_CONFIG, "bootstrap.servers": bootstrap})
    started = time.monotonic()
    for index in range(RECORDS):
        data = json.dumps(VALUES[index % 1000]).encode("utf-8")
        while True:
            try:
                producer.produce(topic, data, on_delivery=on_delivery)
                break
            except BufferError:
                producer.poll(0.05)
        if index % 1000 == 0:
            producer.poll(0)
    remaining = producer.flush(60)
    elapsed = time.monotonic() - started
    assert remaining == 0 and failed == 0, f"{remaining} queued, {failed} failed"
    return _rate(elapsed)


def produce_kafka_python(bootstrap: str, topic: str) -> float:
    """kafka-python's KafkaProducer as the seed uses it, acks=all and idempotent."""
    from kafka import KafkaProducer

    producer = KafkaProducer(
        bootstrap_servers=bootstrap.split(","),
        value_serializer=lambda x: json.dumps(x).encode("utf-8"),
        acks="all",
        enable_idempotence=True,
        linger_ms=5,
    )
    started = time.monotonic()
    for index in range(RECORDS):
        producer.send(topic, value=VALUES[index % 1000])
    producer.flush()
    elapsed = time.monotonic() - started
    producer.close()
    return _rate(elapsed)


def produce_perf_test(broker: str, topic: str) -> float:
    """kafka-producer-perf-test in the broker container, same settings."""
    output = _docker_exec(
        broker,
        ["kafka-producer-perf-test", "--topic", topic, "--num-records", str(RECORDS),
         "--record-size", str(VALUE_BYTES), "--throughput", "-1", "--producer-props",
         f"bootstrap.servers={INTERNAL_BOOTSTRAP}", "acks=all", "enable.idempotence=true",
         "linger.ms=5"],
    )  # fmt: skip
    summary = output.strip().splitlines()[-1]
    match = re.search(r"([\d.]+) records/sec", summary)
    if match is None:
        raise RuntimeError(f"no records/sec in kafka-producer-perf-test's summary: {summary}")
    return float(match.group(1))


# -- consumers ---------------------------------------------------------------------------


def consume_harness(bootstrap: str, topic: str) -> float:
    """The RetryingConsumer loop with a no-op handler."""
    first: float | None = None

    def no_op(value: Any, message: Message) -> None:
        nonlocal first
        if first is None:
            first = time.monotonic()

    group = f"bench-{uuid.uuid4().hex[:8]}"
    with RetryingConsumer(bootstrap, topic, group_id=group) as consumer:
        stats = consumer.run(no_op, max_messages=RECORDS, idle_timeout_s=30)
        elapsed = time.monotonic() - (first or time.monotonic())
    assert stats.processed == RECORDS, stats
    return _rate(elapsed, RECORDS - 1)


def consume_raw(bootstrap: str, topic: str) -> float:
    """confluent-kafka's Consumer: consume() batches and json.loads, auto commit."""
    consumer = Consumer(
        {
            "bootstrap.servers": bootstrap,
            "group.id": f"bench-{uuid.uuid4().hex[:8]}",
            "auto.offset.reset": "earliest",
        }
    )
    consumer.subscribe([topic])
    count, first = 0, None
    deadline = time.monotonic() + 60
    while count < RECORDS and time.monotonic() < deadline:
        for message in consumer.consume(500, timeout=1.0):
            if message.error() is None:
                json.loads(message.value())
                count += 1
                if first is None:
                    first = time.monotonic()
    elapsed = time.monotonic() - (first or time.monotonic())
    consumer.close()
    assert count == RECORDS, f"read {count} of {RECORDS}"
    return _rate(elapsed, RECORDS - 1)


def consume_kafka_python(bootstrap: str, topic: str) -> float:
    """kafka-python's KafkaConsumer, the seed's loop."""
    from kafka import KafkaConsumer

    consumer = KafkaConsumer(
        topic,
        bootstrap_servers=bootstrap.split(","),
        auto_offset_reset="earliest",
        enable_auto_commit=True,
        group_id=f"bench-{uuid.uuid4().hex[:8]}",
        value_deserializer=lambda x: json.loads(x.decode("utf-8")),
        consumer_timeout_ms=30_000,
    )
    count, first = 0, None
    for _message in consumer:
        count += 1
        if first is None:
            first = time.monotonic()
        if count == RECORDS:
            break
    elapsed = time.monotonic() - (first or time.monotonic())
    consumer.close()
    assert count == RECORDS, f"read {count} of {RECORDS}"
    return _rate(elapsed, RECORDS - 1)


def consume_perf_test(broker: str, topic: str) -> float:
    """kafka-consumer-perf-test in the broker container (fetch.nMsg.sec: join excluded)."""
    output = _docker_exec(
        broker,
        ["kafka-consumer-perf-test", "--bootstrap-server", INTERNAL_BOOTSTRAP, "--topic", topic,
         "--messages", str(RECORDS), "--group", f"bench-{uuid.uuid4().hex[:8]}",
         "--timeout", "60000"],
    )  # fmt: skip
    header, values = _csv_tail(output)
    return float(values[header.index("fetch.nMsg.sec")])


def _csv_tail(output: str) -> tuple[list[str], list[str]]:
    lines = [line for line in output.strip().splitlines() if "," in line]
    if len(lines) < 2:
        raise RuntimeError(f"unexpected kafka-consumer-perf-test output:\n{output}")
    return (
        [cell.strip() for cell in lines[-2].split(",")],
        [cell.strip() for cell in lines[-1].split(",")],
    )


def _docker_exec(container: str, command: list[str]) -> str:
    result = subprocess.run(
        ["docker", "exec", container, *command],
        capture_output=True,
        text=True,
        check=False,
        timeout=300,
    )
    if result.returncode != 0:
        raise RuntimeError(
            f"`docker exec {container} {' '.join(command)}` exited {result.returncode}:\n"
            + result.stderr[-2000:]
        )
    return result.stdout


# -- the table ---------------------------------------------------------------------------

Measure = Callable[[str, str], float]
RAW = "raw confluent-kafka"


def bench_throughput(runs: int) -> None:
    """Print one table of producer and consumer throughput, ``runs`` (>= 3) runs each."""
    runs = max(3, runs)
    stack = load_stack(Path("stack.toml"))
    bootstrap = stack.bootstrap_servers
    broker = stack.brokers[0].service
    admin = AdminClient({"bootstrap.servers": bootstrap})
    assert all(len(json.dumps(v).encode()) == VALUE_BYTES for v in VALUES)
    producers: list[tuple[str, Measure]] = [
        ("harness JsonProducer", produce_harness),
        (RAW, produce_raw),
        ("kafka-python", produce_kafka_python),
        ("kafka-producer-perf-test", lambda _b, t: produce_perf_test(broker, t)),
    ]
    consumers: list[tuple[str, Measure]] = [
        ("harness RetryingConsumer", consume_harness),
        (RAW, consume_raw),
        ("kafka-python", consume_kafka_python),
        ("kafka-consumer-perf-test", lambda _b, t: consume_perf_test(broker, t)),
    ]
    rows = [Row("producer", name) for name, _ in producers]
    rows += [Row("consumer", name) for name, _ in consumers]
    topics: list[str] = []
    try:
        for _name, measure in producers[:3]:  # warm-up: connections, idempotent producer ids
            topics.append(_new_topic(admin))
            measure(bootstrap, topics[-1])
        for run in range(1, runs + 1):
            for (name, measure), row in zip(producers, rows[: len(producers)], strict=True):
                topic = _new_topic(admin)
                topics.append(topic)
                row.rates.append(measure(bootstrap, topic))
                print(f"run {run}: producer {name}: {row.rates[-1]:,.0f} msg/s", flush=True)
            # Every consumer reads the records the harness producer wrote in this run.
            source = topics[-len(producers)]
            for (name, measure), row in zip(consumers, rows[len(producers) :], strict=True):
                row.rates.append(measure(bootstrap, source))
                print(f"run {run}: consumer {name}: {row.rates[-1]:,.0f} msg/s", flush=True)
    finally:
        if topics:
            admin.delete_topics(topics + [f"{topic}-dlq" for topic in topics])
    print()
    print(render_table(rows, runs))


def render_table(rows: list[Row], runs: int) -> str:
    """The Markdown table: median, range and the ratio to raw confluent-kafka per row."""
    raw = {row.direction: row.rates for row in rows if row.client == RAW}
    lines = [
        f"Throughput, {RECORDS:,} x {VALUE_BYTES} B JSON, {PARTITIONS} partitions, "
        f"{runs} runs each (msg/s)",
        "",
        "| direction | client | median | range | vs raw confluent-kafka |",
        "| --- | --- | ---: | ---: | ---: |",
    ]
    for row in rows:
        ratio = statistics.median(
            rate / raw_rate for rate, raw_rate in zip(row.rates, raw[row.direction], strict=True)
        )
        lines.append(
            f"| {row.direction} | {row.client} | {row.median:,.0f} | "
            f"{min(row.rates):,.0f}..{max(row.rates):,.0f} | {ratio:.2f}x |"
        )
    return "\n".join(lines)
