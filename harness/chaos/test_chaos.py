"""The chaos scenarios against a running kafkarig stack of 3 or more brokers.

Each scenario runs a produce workload through its faults and hands the history to the
delivery checker. A safe scenario fails when any acknowledged record was lost, duplicated,
reordered or moved, or an offset holds two values; the control fails only when it shows no
loss (then the checker, or the scenario, would be blind).
"""

from __future__ import annotations

import pytest

from harness.chaos.results import ScenarioResult
from harness.chaos.runner import Scenario, TopicShape, run_scenario
from harness.chaos.scenarios import SCENARIOS
from infra.cluster import StackCluster

SCENARIO_TIMEOUT_S = 1200


@pytest.mark.timeout(SCENARIO_TIMEOUT_S)
@pytest.mark.parametrize("scenario", SCENARIOS, ids=lambda scenario: scenario.name)
def test_scenario(
    scenario: Scenario,
    cluster: StackCluster,
    topic_shape: TopicShape,
    chaos_results: list[ScenarioResult],
) -> None:
    """Run the scenario; what was acknowledged must have survived (a control must lose)."""
    result = run_scenario(scenario, cluster, topic_shape)
    chaos_results.append(result)
    print(result.check.render())
    if scenario.safe:
        assert not result.violations, (
            f"{scenario.name}: acknowledged records did not survive: "
            f"{', '.join(result.violations)}\n{result.check.render()}"
        )
    else:
        assert result.check.lost, (
            f"the control {scenario.name} lost nothing: the scenario did not create the "
            f"conditions for loss, or the checker is blind\n{result.check.render()}"
        )
        assert not result.violations, "; ".join(result.violations)
