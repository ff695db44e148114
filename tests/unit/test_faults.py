"""The pure parts of fault injection: node ids, the quorum leader, undoing a fault once."""

from __future__ import annotations

import pytest

from infra.cluster import node_id_of, quorum_leader
from infra.errors import StackError
from infra.faults import Fault

QUORUM_STATUS = """ClusterId:              sTqIfJQtt57f-FYh0PpXWw
LeaderId:               2
LeaderEpoch:            1
HighWatermark:          57
CurrentVoters:          [{"id": 1}, {"id": 2}, {"id": 3}]
"""


def test_the_node_id_comes_from_the_kraft_or_the_zookeeper_variable() -> None:
    assert node_id_of(["PATH=/bin", "KAFKA_NODE_ID=3", "CLUSTER_ID=x"]) == 3
    assert node_id_of(["KAFKA_BROKER_ID=2"]) == 2
    assert node_id_of(["ZOOKEEPER_CLIENT_PORT=2181"]) is None
    assert node_id_of(["KAFKA_NODE_ID=", "A=b=c"]) is None


def test_the_active_controller_is_the_quorum_leader() -> None:
    assert quorum_leader(QUORUM_STATUS) == 2


def test_a_quorum_without_a_leader_is_an_error_that_shows_the_output() -> None:
    with pytest.raises(StackError, match=r"(?s)no leader.*LeaderId: -1"):
        quorum_leader(QUORUM_STATUS.replace("LeaderId:               2", "LeaderId: -1"))
    with pytest.raises(StackError, match="no leader"):
        quorum_leader("Error: timed out")


def test_a_fault_is_undone_once() -> None:
    calls: list[str] = []
    fault = Fault("pause", "kafka-1", started_at=0.0, undo_action=lambda: calls.append("undo"))
    assert fault.active
    fault.undo()
    fault.undo()
    assert calls == ["undo"] and not fault.active and fault.ended_at is not None


def test_a_fault_whose_undo_fails_stays_active_to_be_retried() -> None:
    def failing() -> None:
        raise StackError("docker start failed")

    fault = Fault("kill", "kafka-1", started_at=0.0, undo_action=failing)
    with pytest.raises(StackError):
        fault.undo()
    assert fault.active
