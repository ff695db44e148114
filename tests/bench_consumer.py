"""Figures of the retrying consumer on a running stack (``nox -s up`` first); not tests.

    python -m tests.bench_consumer failures   records/s with no failures, and with one record
                                              in ten failing once (20 ms backoff) and one in a
                                              hundred always failing, 3 partitions; for both
                                              DLQ modes and with a backoff that pauses at once
    python -m tests.bench_consumer overhead   the loop with a no-op handler against raw
                                              confluent-kafka consume() + json.loads
    python -m tests.bench_consumer rss        RSS every 100,000 records over 1,000,000
    python -m tests.bench_consumer profile    where the per-record time goes (pyinstrument)

Each figure is the median of ``--runs`` runs with its range. Values are 100-byte JSON.
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Final

from confluent_kafka import Consumer, Message, Producer
from confluent_kafka.admin import AdminClient, NewTopic

from harness.consumer import DlqOptions, RetryingConsumer
from harness.errors import RetryableError
from harness.retry import RetryPolicy

VALUE_BYTES: Final = 100  # {"id": n, "pad": "x" * 80}: 96-102 bytes
SCENARIO_POLICY: Final = RetryPolicy(
    max_attempts=3, initial_backoff_ms=20, max_backoff_ms=100, multiplier=2.0, jitter=0.2
)


class Topics:
    """Scratch topics (each with its DLQ) on one cluster, deleted at the end."""

    def __init__(self, bootstrap: str) -> None:
        self.bootstrap = bootstrap
        self.admin = AdminClient({"bootstrap.servers": bootstrap})
        self.created: list[str] = []

    def filled(self, records: int, partitions: int = 3) -> str:
        """A new topic holding ``records`` JSON records with ids 0..records-1."""
        name = f"bench-consumer-{uuid.uuid4().hex[:8]}"
        futures = self.admin.create_topics(
            [NewTopic(name, partitions, 1), NewTopic(f"{name}-dlq", partitions, 1)]
        )
        for future in futures.values():
            future.result(timeout=30)
        self.created += [name, f"{name}-dlq"]
        producer = Producer(
            {
                "bootstrap.servers": self.bootstrap,
                "linger.ms": 20,
                "queue.buffering.max.messages": 2_000_000,
                "queue.buffering.max.kbytes": 2_000_000,
            }
        )
        for index in range(records):  # round robin: every partition gets the same share
            value = json.dumps({"id": index, "pad": "x" * 80}).encode()
            producer.produce(name, value, partition=index % partitions)
            if index % 20_000 == 0:
                producer.poll(0)
        if producer.flush(120):
            raise RuntimeError(f"could not fill {name}: records still queued after 120 s")
        return name

    def close(self) -> None:
        """Delete every topic made here."""
        if self.created:
            self.admin.delete_topics(self.created)


def _median(rates: list[float]) -> str:
    return (
        f"median {statistics.median(rates):>9,.0f}/s (range {min(rates):,.0f}-{max(rates):,.0f}, "
        f"n={len(rates)})"
    )


def scenario_handler() -> Callable[[Any, Message], None]:
    """One id in ten fails once, one in a hundred always fails (then goes to the DLQ)."""
    attempts: dict[int, int] = {}

    def handle(value: Any, message: Message) -> None:
        number = value["id"]
        if number % 100 == 7:
            raise RetryableError(f"{number} always fails")
        if number % 10 == 3:
            attempts[number] = attempts.get(number, 0) + 1
            if attempts[number] == 1:
                raise RetryableError(f"{number} fails once")

    return handle


@dataclass
class Rate:
    """Records per second of wall time, and CPU time of the whole process per record."""

    per_s: float
    cpu_us: float


def timed_run(
    bootstrap: str,
    topic: str,
    records: int,
    handler: Callable[[Any, Message], None],
    **options: Any,
) -> Rate:
    """How fast one consumer finished the records, from its first record to the last."""
    group = f"bench-{uuid.uuid4().hex[:8]}"
    with RetryingConsumer(bootstrap, topic, group_id=group, **options) as consumer:
        consumer.run(handler, max_messages=1, idle_timeout_s=30)  # join and get assigned first
        started, cpu_started = time.monotonic(), time.process_time()
        stats = consumer.run(handler, max_messages=records - 1, idle_timeout_s=15)
        elapsed, cpu = time.monotonic() - started, time.process_time() - cpu_started
    if stats.finished < records - 1:
        raise RuntimeError(f"finished {stats.finished} of {records - 1}: {stats.stop_reason}")
    return Rate(stats.finished / elapsed, cpu / stats.finished * 1e6)


def bench_failures(bootstrap: str, runs: int, records: int) -> None:
    """Records/s without failures and in the failure scenario, per DLQ mode and backoff."""
    topics = Topics(bootstrap)
    try:
        topic = topics.filled(records)
        cases: dict[str, tuple[Callable[[], Callable[[Any, Message], None]], dict[str, Any]]] = {
            "no failures, no-op handler": (lambda: lambda v, m: None, {}),
            "scenario, at-least-once DLQ": (scenario_handler, {}),
            "scenario, transactional DLQ": (
                scenario_handler,
                {"dlq": DlqOptions(transactional=True)},
            ),
            "scenario, backoff pauses at once": (scenario_handler, {"backlog_limit": 0}),
        }
        rates: dict[str, list[float]] = {name: [] for name in cases}
        for _ in range(runs):
            for name, (make_handler, options) in cases.items():
                rate = timed_run(
                    bootstrap, topic, records, make_handler(), policy=SCENARIO_POLICY, **options
                )
                rates[name].append(rate.per_s)
        print(
            f"consumer, {records} records on 3 partitions; scenario: 1 in 10 fails once, "
            "1 in 100 always fails (3 attempts, then the DLQ), 20 ms initial backoff"
        )
        for name, values in rates.items():
            print(f"  {name:<36} {_median(values)}")
    finally:
        topics.close()


def raw_rate(bootstrap: str, topic: str, records: int) -> Rate:
    """Raw confluent-kafka: consume(500) + json.loads, with the loop's client settings."""
    consumer = Consumer(
        {
            "bootstrap.servers": bootstrap,
            "group.id": f"bench-raw-{uuid.uuid4().hex[:8]}",
            "auto.offset.reset": "earliest",
            "enable.auto.offset.store": False,
        }
    )
    consumer.subscribe([topic])
    try:
        while not consumer.consume(1, 0.1):  # join and get assigned first, as timed_run does
            pass
        seen, started, cpu_started = 1, time.monotonic(), time.process_time()
        while seen < records:
            batch = consumer.consume(500, 0.1)
            for message in batch:
                if message.error() is None:
                    json.loads(message.value().decode())  # type: ignore[union-attr]
                    seen += 1
        elapsed, cpu = time.monotonic() - started, time.process_time() - cpu_started
        return Rate((seen - 1) / elapsed, cpu / (seen - 1) * 1e6)
    finally:
        consumer.close()


