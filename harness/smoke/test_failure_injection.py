"""Failure injection with delivery accounting: retries, the DLQ, crashes, an unwritable DLQ.

Every test keys its records by unique ids, takes the acknowledged ids from the producer's
delivery reports, collects the ids the handler finished (with repeats) and reads the DLQ back
with kcat. :func:`~harness.accounting.account_deliveries` then checks acked <= processed | DLQ
and processed & DLQ == {}, and each test asserts its scenario's exact outcome, duplicates
included. Crash tests run the consumer as a separate process (:mod:`harness.smoke.worker`)
that they SIGKILL; under the classic group protocol its members use static membership
(``group.instance.id``) so that a restart takes the dead member's partition at once instead
of after its session timeout. Every test runs under both group protocols: ``classic`` and
KIP-848's ``consumer``, where the broker owns the session timeout (kafkarig's stacks set it
to 6 s) and a restarted static member would be fenced until the dead one's session ends, so
restarts there join as new members.
"""

from __future__ import annotations

import contextlib
import re
import subprocess
import sys
import threading
import uuid
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Final

import pytest
from confluent_kafka import KafkaError, KafkaException, Message
from confluent_kafka.admin import (
    AdminClient,
    AlterConfigOpType,
    ConfigEntry,
    ConfigResource,
    NewTopic,
)

from harness import kcat
from harness.accounting import account_deliveries
from harness.client_config import render_client_config
from harness.consumer import DlqOptions, RetryingConsumer, RunStats
from harness.dlq import (
    DLQ_HEADER_NAMES,
    MAX_ERROR_MESSAGE_BYTES,
    MAX_STACKTRACE_BYTES,
    dlq_topic_for,
    parse_dlq_headers,
)
from harness.errors import DeliveryAccountingError, NonRetryableError, RetryableError
from harness.producer import Ack, JsonProducer
from harness.pytest_plugin import ScratchTopic
from harness.retry import RetryPolicy
from harness.smoke.failure_support import (
    FAST_GROUP,
    Cluster,
    GroupProtocol,
    Worker,
    account,
    acks_by_id,
    broker_config,
    committed_at,
    dlq_ids,
    holds_for,
    key_of,
    new_ids,
    produce,
    read_dlq,
    wait_until,
)

REPO_ROOT: Final = Path(__file__).resolve().parents[2]
FAST_RETRY: Final = RetryPolicy(max_attempts=3, initial_backoff_ms=20, max_backoff_ms=100)
#: DLQ writes retried (almost) without bound, for a test that keeps the DLQ unwritable.
PATIENT_DLQ_RETRY: Final = RetryPolicy(
    max_attempts=1_000_000, initial_backoff_ms=20, max_backoff_ms=100
)
ISO_8601_UTC_MS: Final = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z")


@pytest.fixture
def cluster(bootstrap_servers: str, kafka_client_config: dict[str, str]) -> Cluster:
    """The cluster under test, with the suite's client config (empty on plaintext)."""
    return Cluster(bootstrap_servers, dict(kafka_client_config))


@pytest.fixture(scope="module", params=["classic", "consumer"])
def group_protocol(request: pytest.FixtureRequest, kafka_admin: AdminClient) -> GroupProtocol:
    """Each group protocol in turn; KIP-848's only where the cluster has it."""
    if request.param == "classic":
        return GroupProtocol("classic", FAST_GROUP["session.timeout.ms"] / 1000)
    try:
        config = broker_config(kafka_admin)
    except KafkaException as error:
        if error.args[0].code() != KafkaError.CLUSTER_AUTHORIZATION_FAILED:
            raise
        pytest.skip(
            "the client may not read the brokers' configs (no describe_configs on the cluster), "
            "so which group protocols they offer is unknown"
        )
    if "consumer" not in config.get("group.coordinator.rebalance.protocols", ""):
        pytest.skip("the cluster has no KIP-848 consumer groups (Kafka 4.0 or later has them)")
    return GroupProtocol("consumer", int(config["group.consumer.session.timeout.ms"]) / 1000)


MakeConsumer = Callable[..., RetryingConsumer]


@pytest.fixture
def make_consumer(cluster: Cluster, group_protocol: GroupProtocol) -> MakeConsumer:
    """kafkarig's consumer (``make(topic, group, policy, **options)``) with fast group settings,
    logged in with the suite's client config (its DLQ producer too)."""

    def make(topic: str, group: str, policy: RetryPolicy, **options: Any) -> RetryingConsumer:
        dlq = options.pop("dlq", DlqOptions())
        return RetryingConsumer(
            cluster.bootstrap,
            topic,
            group_id=group,
            policy=policy,
            config={**cluster.config, **group_protocol.consumer_config()},
            dlq=replace(dlq, producer_config={**cluster.config, **dlq.producer_config}),
            **options,
        )

    return make


