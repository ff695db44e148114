"""One progress line for a long wait, with its elapsed time.

On a terminal the line is rewritten in place (``kafkarig: waiting for health: kafka
starting, 12s``); on a pipe (CI logs) a line is printed when the status changes, and at most
every ``interval_s`` seconds otherwise, so a log stays short.
"""

from __future__ import annotations

import sys
import time
from types import TracebackType
from typing import TextIO


class ProgressLine:
    """A context manager: :meth:`update` the status while waiting, :meth:`done` at the end."""

    def __init__(self, what: str, *, stream: TextIO | None = None, interval_s: float = 10) -> None:
        self.what = what
        self.stream = stream if stream is not None else sys.stderr
        self.interval_s = interval_s
        self.started = time.monotonic()
        self._terminal = self.stream.isatty()
        self._last_status: str | None = None
        self._last_print = 0.0
        self._width = 0

    @property
    def elapsed_s(self) -> float:
        """Seconds since the line was started."""
        return time.monotonic() - self.started

    def update(self, status: str) -> None:
        """Show the current status with the elapsed time."""
        now = time.monotonic()
        line = f"kafkarig: {self.what}: {status} ({self.elapsed_s:.0f}s)"
        if self._terminal:
            self.stream.write("\r" + line.ljust(self._width))
            self._width = len(line)
        elif status != self._last_status or now - self._last_print >= self.interval_s:
            self.stream.write(line + "\n")
            self._last_print = now
        self._last_status = status
        self.stream.flush()

    def done(self, status: str) -> None:
        """End the line with a final status."""
        line = f"kafkarig: {self.what}: {status} in {self.elapsed_s:.1f}s"
        prefix = "\r" if self._terminal else ""
        self.stream.write(prefix + line.ljust(self._width) + "\n")
        self.stream.flush()
        self._width = 0
        self._last_status = None

    def __enter__(self) -> ProgressLine:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        if self._terminal and self._width:
            self.stream.write("\n")  # leave the last status visible above the error
            self.stream.flush()
