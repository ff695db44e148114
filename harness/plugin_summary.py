"""The ``kafkarig smoke summary`` section: the cluster, every check (ran, failed, or skipped
and why), and what the run's cleanup deleted."""

from __future__ import annotations

from pathlib import Path

import pytest


def check_name(report: pytest.TestReport) -> str:
    """``module::check`` of a report (``module`` from the file: with a module given to
    ``--pyargs`` the node id alone is ``::check``)."""
    file = Path(str(report.location[0])).stem if report.location else ""
    name = report.nodeid.rpartition("::")[2]
    return f"{file}::{name}" if file else name


def skip_reason(report: pytest.TestReport) -> str:
    """Why a check was skipped, as given to ``pytest.skip``."""
    longrepr = report.longrepr
    if isinstance(longrepr, tuple) and len(longrepr) == 3:
        return str(longrepr[2]).removeprefix("Skipped: ")
    return str(longrepr)


def check_lines(stats: dict[str, list[pytest.TestReport]]) -> list[str]:
    """One line per check, sorted by name: ``ok``, ``FAIL``, ``ERR`` or ``skip: why``."""
    lines: list[tuple[str, str]] = []
    for key, label in (("passed", "ok  "), ("failed", "FAIL"), ("error", "ERR ")):
        for report in stats.get(key, []):
            if report.when == "call" or key == "error":
                lines.append((check_name(report), f"  {label} {check_name(report)}"))
    for report in stats.get("skipped", []):
        name = check_name(report)
        lines.append((name, f"  skip {name}: {skip_reason(report)}"))
    return [line for _, line in sorted(lines)]


def write_summary(
    reporter: pytest.TerminalReporter,
    *,
    bootstrap: str,
    target: str,
    read_only: bool,
    client_config: str | None,
    scratch: str | None,
) -> None:
    """Write the summary section."""
    lines = check_lines(reporter.stats)
    skipped = sum(1 for line in lines if line.startswith("  skip"))
    reporter.section("kafkarig smoke summary")
    mode = "read-only" if read_only else "read-write"
    reporter.write_line(f"cluster: {bootstrap} ({target}; {mode})")
    if client_config is not None:
        reporter.write_line(f"client config: {client_config}")
    reporter.write_line(f"checks: {len(lines) - skipped} ran, {skipped} skipped")
    for line in lines:
        reporter.write_line(line)
    if scratch is not None:
        reporter.write_line(scratch)
