"""Progress output and external commands, with errors that carry command, exit code and tail.

Long work is shown as tasks: each task is one line with its elapsed time and a count
("312 artifacts"). On a terminal the running tasks share one line that updates in place;
elsewhere (CI logs) every running task prints a line every ``interval_s`` seconds. Command
output is not echoed, except with verbose on (``-v``, or ``KAFKARIG_VERBOSE=1``); it is
written in full to the log file of :func:`logging_to`, whose path is printed at the end and
on failure.
"""

from __future__ import annotations

import collections
import contextlib
import os
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import IO

from infra.errors import CommandError, KafkarigError

VERBOSE_ENV_VAR = "KAFKARIG_VERBOSE"
PLAIN_ENV_VAR = "KAFKARIG_PROGRESS"  # "plain": periodic lines even on a terminal


class Task:
    """One long step on the progress display: a name, a count and the latest detail."""

    def __init__(self, name: str, unit: str) -> None:
        self.name = name
        self.unit = unit
        self.count = 0
        self.detail = ""
        self.started = time.monotonic()

    def advance(self, amount: int = 1) -> None:
        """Count ``amount`` more units of work."""
        self.count += amount

    def update(self, detail: str) -> None:
        """Show ``detail`` (what the step is doing now) on the task's line."""
        self.detail = detail

    @property
    def elapsed_s(self) -> float:
        """Seconds since the task started."""
        return time.monotonic() - self.started

    def status(self) -> str:
        """``name [12s] 42 units, detail``."""
        parts = [f"{self.count} {self.unit}" if self.unit else "", self.detail]
        shown = ", ".join(part for part in parts if part)
        return f"{self.name} [{self.elapsed_s:.0f}s]" + (f" {shown}" if shown else "")


class Console:
    """The one progress display of the process (stderr), shared by threads."""

    def __init__(self, stream: IO[str] | None = None, interval_s: float = 15.0) -> None:
        self.stream = stream if stream is not None else sys.stderr
        self.interval_s = interval_s
        self.verbose = os.environ.get(VERBOSE_ENV_VAR, "") not in ("", "0")
        self.log: IO[str] | None = None
        self.log_path: Path | None = None
        self._tasks: list[Task] = []
        self.finished: list[tuple[str, float]] = []
        """Every task that ended, with its elapsed seconds (for benchmarks)."""
        self._lock = threading.RLock()
        self._live_shown = False
        self._ticker: threading.Thread | None = None
        self._last_periodic = time.monotonic()

    @property
    def live(self) -> bool:
        """Whether the running tasks share one line updated in place (a terminal)."""
        isatty = getattr(self.stream, "isatty", lambda: False)()
        plain = os.environ.get(PLAIN_ENV_VAR) == "plain" or os.environ.get("TERM") == "dumb"
        return bool(isatty) and not plain

    # --- output ---------------------------------------------------------------------------

    def _clear_live(self) -> None:
        if self._live_shown:
            self.stream.write("\r\033[K")
            self._live_shown = False

    def _draw_live(self) -> None:
        if not self._tasks or not self.live:
            return
        width = os.get_terminal_size(self.stream.fileno()).columns if self._has_fileno() else 100
        text = "kafkarig: " + " | ".join(task.status() for task in self._tasks)
        self.stream.write("\r\033[K" + text[: max(width - 1, 20)])
        self.stream.flush()
        self._live_shown = True

    def _has_fileno(self) -> bool:
        try:
            os.get_terminal_size(self.stream.fileno())
        except (OSError, ValueError, AttributeError):
            return False
        return True

    def line(self, message: str, *, to_log: bool = True) -> None:
        """Print one line above the live line (and into the log file)."""
        with self._lock:
            self._clear_live()
            print(message, file=self.stream, flush=True)
            if to_log:
                self.write_log(message)
            self._draw_live()

    def write_log(self, text: str) -> None:
        """Append one line to the log file, when there is one."""
        with self._lock:
            if self.log is not None:
                self.log.write(text + "\n")
                self.log.flush()

    # --- tasks ----------------------------------------------------------------------------

    def start(self, task: Task) -> None:
        """Put a task on the display (and start the ticker that redraws it)."""
        with self._lock:
            self._tasks.append(task)
            self.write_log(f"kafkarig: {task.name}: started")
            if self._ticker is None or not self._ticker.is_alive():
                self._ticker = threading.Thread(target=self._tick, daemon=True)
                self._ticker.start()
            self._draw_live()

    def finish(self, task: Task, outcome: str) -> None:
        """Take a task off the display and print its last line."""
        with self._lock:
            if task in self._tasks:
                self._tasks.remove(task)
            self.finished.append((task.name, task.elapsed_s))
            self.line(f"kafkarig: {task.name}: {outcome}")

    def _tick(self) -> None:
        while True:
            time.sleep(0.5)
            with self._lock:
                if not self._tasks:
                    self._clear_live()
                    self._ticker = None
                    return
                if self.live:
                    self._draw_live()
                elif time.monotonic() - self._last_periodic >= self.interval_s:
                    self._last_periodic = time.monotonic()
                    for task in self._tasks:
                        print(f"kafkarig: {task.status()}", file=self.stream, flush=True)