SpawnWorker = Callable[..., Worker]


@pytest.fixture
def spawn_worker(
    cluster: Cluster, tmp_path: Path, group_protocol: GroupProtocol
) -> Iterator[SpawnWorker]:
    """Start worker processes (``spawn(label, topic, group, *options)``); killed at the end."""
    workers: list[Worker] = []
    login: list[str] = []
    if cluster.config:  # the worker logs in like the suite: a private file, never argv
        secret = tmp_path / "client.properties"
        secret.touch(mode=0o600)
        secret.write_text(render_client_config(cluster.config))
        login = ["--client-config", str(secret)]

    def spawn(label: str, topic: str, group: str, *options: str) -> Worker:
        out, log = tmp_path / f"{label}.events", tmp_path / f"{label}.log"
        command = [
            sys.executable,
            "-m",
            "harness.smoke.worker",
            *("--bootstrap", cluster.bootstrap, *login, "--topic", topic, "--group", group),
            *("--out", str(out), "--group-protocol", group_protocol.name, *options),
        ]
        with log.open("wb") as output:
            process = subprocess.Popen(
                command, cwd=REPO_ROOT, stdout=output, stderr=subprocess.STDOUT
            )
        workers.append(Worker(label, process, out, log))
        return workers[-1]

    yield spawn
    for worker in workers:
        if worker.process.poll() is None:
            worker.process.kill()
            worker.process.wait(timeout=10)


# -- the tests -------------------------------------------------------------------------------


def test_a_handler_failing_fewer_than_max_attempts_times_processes_the_record_once(
    cluster: Cluster,
    scratch_topic: ScratchTopic,
    json_producer: JsonProducer,
    unique_group: Callable[..., str],
    make_consumer: MakeConsumer,
) -> None:
    """k < max_attempts failures: retried k times, then processed once; nothing in the DLQ."""
    topic, group = scratch_topic(dlq=True), unique_group()
    ids = new_ids("flaky", 4)
    flaky, failures = ids[1], 2
    policy = RetryPolicy(max_attempts=failures + 2, initial_backoff_ms=20, max_backoff_ms=50)
    produce(json_producer, topic, ids)
    calls: Counter[str] = Counter()
    processed: list[str] = []
    retries: list[tuple[str, int]] = []

    def handler(value: Any, message: Message) -> None:
        calls[value["id"]] += 1
        if value["id"] == flaky and calls[flaky] <= failures:
            raise RetryableError(f"transient failure {calls[flaky]} of {failures}")
        processed.append(value["id"])

    with make_consumer(topic, group, policy) as consumer:
        stats = consumer.run(
            handler,
            max_messages=len(ids),
            idle_timeout_s=20,
            on_retry=lambda message, attempt, backoff_ms, error: retries.append(
                (key_of(message), attempt)
            ),
        )
    dlq = dlq_ids(read_dlq(cluster, topic))
    report = account(acks_by_id(json_producer, topic), processed, dlq)

    assert processed == ids, "every record processed once, in order"
    assert calls[flaky] == failures + 1
    assert retries == [(flaky, attempt) for attempt in range(1, failures + 1)]
    assert (stats.retries, stats.processed, stats.dlq) == (failures, len(ids), 0)
    assert dlq == []
    assert report.duplicates == 0
    assert committed_at(cluster, group, topic) == len(ids)


class AlwaysFails(Exception):
    """The error of a handler that no number of retries helps."""


