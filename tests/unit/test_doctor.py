"""The doctor's checks that need no Docker: memory, Maven, kcat, and how lines and exit
codes are made."""

from __future__ import annotations

import urllib.error
from pathlib import Path

import pytest

from infra import doctor
from infra.config import Stack, build_stack
from infra.doctor import Check, check_kcat, check_maven, check_memory, heap_mib, report


def _stack(**cluster: object) -> Stack:
    return build_stack({"cluster": {"flavor": "local", **cluster}}, env={})


def test_heap_sizes_are_read_as_stack_toml_writes_them() -> None:
    assert heap_mib("512m") == 512
    assert heap_mib("2g") == 2048


def test_memory_counts_every_broker_heap_and_zookeeper() -> None:
    assert doctor.memory_needed_mib(_stack(brokers=3, heap="384m")) == 3 * (384 + 256)
    zookeeper = _stack(mode="zookeeper", heap="512m")
    assert doctor.memory_needed_mib(zookeeper) == (512 + 256) + (256 + 256)


def test_too_little_memory_fails_and_says_what_to_change() -> None:
    stack = _stack(brokers=3, heap="1g")
    check = check_memory(stack, available_mib=2000)
    assert check.status == "FAIL"
    assert "need about 3840 MiB, 2000 MiB available" in check.detail
    assert "heap" in check.fix
    assert check_memory(stack, available_mib=8000).status == "ok"


def test_available_memory_is_read_from_meminfo(tmp_path: Path) -> None:
    meminfo = tmp_path / "meminfo"
    meminfo.write_text("MemTotal: 24000000 kB\nMemAvailable:   2048000 kB\n")
    assert doctor.available_memory_mib(meminfo) == 2000
    assert doctor.available_memory_mib(tmp_path / "absent") is None


def test_maven_is_not_needed_while_the_images_are_current() -> None:
    def never(url: str) -> int:
        raise AssertionError("Maven Central must not be asked")

    assert check_maven(True, fetch=never).status == "ok"


def test_an_unreachable_maven_central_fails_with_the_reason(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("KAFKARIG_MAVEN_SETTINGS", raising=False)
    monkeypatch.setattr("infra.doctor.shutil.which", lambda name: f"/usr/bin/{name}")

    def unreachable(url: str) -> int:
        raise urllib.error.URLError("Name or service not known")

    check = check_maven(False, fetch=unreachable)
    assert check.status == "FAIL"
    assert "Name or service not known" in check.detail
    assert check_maven(False, fetch=lambda url: 200).detail.endswith("(HTTP 200)")


def test_a_missing_kcat_is_one_failing_line_with_the_fix(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("infra.doctor.shutil.which", lambda name: None)
    check = check_kcat()
    assert check.status == "FAIL"
    assert check.line() == "FAIL  kcat: not on PATH -> " + doctor.PROVISION


def test_the_exit_code_is_one_only_when_a_check_failed() -> None:
    ok, warn = Check("a", "ok", "fine"), Check("b", "warn", "stale", "rebuild")
    text, code = report([ok, warn])
    assert code == 0 and text.splitlines() == [
        "ok    a: fine",
        "warn  b: stale -> rebuild",
        "ready (read the warnings)",
    ]
    text, code = report([ok, Check("c", "FAIL", "gone", "install it")])
    assert code == 1 and text.endswith("1 check(s) failed")