def bench_overhead(bootstrap: str, runs: int, records: int) -> None:
    """The loop with a no-op handler against raw consume + json.loads, interleaved runs."""
    topics = Topics(bootstrap)
    try:
        topic = topics.filled(records)
        raw: list[Rate] = []
        loop: list[Rate] = []
        for run in range(runs):  # alternate which goes first: the second finds a warmer broker
            if run % 2:
                loop.append(timed_run(bootstrap, topic, records, lambda v, m: None))
            raw.append(raw_rate(bootstrap, topic, records))
            if not run % 2:
                loop.append(timed_run(bootstrap, topic, records, lambda v, m: None))
        ratios = [b.per_s / a.per_s for a, b in zip(raw, loop, strict=True)]
        cpu_ratio = statistics.median(r.cpu_us for r in raw) / statistics.median(
            r.cpu_us for r in loop
        )
        print(f"consumer overhead, {records} records of {VALUE_BYTES} B JSON on 3 partitions:")
        for name, rates in (
            ("raw confluent-kafka consume + json.loads", raw),
            ("RetryingConsumer, no-op handler", loop),
        ):
            cpu = statistics.median(r.cpu_us for r in rates)
            print(f"  {name:<41} {_median([r.per_s for r in rates])}, CPU {cpu:.2f} us/record")
        print(
            f"  ratio loop/raw: records/s median {statistics.median(ratios):.2f} (per run "
            f"{', '.join(f'{r:.2f}' for r in ratios)}); by CPU per record {cpu_ratio:.2f}; "
            "target >= 0.85"
        )
    finally:
        topics.close()


