"""The chaos report: verdicts, the Markdown table, JSON without NaN, and the picture."""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path

import pytest

from harness.chaos.results import (
    FaultMark,
    ScenarioResult,
    markdown,
    table_row,
    timeline,
    write_reports,
)
from harness.chaos.runner import Scenario
from harness.chaos.scenarios import SCENARIOS, scenario_named
from harness.checker import Read, Write, check_history
from harness.errors import ConfigurationError


@dataclass(frozen=True)
class Acked:
    done_s: float
    latency_s: float


def result(name: str, *, lose: int = 0, safe: bool = True) -> ScenarioResult:
    writes = [Write("k", f"v{n}", 0, n, n) for n in range(10)]
    reads = [Read("k", w.value, 0, w.offset) for w in writes[lose:]]
    acked = [Acked(done_s=n * 0.5, latency_s=0.01 * n) for n in range(10)]
    return ScenarioResult(
        name=name,
        description=f"{name} scenario",
        safe=safe,
        sent=10,
        failed=0,
        check=check_history(writes, reads),
        faults=[FaultMark("kill", "kafka-2", 1.0, 3.5)],
        recovery_s=[2.25],
        worst_latency_s=0.09,
        duration_s=5.0,
        series=timeline(acked),
    )


def test_a_clean_safe_scenario_passes() -> None:
    clean = result("leader-kill")
    assert clean.violations == []
    assert table_row(clean) == (
        "| leader-kill | safe | 10 | 0 | 0 | 0 | 0 | 2.2 s | 0.1 s | PASS |"
    )


def test_a_safe_scenario_that_lost_records_fails_and_says_how_many() -> None:
    lossy = result("leader-kill", lose=3)
    assert lossy.violations == ["lost=3"]
    assert table_row(lossy).endswith("| FAIL: lost=3 |")


def test_a_control_with_loss_is_reported_not_failed() -> None:
    control = result("control", lose=4, safe=False)
    assert control.violations == []
    assert "control: 4 lost, as expected" in table_row(control)
    assert "control: NO loss seen" in table_row(result("control", safe=False))


def test_the_markdown_has_one_row_per_scenario_and_each_fault() -> None:
    text = markdown([result("a"), result("b", lose=1)])
    rows = [line for line in text.splitlines() if line.startswith("| ") and "---" not in line]
    assert len(rows) == 3  # header + 2 scenarios
    assert (
        "- kill kafka-2 at 1.0 s (in effect at 1.0 s) for 2.5 s; first ack after it: 2.2 s" in text
    )
    assert "- lost (sample): `v0`" in text


def test_the_timeline_bins_acks_per_second_with_the_worst_latency() -> None:
    series = timeline([Acked(0.2, 0.1), Acked(0.7, 0.3), Acked(2.1, 0.2)])
    assert series.time_s == [0.0, 1.0, 2.0]
    assert series.acks_per_s == [2, 0, 1]
    assert series.worst_latency_s[0] == 0.3 and math.isnan(series.worst_latency_s[1])


def test_reports_are_written_as_json_markdown_and_png(tmp_path: Path) -> None:
    paths = write_reports([result("a"), result("control", lose=2, safe=False)], tmp_path)
    assert [p.name for p in paths] == ["chaos.json", "chaos.md", "chaos.png"]
    data = json.loads((tmp_path / "chaos.json").read_text())  # strict JSON: no NaN
    assert [s["name"] for s in data["scenarios"]] == ["a", "control"]
    assert data["scenarios"][1]["check"]["lost"]["count"] == 2
    assert data["scenarios"][0]["passed"] is True
    assert (tmp_path / "chaos.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_a_scenario_whose_workload_cannot_reach_its_minimum_is_refused() -> None:
    with pytest.raises(ConfigurationError, match="max_records=10 is below min_records=20"):
        Scenario("bad", "bad", lambda run: None, min_records=20, max_records=10)


def test_every_shipped_scenario_has_a_unique_name_and_one_control() -> None:
    names = [scenario.name for scenario in SCENARIOS]
    assert len(names) == len(set(names)) == 8
    assert [s.name for s in SCENARIOS if not s.safe] == ["control-acks1-unclean"]
    assert scenario_named("leader-kill-x5").min_records >= 100_000
