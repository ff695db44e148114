"""The smoke suite against a cluster kafkarig did not start leaves it exactly as it was.

The cluster is one broker started with a plain ``docker run`` (no stack, no compose), made
to look like somebody's: the seed's topic ``user-events`` with records, a group
``analytics-group`` with committed offsets, another topic and group, an empty topic. The
topics, their end offsets, the groups and their committed offsets are recorded before the
smoke suite runs (as a user would run it: ``--bootstrap`` from a folder with no stack file)
and compared after: once on a passing run, and once on a run where checks fail and time out.
"""

from __future__ import annotations

import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from confluent_kafka import Consumer, Producer
from confluent_kafka.admin import AdminClient, NewTopic
from python_on_whales import DockerClient

from harness import admin as admin_ops
from tests.integration.conftest import KAFKA_4_IMAGE, free_port, kraft_env

SMOKE_RUN_TIMEOUT_S = 600

# Checks that fail and hang after making scratch topics and groups, run with the suite.
FAILING_CHECKS = """
import time
import uuid
from harness.consumer import RetryingConsumer


def _use_the_cluster(bootstrap, topic, group, producer):
    producer.send(topic, {"id": 1}, key="1")
    producer.flush()
    with RetryingConsumer(bootstrap, topic, group_id=group) as consumer:
        consumer.run(lambda value, message: None, max_messages=1, idle_timeout_s=20)


def test_fails_after_writing(bootstrap_servers, scratch_topic, json_producer, unique_group):
    _use_the_cluster(bootstrap_servers, scratch_topic(dlq=True), unique_group(), json_producer)
    assert False, "made to fail"


def test_times_out_while_consuming(
    bootstrap_servers, scratch_topic, json_producer, unique_group
):
    topic, group = scratch_topic(partitions=3), unique_group()
    _use_the_cluster(bootstrap_servers, topic, group, json_producer)
    with RetryingConsumer(bootstrap_servers, topic, group_id=group) as consumer:
        consumer.run(lambda value, message: time.sleep(60), idle_timeout_s=120)
"""


@dataclass(frozen=True)
class ForeignCluster:
    """Somebody's cluster: where it is and an admin client on it."""

    bootstrap: str
    admin: AdminClient


def _populate(bootstrap: str, admin: AdminClient) -> None:
    """Topics with records and groups with committed offsets, as a team's cluster has."""
    topics = [NewTopic("user-events", 3, 1), NewTopic("orders", 1, 1), NewTopic("audit", 2, 1)]
    for future in admin.create_topics(topics, request_timeout=30).values():
        future.result(timeout=30)
    producer = Producer({"bootstrap.servers": bootstrap, "acks": "all"})
    for n in range(30):
        producer.produce("user-events", f'{{"user_id": {n}, "action": "login"}}', key=str(n))
    for n in range(5):
        producer.produce("orders", f'{{"order": {n}}}')
    assert producer.flush(30) == 0
    for group, topic, count in (("analytics-group", "user-events", 12), ("billing", "orders", 3)):
        consumer = Consumer(
            {
                "bootstrap.servers": bootstrap,
                "group.id": group,
                "auto.offset.reset": "earliest",
                "enable.auto.commit": False,
            }
        )
        consumer.subscribe([topic])
        seen, deadline = 0, time.monotonic() + 60
        while seen < count and time.monotonic() < deadline:
            message = consumer.poll(0.5)
            if message is not None and message.error() is None:
                seen += 1
                consumer.commit(message, asynchronous=False)
        consumer.close()
        assert seen == count, f"{group} consumed {seen} of {count}"


@pytest.fixture(scope="module")
def foreign_cluster(docker: DockerClient, local_images: list[str]) -> Iterator[ForeignCluster]:
    """One broker from a plain ``docker run``, with somebody's topics and groups."""
    port, name = free_port(), f"somebodys-kafka-{uuid.uuid4().hex[:8]}"
    container = docker.run(
        KAFKA_4_IMAGE,
        detach=True,
        name=name,
        hostname=name,
        envs=kraft_env(1, port, f"1@{name}:19093", name),
        publish=[(f"127.0.0.1:{port}", port)],
    )
    try:
        bootstrap = f"localhost:{port}"
        admin_ops.wait_for_cluster(bootstrap, timeout_s=90)
        admin = admin_ops.admin_client(bootstrap)
        _populate(bootstrap, admin)
        yield ForeignCluster(bootstrap, admin)
    finally:
        docker.container.remove(container, force=True, volumes=True)


def _run_smoke(cwd: Path, bootstrap: str, *extra: str) -> subprocess.CompletedProcess[str]:
    """The smoke suite as a user runs it against any cluster, from ``cwd``."""
    command = [sys.executable, "-m", "pytest", "--pyargs", "harness.smoke"]
    command += ["--bootstrap", bootstrap, "-p", "no:cacheprovider", "-q", *extra]
    return subprocess.run(
        command, cwd=cwd, capture_output=True, text=True, timeout=SMOKE_RUN_TIMEOUT_S
    )


def _summary(result: subprocess.CompletedProcess[str]) -> str:
    return result.stdout[result.stdout.find("kafkarig smoke summary") :]


def test_a_passing_smoke_run_leaves_the_cluster_as_it_found_it(
    foreign_cluster: ForeignCluster, tmp_path: Path
) -> None:
    before = admin_ops.snapshot(foreign_cluster.admin)
    assert {"user-events", "orders", "audit"} <= before.topics
    assert {"analytics-group", "billing"} <= before.groups
    assert before.committed["analytics-group"], "the group has committed offsets to keep"

    result = _run_smoke(tmp_path, foreign_cluster.bootstrap)

    summary = _summary(result)
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-2000:]
    assert "a cluster kafkarig did not start (no stack file read)" in summary
    for seed_check in (
        "test_the_seed_producer_and_consumer_loop_work_as_written",
        "test_the_seed_kcat_command_prints_a_record_this_run_produced",
        "test_seed_docker_exec_command_lists_the_topics",
    ):
        assert f"skip {_module_of(seed_check)}::{seed_check}: seed-verbatim" in summary
    assert "ok   test_smoke::test_seed_message_round_trips" in summary
    assert "LEFT BEHIND" not in summary and "deleted" in summary
    assert not list(tmp_path.iterdir()), "the run wrote files where it ran"
    after = admin_ops.snapshot(foreign_cluster.admin)
    assert before.differences(after) == []


def _module_of(check: str) -> str:
    return "test_seed_snippets" if "producer_and_consumer" in check else "test_smoke"


def test_a_smoke_run_whose_checks_fail_and_time_out_leaves_the_cluster_as_it_found_it(
    foreign_cluster: ForeignCluster, tmp_path: Path
) -> None:
    checks = tmp_path / "checks"
    checks.mkdir()
    (checks / "test_made_to_fail.py").write_text(FAILING_CHECKS)
    before = admin_ops.snapshot(foreign_cluster.admin)

    # Every check gets 4 s: the longer ones are killed mid-way by pytest-timeout.
    result = _run_smoke(checks, foreign_cluster.bootstrap, str(checks), "--smoke-timeout", "4")

    summary = _summary(result)
    assert result.returncode == 1, result.stdout[-4000:] + result.stderr[-2000:]
    assert "FAIL test_made_to_fail::test_fails_after_writing" in summary
    assert "FAIL test_made_to_fail::test_times_out_while_consuming" in summary
    assert "Timeout" in result.stdout
    assert "LEFT BEHIND" not in summary, summary
    after = admin_ops.snapshot(foreign_cluster.admin)
    assert before.differences(after) == []