CONSOLE = Console()


def set_verbose(verbose: bool) -> None:
    """Echo every line of every command (``-v``)."""
    CONSOLE.verbose = verbose


def step(message: str) -> None:
    """Print one progress line to stderr, prefixed so it stands out in CI logs."""
    CONSOLE.line(f"kafkarig: {message}")


@contextlib.contextmanager
def task(name: str, *, unit: str = "") -> Iterator[Task]:
    """A long step shown as one line with its elapsed time; ends with "done in Ns"."""
    current = Task(name, unit)
    CONSOLE.start(current)
    try:
        yield current
    except BaseException:
        CONSOLE.finish(current, f"failed after {current.elapsed_s:.1f}s")
        raise
    counted = f", {current.count} {current.unit}" if current.unit and current.count else ""
    detail = f", {current.detail}" if current.detail else ""
    CONSOLE.finish(current, f"done in {current.elapsed_s:.1f}s{counted}{detail}")


@contextlib.contextmanager
def logging_to(path: Path) -> Iterator[Path]:
    """Write every command's full output to ``path``; print the path at the end and on failure."""
    path.parent.mkdir(parents=True, exist_ok=True)
    previous, previous_path = CONSOLE.log, CONSOLE.log_path
    with path.open("w", encoding="utf-8") as log:
        CONSOLE.log, CONSOLE.log_path = log, path
        try:
            yield path
        except BaseException:
            CONSOLE.line(f"kafkarig: the full log is in {path}", to_log=False)
            raise
        finally:
            CONSOLE.log, CONSOLE.log_path = previous, previous_path
    CONSOLE.line(f"kafkarig: full log: {path}", to_log=False)


def run_streaming(
    command: Sequence[str],
    *,
    what: str,
    hint: str | None = None,
    cwd: Path | None = None,
    env: Mapping[str, str] | None = None,
    show: Callable[[str], bool] | None = None,
    count: Callable[[str], bool] | None = None,
    unit: str = "",
    detail: Callable[[str], str | None] | None = None,
    tail_lines: int = 40,
    current: Task | None = None,
) -> str:
    """Run ``command`` (an argument list, never a shell string) as one progress task.

    Lines that ``count`` selects advance the task's count; ``detail`` may turn a line into
    the task's detail ("extracting archives"); lines that ``show`` selects are printed;
    with verbose on every line is. All output goes to the log file. Returns the
    output; raises :class:`CommandError` with the command, exit code and output tail on
    failure, and a :class:`KafkarigError` when the program is not installed. ``current``
    reports into an existing task instead of a new one.
    """
    output: collections.deque[str] = collections.deque(maxlen=2000)
    try:
        process = subprocess.Popen(
            list(command),
            cwd=cwd,
            env=dict(env) if env is not None else None,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            errors="replace",
        )
    except FileNotFoundError as error:
        raise KafkarigError(
            f"{what}: the program {command[0]!r} is not installed.",
            hint="run `bash infra/provision.sh` as root on Debian/Ubuntu to install what "
            "kafkarig needs.",
        ) from error
    assert process.stdout is not None
    with contextlib.ExitStack() as stack:
        progress = current if current is not None else stack.enter_context(task(what, unit=unit))
        CONSOLE.write_log(f"$ {' '.join(command)}")
        for raw in process.stdout:
            line = raw.rstrip("\n")
            output.append(line)
            CONSOLE.write_log(line)
            if count is not None and count(line):
                progress.advance()
            if detail is not None and (text := detail(line)) is not None:
                progress.update(text)
            if CONSOLE.verbose or (show is not None and show(line)):
                CONSOLE.line(f"    {line}", to_log=False)
        exit_code = process.wait()
        if exit_code != 0:
            raise CommandError(
                what, command, exit_code, "\n".join(output), hint=hint, tail_lines=tail_lines
            )
    return "\n".join(output)