def test_a_handler_always_failing_dead_letters_the_record_with_every_dlq_header(
    cluster: Cluster,
    scratch_topic: ScratchTopic,
    json_producer: JsonProducer,
    unique_group: Callable[..., str],
    make_consumer: MakeConsumer,
) -> None:
    """Always failing: DLQ after max_attempts, bytes kept, dlq.* headers right; others go on."""
    topic, group = scratch_topic(dlq=True), unique_group()
    before, doomed, *later = ids = new_ids("doomed", 4)
    original_headers: list[tuple[str, bytes | None]] = [
        ("trace-id", b"trace-123"),
        ("binary", b"\xff\xfe\x80 not utf-8"),
        ("repeated", b"1"),
        ("repeated", b"2"),
    ]
    produce(json_producer, topic, [before])
    produce(json_producer, topic, [doomed], headers=original_headers)
    produce(json_producer, topic, later)
    acks = acks_by_id(json_producer, topic)
    calls: Counter[str] = Counter()
    processed: list[str] = []

    def refuse_the_doomed_record(value: Any, message: Message) -> None:
        calls[value["id"]] += 1
        if value["id"] == doomed:
            # A long message (bounded in dlq.error.message) caused by a long upstream error
            # (so the stack trace exceeds its bound and is cut, keeping this frame).
            raise AlwaysFails(f"{doomed} cannot be handled: " + "x" * 3000) from LookupError(
                "upstream said no: " + "y" * 6000
            )
        processed.append(value["id"])

    started_at = datetime.now(UTC)
    with make_consumer(topic, group, FAST_RETRY) as consumer:
        stats = consumer.run(refuse_the_doomed_record, max_messages=len(ids), idle_timeout_s=20)
    finished_at = datetime.now(UTC)
    dead = read_dlq(cluster, topic)
    report = account(acks, processed, dlq_ids(dead))

    assert processed == [before, *later], "the records around the failing one are processed"
    assert dlq_ids(dead) == [doomed]
    assert calls[doomed] == FAST_RETRY.max_attempts
    assert (stats.retries, stats.dlq) == (FAST_RETRY.max_attempts - 1, 1)
    assert report.duplicates == 0
    (record,) = dead
    ack = acks[doomed]
    assert (record.key, record.payload) == (ack.key, ack.value), "key and value byte-identical"
    assert [name for name, _ in record.headers] == [
        *(name for name, _ in original_headers),
        *DLQ_HEADER_NAMES,
    ]
    info = parse_dlq_headers(record.headers)
    assert list(info.original_headers) == original_headers, "original headers byte-identical"
    (source,) = kcat.consume(
        cluster.bootstrap, topic, offset=str(ack.offset), count=1, config=cluster.config
    )
    assert (
        info.original_topic,
        info.original_partition,
        info.original_offset,
        info.original_timestamp_ms,
    ) == (topic, ack.partition, ack.offset, source.timestamp_ms)
    assert info.consumer_group == group
    assert info.error_class == f"{AlwaysFails.__module__}.{AlwaysFails.__qualname__}"
    message_bytes = record.header("dlq.error.message") or b""
    assert info.error_message.startswith(f"{doomed} cannot be handled: xxx")
    assert len(message_bytes) <= MAX_ERROR_MESSAGE_BYTES < 3000
    trace_bytes = record.header("dlq.error.stacktrace") or b""
    assert len(trace_bytes) <= MAX_STACKTRACE_BYTES, "the stack trace is bounded"
    assert "truncated" in info.error_stacktrace, "the long trace was cut, visibly"
    assert "refuse_the_doomed_record" in info.error_stacktrace, "the raising frame is kept"
    assert f"{AlwaysFails.__qualname__}: {doomed} cannot be handled" in info.error_stacktrace
    assert info.attempts == FAST_RETRY.max_attempts
    failed_at_text = (record.header("dlq.failed.at") or b"").decode()
    assert ISO_8601_UTC_MS.fullmatch(failed_at_text), failed_at_text
    started_at_ms = started_at.replace(microsecond=started_at.microsecond // 1000 * 1000)
    assert started_at_ms <= info.failed_at <= finished_at, "dlq.failed.at is when it failed"
    assert committed_at(cluster, group, topic) == len(ids)


def test_an_undecodable_payload_is_dead_lettered_on_the_first_attempt_without_the_handler(
    cluster: Cluster,
    scratch_topic: ScratchTopic,
    json_producer: JsonProducer,
    unique_group: Callable[..., str],
    make_consumer: MakeConsumer,
) -> None:
    """Invalid UTF-8 or JSON: DLQ at attempt 1 with DecodeError; the handler never sees it."""
    topic, group = scratch_topic(dlq=True), unique_group()
    good_before, not_utf8, not_json, good_after = ids = new_ids("raw", 4)
    payloads = {not_utf8: b'{"id": "\xff\xfe\xfd"}', not_json: b'{"id": "half a record'}
    produce(json_producer, topic, [good_before])
    for record_id, payload in payloads.items():
        json_producer.send_raw(topic, payload, key=record_id)
    json_producer.flush()
    produce(json_producer, topic, [good_after])
    acks = acks_by_id(json_producer, topic)
    handled: list[str] = []

    with make_consumer(topic, group, FAST_RETRY) as consumer:
        stats = consumer.run(
            lambda value, message: handled.append(key_of(message)),
            max_messages=len(ids),
            idle_timeout_s=20,
        )
    dead = read_dlq(cluster, topic)
    report = account(acks, handled, dlq_ids(dead))

    assert handled == [good_before, good_after], "the handler never saw the undecodable ones"
    assert dlq_ids(dead) == [not_utf8, not_json]
    assert (stats.retries, stats.dlq, stats.processed) == (0, 2, 2)
    assert report.duplicates == 0
    for record in dead:
        record_id = record.key_text or ""
        info = parse_dlq_headers(record.headers)
        assert record.payload == payloads[record_id] == acks[record_id].value
        assert info.attempts == 1, f"{record_id}: dead-lettered on the first attempt"
        assert info.error_class == "harness.errors.DecodeError"
        assert info.original_offset == acks[record_id].offset
    messages = {r.key_text: parse_dlq_headers(r.headers).error_message for r in dead}
    assert "not UTF-8" in messages[not_utf8]
    assert "not JSON" in messages[not_json]
    assert committed_at(cluster, group, topic) == len(ids)


def test_a_consumer_killed_during_a_retry_backoff_redelivers_the_record_after_restart(
    cluster: Cluster,
    scratch_topic: ScratchTopic,
    json_producer: JsonProducer,
    unique_group: Callable[..., str],
    spawn_worker: SpawnWorker,
    group_protocol: GroupProtocol,
) -> None:
    """SIGKILL mid-backoff: the offset stays at the failing record; a restart redelivers it."""
    topic, group = scratch_topic(dlq=True), unique_group()
    member = f"member-{uuid.uuid4().hex[:8]}"
    ids = new_ids("backoff", 5)
    victim = ids[2]
    produce(json_producer, topic, ids)
    acks = acks_by_id(json_producer, topic)
    victim_offset = acks[victim].offset

    first = spawn_worker(
        "first",
        topic,
        group,
        *group_protocol.member_options(member),
        *("--fail-id", victim, "--fail-times", "1", "--backoff-ms", "60000"),
    )
    first.wait_for("retry", victim, "1")
    wait_until(
        lambda: committed_at(cluster, group, topic) == victim_offset,
        timeout_s=10,
        expected=f"the records before {victim} committed (offset {victim_offset})",
        seen=lambda: (committed_at(cluster, group, topic), first.describe()),
    )
    first.sigkill()  # 60 s into a backoff of 60 s: certainly mid-backoff
    assert committed_at(cluster, group, topic) == victim_offset

    second = spawn_worker("second", topic, group, *group_protocol.member_options(member))
    second.wait_for("done", ids[2], timeout_s=20 + group_protocol.takeover_s)
    for record_id in ids[3:]:
        second.wait_for("done", record_id)
    second.stop()
    processed = first.ids("done") + second.ids("done")
    report = account(acks, processed, dlq_ids(read_dlq(cluster, topic)))

    assert first.ids("done") == ids[:2]
    assert first.ids("retry") == [victim], "killed after the first failure, in its backoff"
    assert second.ids("started")[0] == victim, "the restarted consumer began at the victim"
    assert second.ids("done") == ids[2:]
    assert report.dlq_total == 0
    assert report.duplicates == 0
    assert committed_at(cluster, group, topic) == len(ids)


CreateTopic = Callable[[str, dict[str, str]], None]


@pytest.fixture
def created_topics(kafka_admin: AdminClient) -> Iterator[CreateTopic]:
    """Create topics by exact name and config (``create(name, config)``); deleted afterwards."""
    created: list[str] = []

    def create(name: str, config: dict[str, str]) -> None:
        future = kafka_admin.create_topics([NewTopic(name, 1, 1, config=config)])[name]
        future.result(timeout=30)
        created.append(name)

    yield create
    if created:
        for future in kafka_admin.delete_topics(created, request_timeout=30).values():
            with contextlib.suppress(KafkaException):
                future.result(timeout=30)


def _set_topic_config(admin: AdminClient, topic: str, name: str, value: str) -> None:
    """Set one config of ``topic`` (incremental alter: the topic's other configs stay)."""
    resource = ConfigResource(
        "topic",
        topic,
        incremental_configs=[ConfigEntry(name, value, incremental_operation=AlterConfigOpType.SET)],
    )
    for future in admin.incremental_alter_configs([resource]).values():
        future.result(timeout=30)


def test_an_unwritable_dlq_blocks_the_commit_until_the_dlq_takes_the_record(
    cluster: Cluster,
    kafka_admin: AdminClient,
    scratch_topic: ScratchTopic,
    json_producer: JsonProducer,
    unique_group: Callable[..., str],
    make_consumer: MakeConsumer,
    created_topics: CreateTopic,
) -> None:
    """A DLQ refusing the record: no commit past it, retried in place; DLQ once writable."""
    topic, group = scratch_topic(), unique_group()
    dlq_topic = dlq_topic_for(topic)
    before, poison, after = ids = new_ids("poison", 3)
    # The DLQ copy of the 1 KB record (plus its dlq.* headers) exceeds 512 bytes. The limit
    # is set at creation: a limit set later is applied by the partition leader some time
    # after the controller committed it (KAFKA-14145), and a produce in between would pass.
    created_topics(dlq_topic, {"max.message.bytes": "512"})
    # One record per produce batch: a too-large record fails the whole batch it is in.
    produce(json_producer, topic, [before])
    produce(json_producer, topic, [poison], padding=1000)
    produce(json_producer, topic, [after])
    acks = acks_by_id(json_producer, topic)
    poison_offset = acks[poison].offset
    processed: list[str] = []

    def handler(value: Any, message: Message) -> None:
        if value["id"] == poison:
            raise NonRetryableError(f"{poison} is poison")
        processed.append(value["id"])

    failed_writes: list[int] = []
    outcome: list[RunStats | BaseException] = []
    # The DLQ write is retried for as long as the test keeps the DLQ unwritable.
    consumer = make_consumer(topic, group, FAST_RETRY, dlq=DlqOptions(retry=PATIENT_DLQ_RETRY))

    def run() -> None:
        try:
            with consumer:
                stats = consumer.run(
                    handler,
                    max_messages=len(ids),
                    idle_timeout_s=20,
                    on_dlq_write_failure=lambda message, count, error: failed_writes.append(count),
                )
                outcome.append(stats)
        except BaseException as exc:
            outcome.append(exc)

    thread = threading.Thread(target=run, name="retrying-consumer", daemon=True)
    thread.start()
    try:
        wait_until(
            lambda: len(failed_writes) >= 2,
            timeout_s=15,
            expected="two failed DLQ writes of the poison record",
            seen=lambda: f"{len(failed_writes)} failures, outcome {outcome}",
        )
        wait_until(
            lambda: committed_at(cluster, group, topic) == poison_offset,
            timeout_s=10,
            expected=f"the record before the poison one committed (offset {poison_offset})",
            seen=lambda: committed_at(cluster, group, topic),
        )
        holds_for(
            lambda: committed_at(cluster, group, topic) == poison_offset,
            duration_s=1.0,
            expected=f"no commit past the poison record (offset {poison_offset})",
            seen=lambda: committed_at(cluster, group, topic),
        )
        assert read_dlq(cluster, topic) == [], "nothing reached the DLQ"
        assert processed == [before], "the record behind the poison one waits"
        failed_while_blocked = len(failed_writes)

        _set_topic_config(kafka_admin, dlq_topic, "max.message.bytes", "1048588")
        thread.join(timeout=20)
        finished_on_its_own = not thread.is_alive()
    finally:
        consumer.stop("test over")
        thread.join(timeout=20)
    assert finished_on_its_own, f"no DLQ write within 20 s of the DLQ becoming writable: {outcome}"
    (stats,) = outcome
    assert isinstance(stats, RunStats), f"the consumer failed: {stats!r}"
    dead = read_dlq(cluster, topic)
    report = account(acks, processed, dlq_ids(dead))

    assert dlq_ids(dead) == [poison], "dead-lettered exactly once, once the DLQ was writable"
    assert (dead[0].key, dead[0].payload) == (acks[poison].key, acks[poison].value)
    assert parse_dlq_headers(dead[0].headers).attempts == 1
    assert processed == [before, after]
    assert stats.dlq_write_failures >= failed_while_blocked >= 2
    assert (stats.dlq, stats.processed) == (1, 2)
    assert report.duplicates == 0
    assert committed_at(cluster, group, topic) == len(ids)


@dataclass
class _CrashRun:
    """One loop (the seed's or kafkarig's) killed while the handler works on ``victim``."""

    mode: str
    topic: str
    group: str
    member: str
    ids: list[str]
    acks: dict[str, Ack] = field(default_factory=dict)
    workers: list[Worker] = field(default_factory=list)

    @property
    def victim(self) -> str:
        """The record being processed when the process dies."""
        return self.ids[2]

    @property
    def victim_offset(self) -> int:
        """The victim's offset on partition 0."""
        return self.acks[self.victim].offset

    def processed(self) -> list[str]:
        """Ids the handler finished, over every process, with repeats."""
        return [record_id for worker in self.workers for record_id in worker.ids("done")]


def test_the_seed_auto_commit_loop_loses_a_record_on_a_crash_and_kafkarig_does_not(
    cluster: Cluster,
    scratch_topic: ScratchTopic,
    json_producer: JsonProducer,
    unique_group: Callable[..., str],
    spawn_worker: SpawnWorker,
    group_protocol: GroupProtocol,
) -> None:
    """Killed mid-processing: the seed's auto-commit loop loses the record; kafkarig's does not."""
    runs = [
        _CrashRun(
            mode,
            scratch_topic(dlq=True),
            unique_group(mode),
            f"{mode}-{uuid.uuid4().hex[:8]}",
            new_ids(mode, 5),
        )
        for mode in ("seed", "kafkarig")
    ]
    seed, ours = runs
    for run in runs:
        produce(json_producer, run.topic, run.ids)
        run.acks = acks_by_id(json_producer, run.topic)

    def committed(run: _CrashRun) -> int | None:
        return committed_at(cluster, run.group, run.topic)

    def spawn(run: _CrashRun, label: str, *options: str) -> Worker:
        worker = spawn_worker(
            f"{run.mode}-{label}",
            run.topic,
            run.group,
            *("--mode", run.mode, *group_protocol.member_options(run.member), *options),
        )
        run.workers.append(worker)
        return worker

    # Both loops take the victim and hang in its handler ("mid-processing").
    for run in runs:
        spawn(run, "first", "--hang-on", run.victim)
    for run in runs:
        run.workers[0].wait_for("started", run.victim)
    # The seed loop's auto-commit covers the victim although its work never finished ...
    wait_until(
        lambda: committed(seed) == seed.victim_offset + 1,
        timeout_s=10,
        expected=f"the seed loop's auto-commit past its victim (offset {seed.victim_offset + 1})",
        seen=lambda: (committed(seed), seed.workers[0].describe()),
    )
    # ... kafkarig's commits the records before its victim, and never the victim itself.
    wait_until(
        lambda: committed(ours) == ours.victim_offset,
        timeout_s=10,
        expected=f"kafkarig's commit of the records before its victim ({ours.victim_offset})",
        seen=lambda: (committed(ours), ours.workers[0].describe()),
    )
    holds_for(
        lambda: committed(ours) == ours.victim_offset,
        duration_s=1.0,  # five auto-commit intervals
        expected=f"kafkarig's committed offset to stay at its victim's ({ours.victim_offset})",
        seen=lambda: committed(ours),
    )
    for run in runs:
        run.workers[0].sigkill()
    # Restarted, each loop resumes at its committed offset and works to the end.
    for run in runs:
        spawn(run, "second")
    for run in runs:
        # The kafkarig loop restarts at its victim; the seed loop moved past its own.
        first_again = run.ids[2] if run is ours else run.ids[3]
        run.workers[1].wait_for("done", first_again, timeout_s=20 + group_protocol.takeover_s)
        for record_id in run.ids[3:]:
            run.workers[1].wait_for("done", record_id)
        run.workers[1].stop()

    # The seed loop lost its victim: never finished, never seen again after the restart.
    assert seed.victim in seed.workers[0].ids("started")
    assert seed.victim not in seed.processed()
    assert seed.workers[1].ids("started") == seed.ids[3:]
    assert set(seed.acks) - set(seed.processed()) == {seed.victim}
    with pytest.raises(DeliveryAccountingError, match=re.escape(repr(seed.victim))):
        account_deliveries(seed.acks, seed.processed(), [])
    # kafkarig's loop redelivered its victim after the restart: nothing lost, nothing twice.
    assert ours.workers[1].ids("started")[0] == ours.victim
    assert ours.processed() == ours.ids
    report = account(ours.acks, ours.processed(), dlq_ids(read_dlq(cluster, ours.topic)))
    assert (report.dlq_total, report.duplicates) == (0, 0)
    for run in runs:
        assert committed(run) == len(run.ids), f"{run.mode}: the restarted loop committed all"
