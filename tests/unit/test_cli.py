"""The command line: a user's mistake is one clear message and exit code 1, no traceback."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def kafkarig(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    """Run ``python -m infra ARGS`` as a user would."""
    return subprocess.run(
        [sys.executable, "-m", "infra", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        check=False,
        env={"PATH": "/usr/bin:/bin", "PYTHONPATH": str(REPO)},
    )


def test_a_typo_in_stack_toml_is_one_clear_error_without_traceback(tmp_path: Path) -> None:
    (tmp_path / "stack.toml").write_text(
        '[cluster]\nflavor = "local"\n\n[[topics]]\nname = "user-events"\npartitons = 3\n'
    )
    result = kafkarig("render", cwd=tmp_path)
    assert result.returncode == 1
    assert result.stderr.startswith("kafkarig: error: ")
    assert "'partitons'" in result.stderr and "did you mean 'partitions'" in result.stderr
    assert "Traceback" not in result.stderr
    assert not (tmp_path / ".kafkarig").exists(), "nothing is rendered from a bad stack file"


def test_a_missing_stack_file_names_the_file(tmp_path: Path) -> None:
    result = kafkarig("render", "--stack", "nope.toml", cwd=tmp_path)
    assert result.returncode == 1
    assert "nope.toml" in result.stderr
    assert "Traceback" not in result.stderr


def test_render_writes_the_compose_file_next_to_the_stack_file(tmp_path: Path) -> None:
    (tmp_path / "stack.toml").write_text((REPO / "stack.toml").read_text())
    result = kafkarig("render", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    compose_file = tmp_path / ".kafkarig" / "kafkarig" / "docker-compose.yml"
    assert result.stdout.strip() == str(compose_file)
    assert "container_name: kafka" in compose_file.read_text()


def test_an_unknown_kafka_version_for_the_image_build_is_refused_before_any_work(
    tmp_path: Path,
) -> None:
    result = kafkarig("image", "--kafka-version", "latest", cwd=tmp_path)
    assert result.returncode == 1
    assert "unknown Kafka version 'latest'" in result.stderr
    assert "Hint:" in result.stderr


def test_help_names_ls_plan_and_down_by_project(tmp_path: Path) -> None:
    top = kafkarig("--help", cwd=tmp_path).stdout
    down = kafkarig("down", "--help", cwd=tmp_path).stdout
    up = kafkarig("up", "--help", cwd=tmp_path).stdout

    for command in ("ls", "plan", "down", "up", "status"):
        assert command in top
    assert "--project NAME" in down
    assert "--verbose" in up


def test_down_without_its_stack_file_points_at_down_by_project(tmp_path: Path) -> None:
    result = kafkarig("down", cwd=tmp_path)

    assert result.returncode == 1
    assert "stack.toml not found" in result.stderr
    assert "kafkarig down --project NAME" in result.stderr
    assert "Traceback" not in result.stderr
