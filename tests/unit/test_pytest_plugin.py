"""The pytest plugin's behaviour that needs no cluster: options, skips and error reports.

Each test runs pytest in a fresh folder on a small test file, as a user would; nothing here
reaches a broker (the checks that would are skipped or fail before connecting).
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path


def _pytest(directory: Path, source: str, *args: str) -> subprocess.CompletedProcess[str]:
    (directory / "test_checks.py").write_text(source)
    return subprocess.run(
        [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-rs", *args],
        cwd=directory,
        capture_output=True,
        text=True,
        timeout=120,
    )


WRITING_CHECKS = """
import pytest

def test_uses_a_scratch_topic(scratch_topic):
    raise AssertionError("must not run with --read-only")

@pytest.mark.writes
def test_marked_as_writing():
    raise AssertionError("must not run with --read-only")

def test_reads_nothing():
    pass
"""


def test_read_only_skips_every_check_that_writes_and_says_why(tmp_path: Path) -> None:
    result = _pytest(tmp_path, WRITING_CHECKS, "--read-only")
    assert result.returncode == 0, result.stdout
    assert "--read-only: this check writes (uses scratch_topic)" in result.stdout
    assert "--read-only: this check writes (produces or commits)" in result.stdout
    assert "1 passed, 2 skipped" in result.stdout


def test_a_bad_client_config_is_a_usage_error_with_its_line(tmp_path: Path) -> None:
    config = tmp_path / "client.properties"
    config.write_text("security.protocol=SASL_SSL\nsasl.mechanism = PLAIN\n")
    result = _pytest(tmp_path, "def test_x(): pass\n", "--client-config", str(config))
    assert result.returncode == 4  # pytest's usage error
    assert f"{config}:2: whitespace around '='" in result.stderr
    assert "Traceback" not in result.stderr


MISSING_KCAT = """
from harness import kcat

def test_needs_kcat(monkeypatch, tmp_path):
    monkeypatch.setenv("PATH", str(tmp_path))
    kcat.consume("localhost:9092", "user-events")
"""


def test_a_missing_kcat_is_reported_as_one_clear_error_without_a_traceback(
    tmp_path: Path,
) -> None:
    result = _pytest(tmp_path, MISSING_KCAT)
    assert result.returncode == 1
    assert "KcatNotFoundError: kcat not found" in result.stdout
    assert "Hint: install kcat" in result.stdout
    assert "FileNotFoundError" not in result.stdout
    assert "kcat.py:" not in result.stdout, "no traceback into the harness"


OWN_CLUSTER_ONLY = """
import pytest

@pytest.mark.own_cluster(reason="it writes to user-events")
def test_seed_only():
    raise AssertionError("must not run on a cluster kafkarig did not start")
"""


def test_an_own_cluster_check_is_skipped_unless_the_cluster_is_proven_kafkarigs(
    tmp_path: Path,
) -> None:
    result = _pytest(tmp_path, OWN_CLUSTER_ONLY)
    assert result.returncode == 0, result.stdout
    assert "runs only on a stack kafkarig started: it writes to user-events" in result.stdout


def test_no_cluster_named_is_a_clear_failure(tmp_path: Path) -> None:
    result = _pytest(tmp_path, "def test_x(bootstrap_servers): pass\n")
    assert result.returncode == 1
    assert "no cluster to test: pass --bootstrap HOST:PORT" in result.stdout
