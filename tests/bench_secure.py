"""``nox -s bench -- secure [--runs N]``: what a secure stack costs.

For examples/secure.toml (one KRaft broker) and examples/secure-three-brokers.toml: the time
of ``up`` (containers created, healthy, users, ACLs and topics verified) from nothing but
the images and the reused certificates, against the same stack without ``[security]``,
``[[users]]`` and ``[[acls]]`` (plaintext; same brokers, heap and topics); each is taken
down after every run, and the runs of the two alternate. Then the smoke suite's wall time,
as ``app`` over SASL_SSL against the single-broker example and without credentials against
its plaintext twin (the whole suite on both; the seed-verbatim checks run only on the
plaintext one). Medians of N runs.
"""

from __future__ import annotations

import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from infra import lifecycle
from infra.config import Stack, load_stack
from infra.credentials import ensure_tls_files

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"


def _median(values: list[float]) -> str:
    return (
        f"median {statistics.median(values):.1f}s (min {min(values):.1f}s, max "
        f"{max(values):.1f}s, n={len(values)})"
    )


def plaintext_file(path: Path) -> Path:
    """``<name>-plaintext.toml`` beside a secure stack file: the same file without its
    [security], [[users]] and [[acls]] tables, under its own project name."""
    kept, skipping = [], False
    for line in path.read_text(encoding="utf-8").splitlines():
        header = line.strip()
        if header.startswith("["):
            skipping = header in ("[security]", "[[users]]", "[[acls]]")
        if not skipping:
            kept.append(line.replace('project = "', 'project = "plain-', 1))
    twin = path.with_name(f"{path.stem}-plaintext.toml")
    twin.write_text("\n".join(kept) + "\n", encoding="utf-8")
    return twin


def _ups(stacks: tuple[Stack, Stack], root: Path, runs: int) -> tuple[list[float], list[float]]:
    """``up`` times of each stack, runs interleaved (a drifting machine load hits both)."""
    times: tuple[list[float], list[float]] = ([], [])
    for stack in stacks:
        lifecycle.down(stack)
    for _ in range(runs):
        for stack, found in zip(stacks, times, strict=True):
            started = time.monotonic()
            lifecycle.up(stack, root)
            found.append(time.monotonic() - started)
            lifecycle.down(stack)
    return times


def _smoke(stack_file: Path, runs: int) -> list[float]:
    times = []
    for _ in range(runs):
        command = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider"]
        command += ["--pyargs", "harness.smoke", "--stack", str(stack_file)]
        started = time.monotonic()
        result = subprocess.run(command, capture_output=True, text=True, check=False)
        times.append(time.monotonic() - started)
        last = result.stdout.strip().splitlines()[-1:] or ["(no output)"]
        print(f"secure: smoke run {len(times)} ({stack_file.name}): {times[-1]:.1f}s, {last[0]}")
        if result.returncode != 0:
            raise RuntimeError(f"the smoke suite failed:\n{result.stdout[-3000:]}")
    return times


def bench_secure(runs: int) -> None:
    """Print the figures of the module doc."""
    root = Path(tempfile.mkdtemp(prefix="kafkarig-bench-secure-"))
    files = {}
    for example in ("secure.toml", "secure-three-brokers.toml"):
        path = root / example
        path.write_text((EXAMPLES / example).read_text(encoding="utf-8"), encoding="utf-8")
        secure, plain = load_stack(path), load_stack(plaintext_file(path))
        assert not plain.security.enabled and plain.all_topics == secure.all_topics
        files[example] = (secure, plain)
        ensure_tls_files(secure, root)  # made once, reused by every up (as for a user)
        secure_times, plain_times = _ups((secure, plain), root, runs)
        ratio = statistics.median(secure_times) / statistics.median(plain_times)
        brokers = len(secure.brokers)
        print(f"secure: up, {brokers} broker(s), sasl_ssl + users + ACLs: {_median(secure_times)}")
        print(f"secure: up, {brokers} broker(s), plaintext twin: {_median(plain_times)}")
        print(f"secure: up, {brokers} broker(s), secure / plaintext: {ratio:.2f}x")
    for stack, label in zip(
        files["secure.toml"], ("as app over SASL_SSL", "plaintext"), strict=True
    ):
        lifecycle.up(stack, root)
        try:
            assert stack.source_file is not None
            times = _smoke(stack.source_file, runs)
        finally:
            lifecycle.down(stack)
        print(f"secure: smoke suite, 1 broker, {label}: {_median(times)}")
