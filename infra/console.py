"""Progress output and external commands, with errors that carry command, exit code and tail."""

from __future__ import annotations

import collections
import subprocess
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

from infra.errors import CommandError, KafkarigError


def step(message: str) -> None:
    """Print one progress line to stderr, prefixed so it stands out in CI logs."""
    print(f"kafkarig: {message}", file=sys.stderr, flush=True)


def run_streaming(
    command: Sequence[str],
    *,
    what: str,
    hint: str | None = None,
    cwd: Path | None = None,
    env: Mapping[str, str] | None = None,
    show: Callable[[str], bool] | None = None,
    tail_lines: int = 40,
) -> str:
    """Run ``command`` (an argument list, never a shell string), echo the lines ``show``
    selects as progress, and return the whole output.

    Raises :class:`CommandError` with the command, exit code and output tail on failure,
    and a :class:`KafkarigError` when the program is not installed.
    """
    started = time.monotonic()
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
    for line in process.stdout:
        line = line.rstrip("\n")
        output.append(line)
        if show is not None and show(line):
            print(f"    {line}", file=sys.stderr, flush=True)
    exit_code = process.wait()
    text = "\n".join(output)
    if exit_code != 0:
        raise CommandError(what, command, exit_code, text, hint=hint, tail_lines=tail_lines)
    step(f"{what}: done in {time.monotonic() - started:.1f}s")
    return text
