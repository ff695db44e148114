"""An installed kafkarig (a wheel, not the checkout) works on its own.

The wheel goes into a new environment with its dependencies resolved from the package
index, never borrowed from the interpreter running the tests or its base interpreter: on a
new machine neither has anything installed, so nothing but the wheel's own metadata may
make this pass.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from uv import find_uv_bin

REPO = Path(__file__).resolve().parents[2]
# Only system directories: no virtualenv bin, no user site, nothing of the test's own.
CLEAN_ENV = {"PATH": "/usr/bin:/bin", "PYTHONNOUSERSITE": "1", "HOME": str(Path.home())}


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A fresh environment holding the kafkarig wheel and its smoke extra; its folder."""
    work = tmp_path_factory.mktemp("packaging")
    uv = find_uv_bin()
    # An sdist first, and the wheel built from it, as a package index would: nothing of the
    # checkout outside the sdist (a stale build/ folder, say) can reach the wheel.
    subprocess.run(
        [uv, "build", "--quiet", "--out-dir", str(work / "dist"), str(REPO)],
        check=True,
    )
    (wheel,) = (work / "dist").glob("kafkarig-*.whl")
    venv = work / "venv"
    # --python names the interpreter, not its packages: the environment starts empty.
    subprocess.run([uv, "venv", "--quiet", "--python", sys.executable, str(venv)], check=True)
    subprocess.run(
        [uv, "pip", "install", "--quiet", "--python", str(venv / "bin" / "python"),
         f"kafkarig[smoke] @ {wheel.as_uri()}"],
        check=True,
        env={**os.environ, "VIRTUAL_ENV": str(venv)},
    )  # fmt: skip
    return venv


def test_the_installed_package_is_the_wheel_not_the_checkout(installed: Path) -> None:
    where = subprocess.run(
        [str(installed / "bin" / "python"), "-c", "import infra, harness; print(infra.__file__)"],
        cwd=installed.parent,
        capture_output=True,
        text=True,
        check=True,
        env=CLEAN_ENV,
    )
    assert where.stdout.startswith(str(installed)), where.stdout


def test_the_installed_wheel_renders_the_default_stack(installed: Path, tmp_path: Path) -> None:
    (tmp_path / "stack.toml").write_text((REPO / "stack.toml").read_text())
    result = subprocess.run(
        [str(installed / "bin" / "kafkarig"), "render", "--print"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        check=False,
        env=CLEAN_ENV,
    )
    assert result.returncode == 0, result.stderr
    assert "container_name: kafka" in result.stdout


def test_the_installed_wheel_collects_the_smoke_suite(installed: Path, tmp_path: Path) -> None:
    # What a user's CI runs from an installed kafkarig: `pytest --pyargs harness.smoke`.
    result = subprocess.run(
        [str(installed / "bin" / "python"), "-m", "pytest", "--pyargs", "harness.smoke",
         "--collect-only", "-q", "-p", "no:cacheprovider"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        check=False,
        env=CLEAN_ENV,
    )  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr
    assert "test_seed_message_round_trips" in result.stdout
