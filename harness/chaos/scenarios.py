"""The chaos scenarios, as named parameters: each a failure mode and the settings it tests.

Every safe scenario produces idempotent ``acks=all`` records to a topic shaped like the
stack's declared topic (three brokers: RF 3, ``min.insync.replicas=2``) and must end with
nothing acknowledged lost or duplicated. The control (``acks=1``, unclean leader election)
is built to lose acknowledged records, and passes when the checker reports that loss.
"""

from __future__ import annotations

from typing import Final

from confluent_kafka import ElectionType, TopicPartition
from confluent_kafka.admin import AdminClient, NewTopic

from harness.chaos.group import consumer_group_after, consumer_group_plan
from harness.chaos.runner import Plan, Scenario, ScenarioRun, TopicShape, create_topics
from infra.cluster import StackCluster
from infra.console import step
from infra.readiness import WaitFor

#: How long a broker stays dead in the kill scenarios.
DEAD_S: Final = 5.0
#: How long the pause and network-isolation faults last.
OUTAGE_S: Final = 30.0


def kill_leader_times(times: int) -> Plan:
    """SIGKILL the leader of partition 0 ``times`` times, each back in sync before the next."""

    def plan(run: ScenarioRun) -> None:
        for round_ in range(1, times + 1):
            leader = run.leader(0)
            with run.faults.killed(leader):
                run.hold(DEAD_S, f"leader {leader} dead (kill {round_} of {times})")
            run.wait_whole()
            run.hold(2, "steady state")

    return plan


def pause_leader(run: ScenarioRun) -> None:
    """Freeze the leader of partition 0 for 30 s: a hung "zombie" leader."""
    leader = run.leader(0)
    with run.faults.paused(leader):
        run.hold(OUTAGE_S, f"leader {leader} paused")
    run.wait_whole()


def isolate_leader(run: ScenarioRun) -> None:
    """Cut the leader of partition 0 off the network for 30 s."""
    leader = run.leader(0)
    with run.faults.isolated(leader):
        run.hold(OUTAGE_S, f"leader {leader} off the network")
    run.wait_whole()


def kill_controller(run: ScenarioRun) -> None:
    """SIGKILL the active KRaft controller."""
    controller = run.cluster.active_controller()
    with run.faults.killed(controller):
        run.hold(DEAD_S, f"active controller {controller} dead")
    run.wait_whole()
    run.extra.setdefault("notes", []).append(
        f"active controller was {controller}; now {run.cluster.active_controller()}"
    )


def rolling_restart(run: ScenarioRun) -> None:
    """Restart every broker cleanly, one at a time."""
    run.faults.rolling_restart()


def restart_cluster(run: ScenarioRun) -> None:
    """Stop every broker, then start them all again (data kept in the volumes)."""
    with run.faults.injected(run.faults.restart_cluster()):
        run.hold(3, "whole cluster down")
    run.wait_whole()


# -- the control -----------------------------------------------------------------------------


def create_control_topic(
    admin: AdminClient, name: str, shape: TopicShape, cluster: StackCluster
) -> None:
    """One partition on two brokers, one in-sync replica enough, unclean election allowed."""
    config = {
        **shape.config,
        "min.insync.replicas": "1",
        "unclean.leader.election.enable": "true",
    }
    create_topics(admin, {name: NewTopic(name, 1, 2, config=config)})


def _isr(run: ScenarioRun) -> tuple[int, list[int]]:
    partition = run.admin.list_topics(run.topic, timeout=5).topics[run.topic].partitions[0]
    return int(partition.leader), sorted(partition.isrs)