def _rss_mib() -> float:
    with open("/proc/self/status", encoding="ascii") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    raise RuntimeError("no VmRSS in /proc/self/status")


def bench_rss(bootstrap: str, records: int) -> None:
    """RSS every 100,000 records over a long run with retries and dead letters."""
    topics = Topics(bootstrap)
    try:
        topic = topics.filled(records)
        samples: list[tuple[int, float]] = []
        count = 0
        attempts: dict[int, int] = {}

        def handle(value: Any, message: Message) -> None:
            nonlocal count
            number = value["id"]
            if number % 1000 == 7:  # 0.1 % poison: 1,000 dead letters per million
                raise RetryableError("poison")
            if number % 100 == 3 and number not in attempts:  # 1 % fail once
                attempts[number] = 1
                raise RetryableError("transient")
            attempts.pop(number, None)
            count += 1
            if count % 100_000 == 0:
                samples.append((count, _rss_mib()))

        policy = RetryPolicy(max_attempts=2, initial_backoff_ms=1, max_backoff_ms=1)
        group = f"bench-rss-{uuid.uuid4().hex[:8]}"
        started = time.monotonic()
        with RetryingConsumer(bootstrap, topic, group_id=group, policy=policy) as consumer:
            stats = consumer.run(handle, max_messages=records, idle_timeout_s=30)
        elapsed = time.monotonic() - started
        print(
            f"consumer RSS over {stats.finished:,} records ({stats.dlq:,} dead letters, "
            f"{stats.retries:,} retries) in {elapsed:.0f} s:"
        )
        for seen, rss in samples:
            print(f"  after {seen:>9,} processed: RSS {rss:6.1f} MiB")
        if len(samples) >= 3:
            growth = samples[-1][1] - samples[1][1]
            print(f"  growth from {samples[1][0]:,} to {samples[-1][0]:,}: {growth:+.1f} MiB")
    finally:
        topics.close()


def bench_profile(bootstrap: str, records: int) -> None:
    """Profile the no-op loop with pyinstrument and print where the time went."""
    from pyinstrument import Profiler

    topics = Topics(bootstrap)
    try:
        topic = topics.filled(records)
        group = f"bench-profile-{uuid.uuid4().hex[:8]}"
        with RetryingConsumer(bootstrap, topic, group_id=group) as consumer:
            consumer.run(lambda v, m: None, max_messages=1, idle_timeout_s=30)
            profiler = Profiler(interval=0.0005)
            profiler.start()
            consumer.run(lambda v, m: None, max_messages=records - 1, idle_timeout_s=15)
            profiler.stop()
        print(profiler.output_text(unicode=False, color=False, show_all=False))
    finally:
        topics.close()


def main() -> None:
    """Run one benchmark and print its figures."""
    parser = argparse.ArgumentParser(prog="python -m tests.bench_consumer", description=__doc__)
    parser.add_argument("what", choices=("failures", "overhead", "rss", "profile"))
    parser.add_argument("--bootstrap", default="localhost:9092")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--records", type=int, help="records per run (default per benchmark)")
    args = parser.parse_args()
    if args.what == "failures":
        bench_failures(args.bootstrap, args.runs, args.records or 20_000)
    elif args.what == "overhead":
        bench_overhead(args.bootstrap, args.runs, args.records or 300_000)
    elif args.what == "rss":
        bench_rss(args.bootstrap, args.records or 1_000_000)
    else:
        bench_profile(args.bootstrap, args.records or 300_000)


if __name__ == "__main__":
    main()
