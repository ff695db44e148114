"""A short chaos scenario in the smoke suite: the partition leader SIGKILLed once.

Only on a kafkarig stack of 3 or more brokers (faults act on its containers; a cluster
named by ``--bootstrap`` is never touched): idempotent ``acks=all`` records to a scratch
topic shaped like the declared one, the leader of partition 0 killed and restarted, the
topic read back, and the delivery checker must find nothing lost, duplicated or reordered.
The full matrix runs in ``nox -s chaos``.
"""

from __future__ import annotations

import pytest

from harness.chaos.runner import Scenario, run_scenario, topic_shape_of
from harness.chaos.scenarios import kill_leader_times
from infra.cluster import StackCluster
from infra.config import Stack

MIN_BROKERS = 3
SHORT_LEADER_KILL = Scenario(
    "smoke-leader-kill",
    "the leader of partition 0 SIGKILLed once during idempotent acks=all records",
    kill_leader_times(1),
    min_records=5_000,
    rate_per_s=1000,
)


@pytest.mark.timeout(300)
def test_acknowledged_records_survive_a_leader_kill(
    request: pytest.FixtureRequest, stack: Stack | None, bootstrap_servers: str
) -> None:
    """Kill the leader once; every acknowledged record is read back once, in order."""
    if request.config.getoption("--bootstrap") or stack is None:
        pytest.skip("faults act only on a kafkarig stack; --bootstrap names another cluster")
    if len(stack.brokers) < MIN_BROKERS:
        pytest.skip(
            f"the stack has {len(stack.brokers)} broker(s); killing a leader needs "
            f"{MIN_BROKERS} or more (e.g. --stack examples/three-brokers.toml)"
        )
    cluster = StackCluster(stack.project, bootstrap_servers)
    result = run_scenario(SHORT_LEADER_KILL, cluster, topic_shape_of(stack))
    assert result.faults and result.faults[0].kind == "kill"
    assert not result.violations, result.check.render()
    assert result.check.acked >= SHORT_LEADER_KILL.min_records
