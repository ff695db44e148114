"""The doctor against this machine's real Docker engine."""

from __future__ import annotations

import socket

from python_on_whales import DockerClient

from infra.config import build_stack
from infra.doctor import check_ports, run_checks


def test_the_doctor_finds_the_engine_and_the_compose_plugin(docker: DockerClient) -> None:
    checks = {check.name: check for check in run_checks(None)}
    assert checks["docker engine"].status == "ok"
    assert checks["docker engine"].detail.startswith("version ")
    assert checks["compose plugin"].status == "ok"


def test_a_port_held_by_another_process_fails_naming_it(docker: DockerClient) -> None:
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen()
        port = listener.getsockname()[1]
        stack = build_stack(
            {"stack": {"project": "doctor-test"}, "cluster": {"flavor": "local", "port": port}},
            env={},
        )
        check = check_ports(docker, stack)
        assert check.status == "FAIL"
        assert f"127.0.0.1:{port} in use by another process" in check.detail
    assert check_ports(docker, stack).status == "ok"
