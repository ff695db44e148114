"""Progress output: one line per long task, periodic lines off a terminal, full log in a file."""

from __future__ import annotations

import io
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from infra import console
from infra.errors import CommandError

NOISY = [
    sys.executable,
    "-c",
    "import time\nfor i in range(300):\n    print(f'I: Configuring package-{i}')\n"
    "time.sleep(0.6)\nprint('I: Base system installed successfully.')",
]


class FakeTerminal(io.StringIO):
    """A stream that says it is a terminal."""

    def isatty(self) -> bool:
        return True


@pytest.fixture
def stream(monkeypatch: pytest.MonkeyPatch) -> Iterator[io.StringIO]:
    """The console writes to a string, with periodic lines every 0.2 s."""
    fake = io.StringIO()
    monkeypatch.setattr(console, "CONSOLE", console.Console(fake, interval_s=0.2))
    monkeypatch.delenv(console.PLAIN_ENV_VAR, raising=False)
    yield fake


def test_a_noisy_command_is_one_task_with_a_count_not_hundreds_of_lines(
    stream: io.StringIO, tmp_path: Path
) -> None:
    log = tmp_path / "build.log"
    with console.logging_to(log):
        console.run_streaming(
            NOISY,
            what="debootstrap",
            count=lambda line: line.startswith("I: Configuring"),
            unit="packages",
        )
    lines = stream.getvalue().splitlines()
    assert len(lines) < 10, lines
    assert any("debootstrap: done in" in line and "300 packages" in line for line in lines)
    # Off a terminal the running task is reported periodically, with its elapsed time.
    assert any(line.startswith("kafkarig: debootstrap [") for line in lines), lines
    assert lines[-1] == f"kafkarig: full log: {log}"
    assert sum(line.startswith("I: Configuring") for line in log.read_text().splitlines()) == 300


def test_verbose_echoes_every_line(stream: io.StringIO, tmp_path: Path) -> None:
    console.CONSOLE.verbose = True
    console.run_streaming([*NOISY[:2], "print('a'); print('b')"], what="x")
    assert "    a\n    b\n" in stream.getvalue()


def test_a_failed_command_prints_where_its_full_log_is(stream: io.StringIO, tmp_path: Path) -> None:
    log = tmp_path / "build.log"
    with pytest.raises(CommandError) as caught, console.logging_to(log):
        console.run_streaming(
            [sys.executable, "-c", "print('E: Couldn\\'t find package x'); raise SystemExit(3)"],
            what="debootstrap",
        )
    assert "exit code: 3" in caught.value.message
    assert "E: Couldn't find package x" in caught.value.message
    output = stream.getvalue()
    assert "debootstrap: failed after" in output
    assert f"kafkarig: the full log is in {log}" in output
    assert "E: Couldn't find package x" in log.read_text()


def test_on_a_terminal_the_task_line_updates_in_place(monkeypatch: pytest.MonkeyPatch) -> None:
    terminal = FakeTerminal()
    monkeypatch.setattr(console, "CONSOLE", console.Console(terminal))
    monkeypatch.delenv(console.PLAIN_ENV_VAR, raising=False)
    monkeypatch.delenv("TERM", raising=False)
    console.run_streaming(NOISY, what="maven", count=lambda line: True, unit="lines")
    output = terminal.getvalue()
    assert "\r\033[Kkafkarig: maven [" in output
    assert output.endswith(" lines\n") and "\r\033[Kkafkarig: maven: done in " in output
    assert "I: Configuring" not in output
