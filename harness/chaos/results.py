"""A chaos scenario's figures, and the report people read: JSON, Markdown, JUnit, a picture.

Pure data and rendering (matplotlib draws ``chaos.png``: throughput and produce latency over
time, with each fault shaded where it lasted). The JUnit XML is pytest's own
(``--junitxml``); this module writes ``chaos.json`` and ``chaos.md``.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from harness.checker import CheckReport

SERIES_BIN_S = 1.0


class _Acked(Protocol):
    @property
    def done_s(self) -> float: ...

    @property
    def latency_s(self) -> float: ...


@dataclass(frozen=True)
class FaultMark:
    """A fault on the workload's clock: what, on which container, from when to when."""

    kind: str
    target: str
    start_s: float
    end_s: float
    effective_s: float | None = None
    """When the fault was in effect (the kill done, every broker down), if not at once."""

    @property
    def in_effect_s(self) -> float:
        """When the fault was in effect: the clock of "fault to first ack"."""
        return self.start_s if self.effective_s is None else self.effective_s


@dataclass(frozen=True)
class Series:
    """Per-second acknowledged records and the worst produce latency among them."""

    time_s: list[float] = field(default_factory=list)
    acks_per_s: list[int] = field(default_factory=list)
    worst_latency_s: list[float] = field(default_factory=list)


