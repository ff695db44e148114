"""Stability of the smoke suite's failure injection: N runs in a row on a 3-broker stack.

Brings up ``tests/integration/stacks/consumer-3-brokers.toml`` (unless ``--keep-up`` finds
it running), runs ``pytest harness/smoke/test_failure_injection.py`` against it ``--runs``
times (both group protocols each time), prints one line per run and a total, and takes the
stack down again (``--keep-up`` leaves it). Exit status 1 when any run failed.

    python -m tests.stability --runs 10
"""

from __future__ import annotations

import argparse
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Final

from infra import lifecycle
from infra.config import load_stack

REPO_ROOT: Final = Path(__file__).resolve().parents[1]
STACK_FILE: Final = REPO_ROOT / "tests" / "integration" / "stacks" / "consumer-3-brokers.toml"
SUITE: Final = "harness/smoke/test_failure_injection.py"


def main() -> int:
    """Run the failure-injection checks ``--runs`` times; 0 when every run passed."""
    parser = argparse.ArgumentParser(prog="python -m tests.stability", description=__doc__)
    parser.add_argument("--runs", type=int, default=10)
    parser.add_argument("--stack", type=Path, default=STACK_FILE)
    parser.add_argument("--keep-up", action="store_true", help="leave the stack running")
    args, pytest_args = parser.parse_known_args()
    stack = load_stack(args.stack)
    root = Path(tempfile.mkdtemp(prefix="kafkarig-stability-"))
    print(f"stability: bringing up {args.stack.name} ({stack.bootstrap_servers})", flush=True)
    lifecycle.up(stack, root)
    results: list[tuple[bool, str, float]] = []
    try:
        for run in range(1, args.runs + 1):
            started = time.monotonic()
            outcome = subprocess.run(
                [
                    sys.executable,
                    "-m",
                    "pytest",
                    "-q",
                    "-p",
                    "no:cacheprovider",
                    SUITE,
                    "--stack",
                    str(args.stack),
                    *pytest_args,
                ],
                cwd=REPO_ROOT,
                capture_output=True,
                text=True,
                check=False,
            )
            elapsed = time.monotonic() - started
            tail = outcome.stdout.strip().splitlines()[-1:] or ["(no output)"]
            passed = outcome.returncode == 0
            results.append((passed, tail[0], elapsed))
            print(f"stability: run {run}/{args.runs}: {tail[0]} ({elapsed:.0f} s)", flush=True)
            if not passed:
                failures = re.findall(r"^FAILED .*$", outcome.stdout, flags=re.MULTILINE)
                print("\n".join(f"    {line}" for line in failures) or outcome.stdout[-3000:])
    finally:
        if not args.keep_up:
            lifecycle.down(stack)
    green = sum(passed for passed, _, _ in results)
    print(f"stability: {green} of {len(results)} runs passed on {args.stack.name}")
    return 0 if green == len(results) else 1


if __name__ == "__main__":
    sys.exit(main())
