"""Faults on a real 3-broker kafkarig stack: a short chaos run, undo on SIGTERM, label scope.

The short version of ``nox -s chaos``: one leader kill, a pause and a network cut of a few
seconds each during idempotent ``acks=all`` records, checked by the delivery checker. The
full matrix (100,000 records, 30 s outages, controller, restarts, consumer group, control)
runs only in ``nox -s chaos``.
"""

from __future__ import annotations

import subprocess
import sys
import textwrap
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from python_on_whales import Container, DockerClient

from harness.chaos.runner import Scenario, ScenarioRun, TopicShape, run_scenario
from infra import lifecycle
from infra.cluster import SERVICE_LABEL, StackCluster, stack_containers
from infra.config import Stack
from infra.config.compose import PROJECT_LABEL
from infra.faults import FaultInjector
from tests.integration.conftest import KAFKA_4_IMAGE
from tests.integration.test_stack_lifecycle import make_stack

SHAPE = TopicShape(partitions=3, replication_factor=3, config={"min.insync.replicas": "2"})
REPO_ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def three_brokers(
    tmp_path_factory: pytest.TempPathFactory, docker: DockerClient, local_images: list[str]
) -> Iterator[Stack]:
    """A 3-broker KRaft stack for this module, torn down afterwards whatever happened."""
    root = tmp_path_factory.mktemp("faults")
    stack = make_stack("it-faults", brokers=3, heap="384m")
    try:
        lifecycle.up(stack, root)
        yield stack
    finally:
        lifecycle.down(stack)


@pytest.fixture
def bystander(docker: DockerClient) -> Iterator[Container]:
    """A paused container of *another* compose project that claims a broker's service name."""
    container = docker.run(
        KAFKA_4_IMAGE,
        ["600"],
        entrypoint="sleep",
        detach=True,
        name=f"bystander-{uuid.uuid4().hex[:8]}",
        labels={PROJECT_LABEL: "someone-else", SERVICE_LABEL: "kafka-1"},
        envs={"KAFKA_NODE_ID": "1"},
    )
    assert isinstance(container, Container)
    docker.container.pause(container)
    try:
        yield container
    finally:
        container.remove(force=True)


def short_faults(run: ScenarioRun) -> None:
    """A leader kill, a pause and a network cut, each a few seconds."""
    with run.faults.killed(run.leader(0)):
        run.hold(3)
    run.wait_whole()
    with run.faults.paused(run.leader(1)):
        run.hold(3)
    with run.faults.isolated(run.leader(2)):
        run.hold(3)
    run.wait_whole()


SHORT = Scenario("it-short", "kill, pause, isolate", short_faults, min_records=3000, rate_per_s=500)


def assert_whole(docker: DockerClient, stack: Stack) -> None:
    network = StackCluster(stack.project, stack.bootstrap_servers).network()
    for container in stack_containers(docker, stack.project):
        state = container.state
        assert state.running and not state.paused, f"{container.name}: {state.status}"
        assert network in (container.network_settings.networks or {}), container.name


def test_a_short_chaos_run_loses_nothing_and_undoes_every_fault(
    docker: DockerClient, three_brokers: Stack, bystander: Container
) -> None:
    cluster = StackCluster(three_brokers.project, three_brokers.bootstrap_servers)
    assert [b.container for b in cluster.brokers] == ["kafka-1", "kafka-2", "kafka-3"]
    result = run_scenario(SHORT, cluster, SHAPE)
    assert [mark.kind for mark in result.faults] == ["kill", "pause", "isolate"]
    assert all(mark.end_s > mark.start_s + 2.5 for mark in result.faults)
    assert not result.violations, result.check.render()
    assert result.check.acked >= SHORT.min_records
    assert len(result.recovery_s) == 3
    assert_whole(docker, three_brokers)
    # The other project's container was never touched: still paused.
    assert docker.container.inspect(bystander.name).state.paused


def test_the_active_controller_is_a_quorum_voter_of_the_stack(three_brokers: Stack) -> None:
    cluster = StackCluster(three_brokers.project, three_brokers.bootstrap_servers)
    assert cluster.active_controller() in cluster.brokers


def test_sigterm_while_a_broker_is_paused_unpauses_it_before_exiting(
    docker: DockerClient, three_brokers: Stack
) -> None:
    script = textwrap.dedent(
        f"""
        import time
        from infra.cluster import StackCluster
        from infra.faults import FaultInjector
        cluster = StackCluster({three_brokers.project!r}, {three_brokers.bootstrap_servers!r})
        with FaultInjector(cluster) as faults:
            faults.pause(cluster.broker(2))
            print("paused", flush=True)
            time.sleep(120)
        """
    )
    child = subprocess.Popen(
        [sys.executable, "-c", script],
        cwd=REPO_ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert child.stdout is not None
        assert child.stdout.readline().strip() == "paused"
        assert docker.container.inspect("kafka-2").state.paused
        child.terminate()
        _, stderr = child.communicate(timeout=60)
    finally:
        if child.poll() is None:
            child.kill()
    assert child.returncode != 0
    assert "interrupted by SIGTERM" in stderr
    assert "undoing pause of kafka-2" in stderr
    assert not docker.container.inspect("kafka-2").state.paused


def test_heal_repairs_what_a_killed_run_left_behind(
    docker: DockerClient, three_brokers: Stack
) -> None:
    cluster = StackCluster(three_brokers.project, three_brokers.bootstrap_servers)
    network = cluster.network()
    docker.container.pause("kafka-3")
    docker.network.disconnect(network, "kafka-2")
    repaired = FaultInjector(cluster).heal()
    assert sorted(repaired) == [f"reconnected kafka-2 to {network}", "unpaused kafka-3"]
    assert_whole(docker, three_brokers)
    cluster.wait_whole(timeout_s=120)