def timeline(acked: Iterable[_Acked], bin_s: float = SERIES_BIN_S) -> Series:
    """Bin acknowledged deliveries by the second their report arrived."""
    counts: dict[int, int] = {}
    worst: dict[int, float] = {}
    for delivery in acked:
        slot = int(delivery.done_s // bin_s)
        counts[slot] = counts.get(slot, 0) + 1
        worst[slot] = max(worst.get(slot, 0.0), delivery.latency_s)
    if not counts:
        return Series()
    slots = range(min(counts), max(counts) + 1)
    return Series(
        time_s=[slot * bin_s for slot in slots],
        acks_per_s=[int(counts.get(slot, 0) / bin_s) for slot in slots],
        worst_latency_s=[worst.get(slot, math.nan) for slot in slots],
    )


@dataclass(frozen=True)
class ScenarioResult:
    """What one scenario did and what the checker found."""

    name: str
    description: str
    safe: bool
    sent: int
    failed: int
    check: CheckReport
    faults: list[FaultMark]
    recovery_s: list[float | None]
    """Per fault: from the fault being in effect to the first ack of a record sent after."""
    worst_latency_s: float
    duration_s: float
    series: Series = field(default_factory=Series)
    notes: list[str] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    """Failures a scenario's own checks found (a consumer group's accounting, ...)."""

    @property
    def violations(self) -> list[str]:
        """Why a safe scenario failed (empty when it passed; a control never fails here)."""
        if not self.safe:
            return list(self.problems)
        found = self.check.findings()
        counts = [
            f"{name}={item.count}" for name, item in found.items() if item and name != "unexpected"
        ]
        return counts + self.problems

    @property
    def worst_recovery_s(self) -> float | None:
        """The slowest recovery over the scenario's faults."""
        known = [seconds for seconds in self.recovery_s if seconds is not None]
        return max(known) if known else None

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready data (the series included, for redrawing the picture)."""
        return {
            "name": self.name,
            "description": self.description,
            "safe": self.safe,
            "passed": not self.violations,
            "violations": self.violations,
            "sent": self.sent,
            "failed_deliveries": self.failed,
            "check": self.check.as_dict(),
            "faults": [vars(mark) for mark in self.faults],
            "recovery_s": self.recovery_s,
            "worst_recovery_s": self.worst_recovery_s,
            "worst_latency_s": self.worst_latency_s,
            "duration_s": self.duration_s,
            "notes": self.notes,
            "problems": self.problems,
            "series": {
                "time_s": self.series.time_s,
                "acks_per_s": self.series.acks_per_s,
                "worst_latency_s": [
                    None if math.isnan(value) else round(value, 4)
                    for value in self.series.worst_latency_s
                ],
            },
        }


TABLE_HEADER = (
    "| scenario | settings | acked | lost | duplicated | reordered | offsets with two values "
    "| fault → first ack (worst) | worst produce latency | verdict |\n"
    "| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- |"
)


def _seconds(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.1f} s"


def _short(text: str, limit: int = 100) -> str:
    """The first line of ``text``, cut to ``limit`` characters (a table cell)."""
    line = text.strip().splitlines()[0] if text.strip() else ""
    return line if len(line) <= limit else line[: limit - 1] + "…"


def table_row(result: ScenarioResult) -> str:
    """One Markdown table row for a scenario."""
    check = result.check
    if result.safe:
        verdict = (
            "PASS"
            if not result.violations
            else "FAIL: " + "; ".join(_short(violation) for violation in result.violations)
        )
    else:
        verdict = (
            f"control: {check.lost.count} lost, as expected"
            if check.lost
            else ("control: NO loss seen")
        )
    return (
        f"| {result.name} | {'safe' if result.safe else 'unsafe (control)'} | {check.acked} "
        f"| {check.lost.count} | {check.duplicated.count} | {check.reordered.count} "
        f"| {check.offset_conflicts.count} | {_seconds(result.worst_recovery_s)} "
        f"| {_seconds(result.worst_latency_s)} | {verdict} |"
    )


def markdown(results: Sequence[ScenarioResult]) -> str:
    """The Markdown report: the table, then each scenario's faults and samples."""
    lines = ["# kafkarig chaos report", "", TABLE_HEADER, *map(table_row, results), ""]
    for result in results:
        lines.append(f"## {result.name}")
        lines.append("")
        lines.append(result.description)
        lines.append("")
        for mark, recovery in zip(result.faults, result.recovery_s, strict=True):
            lines.append(
                f"- {mark.kind} {mark.target} at {mark.start_s:.1f} s (in effect at "
                f"{mark.in_effect_s:.1f} s) for {mark.end_s - mark.start_s:.1f} s; first ack "
                f"after it: {_seconds(recovery)}"
            )
        lines.append(f"- checker: `{result.check.summary()}`")
        for name, found in result.check.findings().items():
            if found:
                lines.append(f"- {name} (sample): " + "; ".join(f"`{s}`" for s in found.sample))
        lines.extend(f"- {note}" for note in result.notes)
        lines.append("")
    return "\n".join(lines)


def write_reports(results: Sequence[ScenarioResult], directory: Path) -> list[Path]:
    """Write ``chaos.json``, ``chaos.md`` and ``chaos.png`` into ``directory``."""
    directory.mkdir(parents=True, exist_ok=True)
    json_path, md_path, png_path = (directory / f"chaos.{ext}" for ext in ("json", "md", "png"))
    json_path.write_text(
        json.dumps({"scenarios": [r.as_dict() for r in results]}, indent=2, allow_nan=False) + "\n"
    )
    md_path.write_text(markdown(results))
    draw(results, png_path)
    return [json_path, md_path, png_path]


def draw(results: Sequence[ScenarioResult], path: Path) -> None:
    """Throughput and produce latency over time per scenario, faults shaded (matplotlib)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = max(1, len(results))
    figure, axes = plt.subplots(rows, 1, figsize=(12, 2.6 * rows), squeeze=False)
    for axis, result in zip(axes[:, 0], results, strict=False):
        series = result.series
        axis.plot(series.time_s, series.acks_per_s, color="tab:blue", linewidth=1)
        axis.set_ylabel("acks/s", color="tab:blue")
        axis.set_ylim(bottom=0)
        latency = axis.twinx()
        latency.plot(series.time_s, series.worst_latency_s, color="tab:red", linewidth=1)
        latency.set_ylabel("worst latency (s)", color="tab:red")
        latency.set_ylim(bottom=0)
        for mark in result.faults:
            axis.axvspan(
                mark.start_s, max(mark.end_s, mark.start_s + 0.5), color="tab:orange", alpha=0.25
            )
            axis.annotate(
                mark.kind,
                (mark.start_s, 0),
                xytext=(2, 2),
                textcoords="offset points",
                fontsize=7,
                color="tab:orange",
            )
        check = result.check
        axis.set_title(
            f"{result.name}: acked {check.acked}, lost {check.lost.count}, duplicated "
            f"{check.duplicated.count}, reordered {check.reordered.count}",
            fontsize=9,
            loc="left",
        )
    axes[-1, 0].set_xlabel("seconds since the workload started")
    if not results:
        axes[0, 0].set_title("no scenario ran")
    figure.tight_layout()
    figure.savefig(path, dpi=90)
    plt.close(figure)