def unclean_election(run: ScenarioRun) -> None:
    """Kill the follower, let the leader take writes alone (acks=1), kill the leader, elect
    the stale follower uncleanly, write to it, bring the old leader back: the records only
    the old leader had are truncated.

    With three combined KRaft nodes, two are down for the moments between the leader's kill
    and the follower's start: the quorum has no majority then and comes back with the
    follower; nothing in the scenario needs the controller in those seconds."""
    leader_id, isr = _isr(run)
    follower_id = next(node for node in isr if node != leader_id)
    leader, follower = run.cluster.broker(leader_id), run.cluster.broker(follower_id)
    follower_down = run.faults.kill(follower)
    WaitFor(
        expected=f"{run.topic}[0] in sync on {leader} alone",
        probe=lambda: _isr(run),
        accept=lambda state: state == (leader_id, [leader_id]),
        timeout_s=60,
    ).wait()
    run.hold(5, f"{leader} alone acknowledges acks=1 writes")
    leader_down = run.faults.kill(leader)
    run.hold(2, "partition without a leader")
    follower_down.undo()
    # Two of three KRaft voters were down: the quorum is back once the follower is up.
    run.cluster.wait_healthy(follower, timeout_s=run.faults.wait_timeout_s)

    def stale_leader() -> tuple[int, list[int]]:
        state = _isr(run)
        if state[0] != follower_id:
            step(f"asking for an unclean election of {run.topic}[0] on {follower}")
            futures = run.admin.elect_leaders(ElectionType.UNCLEAN, [TopicPartition(run.topic, 0)])
            try:
                futures.result(timeout=10)
            except Exception as error:  # not electable yet: the probe says what it sees
                step(f"  not yet: {error!r}")
        return _isr(run)

    WaitFor(
        expected=f"{follower} elected leader of {run.topic}[0] uncleanly",
        probe=stale_leader,
        accept=lambda state: state[0] == follower_id,
        timeout_s=120,
        poll_interval_s=2,
    ).wait()
    run.hold(5, f"the stale {follower} acknowledges acks=1 writes")
    leader_down.undo()
    run.wait_whole()


#: Producer settings of the control: one broker's acknowledgement, no idempotence.
UNSAFE_PRODUCER: Final = {"acks": "1", "enable.idempotence": False}

SCENARIOS: Final[tuple[Scenario, ...]] = (
    Scenario(
        "leader-kill-x5",
        "the leader of partition 0 SIGKILLed 5 times during >= 100,000 idempotent acks=all "
        "records (Kafka's replication_test)",
        kill_leader_times(5),
        min_records=100_000,
        rate_per_s=2000,
    ),
    Scenario("leader-pause-30s", "the leader of partition 0 paused for 30 s", pause_leader),
    Scenario(
        "leader-isolate-30s",
        "the leader of partition 0 cut off the network for 30 s",
        isolate_leader,
    ),
    Scenario("controller-kill", "the active KRaft controller SIGKILLed", kill_controller),
    Scenario("rolling-restart", "every broker restarted cleanly, one at a time", rolling_restart),
    Scenario(
        "cluster-restart",
        "every broker stopped, then all started again, data kept",
        restart_cluster,
    ),
    Scenario(
        "consumer-group-broker-kill",
        "3 retrying consumers (retry + DLQ) in one group while the group's coordinator is "
        "SIGKILLed",
        consumer_group_plan,
        # The consumers handle fewer records a second than the workload makes: a bounded
        # workload that they work through while the broker dies and comes back.
        min_records=6_000,
        max_records=6_000,
        rate_per_s=400,
        with_dlq=True,
        after=consumer_group_after,
    ),
    Scenario(
        "control-acks1-unclean",
        "CONTROL: acks=1, unclean leader election, leader and follower killed in turn; loss "
        "expected (proves the checker sees it)",
        unclean_election,
        safe=False,
        min_records=5_000,
        rate_per_s=500,
        producer_config=UNSAFE_PRODUCER,
        create_topic=create_control_topic,
    ),
)


def scenario_named(name: str) -> Scenario:
    """The scenario called ``name``."""
    for scenario in SCENARIOS:
        if scenario.name == name:
            return scenario
    raise KeyError(name)
