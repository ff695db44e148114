"""The smoke suite's login on a secure stack, where it fails before reaching any broker:
a user the stack does not have, ``--user`` without a stack, ``--user`` on a plaintext one."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def _smoke(directory: Path, *args: str) -> subprocess.CompletedProcess[str]:
    command = [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-q"]
    command += ["--pyargs", "harness.smoke.test_smoke", "-k", "leader_for_every_partition", *args]
    return subprocess.run(command, cwd=directory, capture_output=True, text=True, timeout=120)


def test_a_user_the_stack_does_not_have_is_named_with_the_users_it_has(tmp_path: Path) -> None:
    shutil.copy(REPO / "examples" / "secure.toml", tmp_path / "secure.toml")
    result = _smoke(tmp_path, "--stack", "secure.toml", "--user", "bob")
    assert result.returncode == 1
    assert "--user bob: stack kafkarig-secure has admin, app, stranger" in result.stdout


def test_user_needs_a_stack_file(tmp_path: Path) -> None:
    result = _smoke(tmp_path, "--bootstrap", "localhost:1", "--user", "app")
    assert result.returncode == 1
    assert "--user NAME needs --stack FILE of a secure stack" in result.stdout


def test_user_on_a_plaintext_stack_says_it_has_no_users(tmp_path: Path) -> None:
    (tmp_path / "stack.toml").write_text("[cluster]\nport = 1099\n")
    result = _smoke(tmp_path, "--stack", "stack.toml", "--user", "app")
    assert result.returncode == 1
    assert "host listener (plaintext) has no users" in result.stdout
