"""The user's workflow, timed end to end as a user types it (``nox -s bench -- workflow``).

warm  ``nox -s up smoke down`` with everything in place (environments, images): the
      median of ``--runs`` runs.
cold  a machine that has the system packages (Docker, kcat, Maven, debootstrap) and nothing
      else of kafkarig: no nox, no environments, no uv or pip cache, no Maven repository,
      no local images. Times ``bash infra/run.sh up smoke`` to the first passing smoke
      suite, with each session's share, then takes the stack down. The images, caches and
      environments it removes are rebuilt by the run itself.

Provisioning itself (``infra/provision.sh`` on a machine without the packages) is not part
of ``cold``: it would remove the Docker engine under whatever else runs on this machine;
``bash infra/provision.sh`` prints its own time when run on a bare machine.
"""

from __future__ import annotations

import os
import re
import shutil
import statistics
import subprocess
import tempfile
import time
from pathlib import Path

from infra import images
from infra.docker import require_docker

REPO = Path(__file__).resolve().parents[1]
_SESSION_TIME = re.compile(r"nox > Session (\S+) was successful in (.+)\.$", re.MULTILINE)


def _run(command: list[str], env: dict[str, str]) -> tuple[float, str]:
    started = time.monotonic()
    result = subprocess.run(
        command, cwd=REPO, env=env, capture_output=True, text=True, check=False, timeout=1800
    )
    elapsed = time.monotonic() - started
    output = result.stdout + result.stderr
    if result.returncode != 0:
        raise RuntimeError(
            f"`{' '.join(command)}` exited {result.returncode} after {elapsed:.0f}s:\n"
            + "\n".join(output.splitlines()[-40:])
        )
    return elapsed, output


def _sessions(output: str) -> str:
    return ", ".join(f"{name} {took}" for name, took in _SESSION_TIME.findall(output))


def bench_warm(runs: int) -> None:
    """Warm ``nox -s up smoke down``: median and range of ``runs`` runs."""
    env = dict(os.environ)
    _run(["nox", "-s", "up", "down"], env)  # environments made, images built: warm
    times = []
    for run in range(1, runs + 1):
        elapsed, output = _run(["nox", "-s", "up", "smoke", "down"], env)
        times.append(elapsed)
        print(f"workflow: warm run {run}: {elapsed:.1f}s ({_sessions(output)})", flush=True)
    print(
        f"workflow: warm `nox -s up smoke down`: median {statistics.median(times):.1f}s "
        f"(min {min(times):.1f}s, max {max(times):.1f}s, n={runs})"
    )


def bench_cold() -> None:
    """From no kafkarig state at all to the first passing smoke suite."""
    client = require_docker()
    for tag in [recipe.tag for recipe in images.default_recipes()] + [images.BASE_IMAGE]:
        if client.image.exists(tag):
            client.image.remove(tag, force=True)
    shutil.rmtree(REPO / ".nox", ignore_errors=True)
    shutil.rmtree(REPO / ".kafkarig" / ".tools", ignore_errors=True)
    with tempfile.TemporaryDirectory(prefix="kafkarig-cold-") as scratch:
        env = {
            key: value
            for key, value in os.environ.items()
            if not key.startswith(("VIRTUAL_ENV", "NOX", "UV_"))
        }
        # Nothing of this machine's own environments on PATH: nox must come from run.sh.
        env["PATH"] = ":".join(
            part for part in env["PATH"].split(":") if "/.nox/" not in part and "venv" not in part
        )
        env |= {
            "UV_CACHE_DIR": f"{scratch}/uv-cache",
            "PIP_NO_CACHE_DIR": "1",
            "MAVEN_OPTS": f"-Dmaven.repo.local={scratch}/m2",
            "KAFKARIG_CACHE_DIR": f"{scratch}/kafkarig-cache",
        }
        try:
            elapsed, output = _run(["bash", "infra/run.sh", "up", "smoke"], env)
        finally:
            subprocess.run(["bash", "infra/run.sh", "down"], cwd=REPO, env=env, check=False)
    print(f"workflow: cold `bash infra/run.sh up smoke` to a passing smoke suite: {elapsed:.1f}s")
    print(f"workflow: sessions: {_sessions(output)}")


def bench_workflow(runs: int, *, cold: bool = True) -> None:
    """The warm workflow (``runs`` times), then the cold one once."""
    bench_warm(runs)
    if cold:
        bench_cold()
