"""An installed kafkarig finds its templates: a wheel in a virtualenv, an editable install,
and ``pip install --user``.

Every install is offline and needs nothing from the base interpreter beyond the standard
library: the wheel is built with this environment's setuptools, and the dependencies are
this environment's own, made visible to the new interpreter by a path entry (never the
base interpreter's site packages, which a fresh machine does not have).
"""

from __future__ import annotations

import os
import subprocess
import sys
import sysconfig
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
WHERE_TEMPLATES = "from infra.templates import templates_dir; print(templates_dir())"


def run(*command: str | Path, **kwargs: object) -> subprocess.CompletedProcess[str]:
    """Run a command, capture its output, fail the test with it when it fails."""
    result = subprocess.run(
        [str(part) for part in command], capture_output=True, text=True, check=False, **kwargs
    )  # type: ignore[call-overload]
    assert result.returncode == 0, f"{command} failed:\n{result.stdout}\n{result.stderr}"
    return result  # type: ignore[no-any-return]


def dependency_paths() -> list[str]:
    """This environment's site packages, where kafkarig's dependencies are installed."""
    paths = sysconfig.get_paths()
    return sorted({paths["purelib"], paths["platlib"]})


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """kafkarig built as a wheel, offline (this environment's setuptools)."""
    out = tmp_path_factory.mktemp("wheel")
    run(sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q",
        "-w", out, REPO)  # fmt: skip
    (built,) = out.glob("kafkarig-*.whl")
    return built


def new_venv(path: Path) -> Path:
    """A virtualenv without system site packages that sees this environment's packages (the
    dependencies, and pip and setuptools to install with) after its own (a .pth entry)."""
    run(sys.executable, "-m", "venv", "--without-pip", path)
    python = path / "bin" / "python"
    purelib = run(python, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])")
    (Path(purelib.stdout.strip()) / "kafkarig-test-deps.pth").write_text(
        "\n".join(dependency_paths()) + "\n"
    )
    return python


def render_default_stack(kafkarig: list[str | Path], work: Path, env: dict[str, str]) -> None:
    work.mkdir()
    (work / "stack.toml").write_text((REPO / "stack.toml").read_text())
    result = run(*kafkarig, "render", "--print", cwd=work, env=env)
    assert "container_name: kafka" in result.stdout


CLEAN_ENV = {"PATH": "/usr/bin:/bin", "PYTHONNOUSERSITE": "1"}


def test_a_wheel_in_a_virtualenv_finds_its_templates(tmp_path: Path, wheel: Path) -> None:
    python = new_venv(tmp_path / "venv")
    run(python, "-m", "pip", "install", "-q", "--no-deps", "--no-index", wheel)

    where = run(python, "-c", WHERE_TEMPLATES, cwd=tmp_path, env=CLEAN_ENV).stdout.strip()

    assert where.startswith(str(tmp_path / "venv")), "the wheel, not the checkout, must be used"
    assert Path(where, "image", "kafka-entrypoint.sh").is_file()
    assert Path(where, "image", "config", "log4j2.properties").is_file()
    render_default_stack([tmp_path / "venv" / "bin" / "kafkarig"], tmp_path / "work", CLEAN_ENV)


def test_an_editable_install_finds_the_checkouts_templates(tmp_path: Path) -> None:
    python = new_venv(tmp_path / "venv")
    run(python, "-m", "pip", "install", "-q", "--no-deps", "--no-build-isolation", "-e", REPO)

    where = run(python, "-c", WHERE_TEMPLATES, cwd=tmp_path, env=CLEAN_ENV).stdout.strip()

    assert where == str(REPO / "templates")
    render_default_stack([tmp_path / "venv" / "bin" / "kafkarig"], tmp_path / "work", CLEAN_ENV)


def test_a_user_install_finds_its_templates(tmp_path: Path, wheel: Path) -> None:
    # The base interpreter, outside any virtualenv, installing into a user base of its own;
    # pip itself and the dependencies come from this environment through PYTHONPATH.
    base = getattr(sys, "_base_executable", sys.executable)
    user_base = tmp_path / "user"
    env = {
        "PATH": "/usr/bin:/bin",
        "PYTHONUSERBASE": str(user_base),
        "PYTHONPATH": os.pathsep.join(dependency_paths()),
    }
    run(base, "-m", "pip", "install", "-q", "--user", "--no-deps", "--no-index",
        "--break-system-packages", wheel, env=env)  # fmt: skip

    where = run(base, "-c", WHERE_TEMPLATES, cwd=tmp_path, env=env).stdout.strip()

    assert where.startswith(str(user_base)), f"templates found in {where}, not the user base"
    render_default_stack([base, "-m", "infra"], tmp_path / "work", env)


@pytest.fixture(scope="module")
def installed_from_index(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A new, empty environment holding kafkarig[smoke] with its dependencies resolved from
    the package index: only the wheel's own metadata can make what follows work."""
    from uv import find_uv_bin

    work = tmp_path_factory.mktemp("index")
    uv = find_uv_bin()
    # An sdist first, and the wheel built from it, as a package index would: nothing of the
    # checkout outside the sdist (a stale build/ folder, say) can reach the wheel.
    run(uv, "build", "--quiet", "--out-dir", work / "dist", REPO)
    (built,) = (work / "dist").glob("kafkarig-*.whl")
    venv = work / "venv"
    run(uv, "venv", "--quiet", "--python", sys.executable, venv)
    run(uv, "pip", "install", "--quiet", "--python", venv / "bin" / "python",
        f"kafkarig[smoke] @ {built.as_uri()}")  # fmt: skip
    return venv


def test_the_wheels_declared_dependencies_are_enough_to_render(
    installed_from_index: Path, tmp_path: Path
) -> None:
    render_default_stack([installed_from_index / "bin" / "kafkarig"], tmp_path / "work", CLEAN_ENV)


def test_an_installed_kafkarig_collects_the_smoke_suite(
    installed_from_index: Path, tmp_path: Path
) -> None:
    # What a user's CI runs from an installed kafkarig: `pytest --pyargs harness.smoke`.
    result = run(installed_from_index / "bin" / "python", "-m", "pytest", "--pyargs",
                 "harness.smoke", "--collect-only", "-q", "-p", "no:cacheprovider",
                 cwd=tmp_path, env=CLEAN_ENV)  # fmt: skip
    assert "test_seed_message_round_trips" in result.stdout
