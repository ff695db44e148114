"""An installed kafkarig (a wheel, not the checkout) finds its templates."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def test_the_installed_wheel_renders_the_default_stack(tmp_path: Path) -> None:
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", str(tmp_path), str(REPO)],
        check=True,
    )
    (wheel,) = tmp_path.glob("kafkarig-*.whl")
    venv = tmp_path / "venv"
    # System site packages provide the dependencies; the wheel itself goes into the venv.
    subprocess.run([sys.executable, "-m", "venv", "--system-site-packages", str(venv)], check=True)
    subprocess.run(
        [str(venv / "bin" / "pip"), "install", "-q", "--no-deps", str(wheel)], check=True
    )
    where = subprocess.run(
        [str(venv / "bin" / "python"), "-c", "import infra; print(infra.__file__)"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        check=True,
    )
    assert where.stdout.startswith(str(venv)), "the wheel, not the checkout, must be imported"
    work = tmp_path / "work"
    work.mkdir()
    (work / "stack.toml").write_text((REPO / "stack.toml").read_text())
    result = subprocess.run(
        [str(venv / "bin" / "kafkarig"), "render", "--print"],
        cwd=work,
        capture_output=True,
        text=True,
        check=False,
        env={"PATH": "/usr/bin:/bin", "PYTHONNOUSERSITE": "1"},
    )
    assert result.returncode == 0, result.stderr
    assert "container_name: kafka" in result.stdout
    templates = venv / "share" / "kafkarig" / "templates"
    assert (templates / "image" / "kafka-entrypoint.sh").is_file()
    assert (templates / "image" / "config" / "log4j2.properties").is_file()
