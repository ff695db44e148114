"""``kafkarig client-config`` and ``kafkarig kcat`` as a user runs them (no Docker)."""

from __future__ import annotations

import os
import shutil
import stat
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
SECURE = REPO / "examples" / "secure.toml"


def kafkarig(
    *args: str, cwd: Path, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    """Run ``python -m infra ARGS`` as a user would."""
    return subprocess.run(
        [sys.executable, "-m", "infra", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        check=False,
        env={"PATH": "/usr/bin:/bin", "PYTHONPATH": str(REPO), "HOME": str(cwd), **(env or {})},
    )


@pytest.fixture
def secure_copy(tmp_path: Path) -> Path:
    """examples/secure.toml in a folder of its own (its .kafkarig/ goes there)."""
    path = tmp_path / "secure.toml"
    shutil.copy(SECURE, path)
    return path


def test_a_plaintext_stack_needs_no_user(tmp_path: Path) -> None:
    (tmp_path / "stack.toml").write_text("")
    result = kafkarig("client-config", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines()[1:] == [
        "bootstrap.servers=localhost:9092",
        "security.protocol=PLAINTEXT",
    ]
    refused = kafkarig("client-config", "--user", "app", cwd=tmp_path)
    assert refused.returncode == 1
    assert "host listener (plaintext) has no users" in refused.stderr
    assert "Traceback" not in refused.stderr


def test_the_smoke_user_is_the_default_and_the_config_logs_it_in(secure_copy: Path) -> None:
    result = kafkarig("client-config", "--stack", str(secure_copy), cwd=secure_copy.parent)
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert (
        lines[0]
        == "# kafkarig client config for user app: librdkafka properties; kcat -F reads them"
    )
    ca = secure_copy.parent / ".kafkarig" / "kafkarig-secure" / "tls" / "ca.pem"
    assert lines[1:] == [
        "bootstrap.servers=localhost:9092",
        "security.protocol=SASL_SSL",
        "sasl.mechanism=SCRAM-SHA-512",
        "sasl.username=app",
        "sasl.password=app-secret",
        f"ssl.ca.location={ca}",
        "ssl.endpoint.identification.algorithm=https",
    ]
    assert ca.is_file(), "the CA the config names exists before the first up"


def test_the_java_format_is_for_kafkas_tools(secure_copy: Path) -> None:
    result = kafkarig(
        "client-config", "--stack", str(secure_copy), "--user", "stranger", "--format", "java",
        cwd=secure_copy.parent,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert "sasl.jaas.config=org.apache.kafka.common.security.scram.ScramLoginModule required " in (
        result.stdout
    )
    assert 'username="stranger" password="stranger-secret";' in result.stdout
    assert "ssl.truststore.type=PEM" in result.stdout


def test_output_writes_a_private_file_and_says_so(secure_copy: Path) -> None:
    target = secure_copy.parent / "out" / "app.properties"
    result = kafkarig(
        "client-config", "--stack", str(secure_copy), "--output", str(target),
        cwd=secure_copy.parent,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert f"wrote {target} (mode 0600)" in result.stdout
    assert target.stat().st_mode & 0o777 == 0o600
    assert "sasl.password=app-secret" in target.read_text()


def test_the_admin_config_creates_the_admin_password_once(secure_copy: Path) -> None:
    first = kafkarig(
        "client-config", "--stack", str(secure_copy), "--user", "admin", cwd=secure_copy.parent
    )
    second = kafkarig(
        "client-config", "--stack", str(secure_copy), "--user", "admin", cwd=secure_copy.parent
    )
    assert first.returncode == 0, first.stderr
    assert first.stdout == second.stdout
    password = secure_copy.parent / ".kafkarig" / "kafkarig-secure" / "admin.password"
    assert f"sasl.password={password.read_text().strip()}" in first.stdout


def test_an_unknown_user_is_one_clear_error(secure_copy: Path) -> None:
    result = kafkarig(
        "client-config", "--stack", str(secure_copy), "--user", "bob", cwd=secure_copy.parent
    )
    assert result.returncode == 1
    assert "has no user 'bob' (users: admin, app, stranger)" in result.stderr
    assert "Traceback" not in result.stderr


def test_without_a_smoke_user_the_user_must_be_named(secure_copy: Path) -> None:
    secure_copy.write_text(secure_copy.read_text().replace('smoke_user = "app"\n', ""))
    result = kafkarig("client-config", "--stack", str(secure_copy), cwd=secure_copy.parent)
    assert result.returncode == 1
    assert "which user? stack kafkarig-secure has admin, app, stranger" in result.stderr


def test_a_missing_password_variable_is_named_with_a_hint(secure_copy: Path) -> None:
    text = secure_copy.read_text().replace('password = "app-secret"', 'password_env = "APP_PW"')
    secure_copy.write_text(text)
    result = kafkarig("client-config", "--stack", str(secure_copy), cwd=secure_copy.parent)
    assert result.returncode == 1
    assert "APP_PW, which is not set" in result.stderr and "export APP_PW=" in result.stderr
    given = kafkarig(
        "client-config", "--stack", str(secure_copy), cwd=secure_copy.parent, env={"APP_PW": "e"}
    )
    assert "sasl.password=e" in given.stdout


# --------------------------------------------------------------------------- kafkarig kcat


def _fake_kcat(directory: Path) -> Path:
    """A kcat that reports librdkafka 2.16.0 only with a library dir kafkarig made, and
    otherwise prints its arguments and LD_LIBRARY_PATH."""
    script = directory / "kcat"
    script.write_text(
        "#!/bin/sh\n"
        'case "$LD_LIBRARY_PATH" in *librdkafka-for-kcat*) v=2.16.0 ;; *) v=2.0.2 ;; esac\n'
        'if [ "$1" = -V ]; then echo "Version 1.7.1 (librdkafka $v builtin.features=sasl)"; '
        "exit 0; fi\n"
        'echo "args: $*"\necho "lib: $LD_LIBRARY_PATH"\n'
    )
    script.chmod(script.stat().st_mode | stat.S_IXUSR)
    return script


def test_kafkarig_kcat_passes_every_argument_and_brings_a_newer_librdkafka(tmp_path: Path) -> None:
    script = _fake_kcat(tmp_path)
    result = kafkarig(
        "kcat", "-F", "app.kcat", "-L", "--", "-J", cwd=tmp_path, env={"KAFKARIG_KCAT": str(script)}
    )
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0] == "args: -F app.kcat -L -- -J"
    bundled = [p for p in lines[1].removeprefix("lib: ").split(":") if "librdkafka-for-kcat" in p]
    if not bundled:
        pytest.skip("this confluent-kafka wheel ships no librdkafka (not a Linux wheel)")
    assert os.path.islink(Path(bundled[0]) / "librdkafka.so.1")
