"""Image layouts: every declared VOLUME mounted, the tools directory, the native probe.

The generated scripts run here with bash against fake servers (no Docker).
"""

from __future__ import annotations

import socket
import subprocess
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from infra import layouts
from infra.images import KAFKA_TOOLS
from infra.render import render_compose, write_compose

from .conftest import StackFactory

PROBE = (
    Path(layouts.__file__).resolve().parents[1] / "templates/image/stack-tools/kafkarig-probe.sh"
)
TOPOLOGIES: list[dict[str, Any]] = [
    {"flavor": "apache"},
    {"flavor": "apache", "brokers": 3},
    {"flavor": "confluent"},
    {"flavor": "confluent", "mode": "zookeeper"},
    {"flavor": "local"},
    {"flavor": "local", "mode": "zookeeper", "brokers": 3},
]


def mounted_paths(service: dict[str, Any]) -> set[str]:
    """Every container path a compose service mounts something on."""
    targets = {entry.split(":")[1] for entry in service.get("volumes", [])}
    return targets | set(service.get("tmpfs", []))


@pytest.mark.parametrize("cluster", TOPOLOGIES, ids=str)
def test_every_volume_an_image_declares_is_mounted(
    make_stack: StackFactory, cluster: dict[str, Any]
) -> None:
    stack = make_stack(**cluster)
    services = yaml.safe_load(render_compose(stack))["services"]
    kafka = layouts.kafka_layout(stack.cluster.flavor)
    for broker in stack.brokers:
        assert set(kafka.declared_volumes) <= mounted_paths(services[broker.service])
        assert services[broker.service]["environment"]["PATH"].startswith("/opt/kafkarig/bin:")
    if not stack.is_kraft:
        zookeeper = layouts.zookeeper_layout(stack.cluster.flavor)
        assert set(zookeeper.declared_volumes) <= mounted_paths(services["zookeeper"])


def test_data_stays_in_named_volumes_and_the_rest_is_tmpfs(make_stack: StackFactory) -> None:
    services = yaml.safe_load(render_compose(make_stack(flavor="apache")))["services"]
    assert services["kafka"]["tmpfs"] == ["/etc/kafka/secrets", "/mnt/shared/config"]
    assert "kafka-data:/var/lib/kafka/data" in services["kafka"]["volumes"]
    local = yaml.safe_load(render_compose(make_stack(flavor="local")))["services"]
    assert "tmpfs" not in local["kafka"]


@pytest.mark.parametrize(
    ("flavor", "real"),
    [
        ("apache", "/opt/kafka/bin/kafka-topics.sh"),
        ("confluent", "/usr/bin/kafka-topics"),
        ("local", "/opt/kafka/bin/kafka-topics"),
    ],
)
def test_the_tools_directory_has_every_tool_under_both_names(
    make_stack: StackFactory, tmp_path: Path, flavor: str, real: str
) -> None:
    compose_file = write_compose(make_stack(flavor=flavor), tmp_path)
    tools = compose_file.parent / "tools"
    for tool in KAFKA_TOOLS:
        for name in (tool, f"{tool}.sh"):
            assert (tools / name).stat().st_mode & 0o111, name
    assert f"kafkarig-run {real} " in (tools / "kafka-topics").read_text()
    assert (tools / "kafkarig-probe").is_file()


@pytest.fixture
def run_tool(make_stack: StackFactory, tmp_path: Path) -> Callable[..., list[str]]:
    """Run the generated kafkarig-run of a 3-broker stack with a tool that prints its args."""
    stack = make_stack(brokers=3)
    files = layouts.render_tools(
        layouts.kafka_layout("local"),
        project=stack.project,
        host_addresses=layouts.host_addresses(stack),
        internal_bootstrap=stack.internal_bootstrap_servers,
    )
    (tmp_path / "kafkarig-run").write_text(files["kafkarig-run"])
    echo = tmp_path / "echo-args"
    echo.write_text('#!/usr/bin/env bash\nprintf "%s\\n" "$@"\n')
    echo.chmod(0o755)

    def run(*args: str) -> list[str]:
        result = subprocess.run(
            ["bash", str(tmp_path / "kafkarig-run"), str(echo), *args],
            capture_output=True,
            text=True,
            check=True,
        )
        return result.stdout.splitlines()

    return run


INTERNAL = "kafka-1:19092,kafka-2:19092,kafka-3:19092"


def test_inside_a_container_the_host_listener_is_replaced_by_the_internal_one(
    run_tool: Callable[..., list[str]],
) -> None:
    assert run_tool("--list", "--bootstrap-server", "localhost:9092") == [
        "--list",
        "--bootstrap-server",
        INTERNAL,
    ]
    assert run_tool("--bootstrap-server=127.0.0.1:9093,localhost:9094") == [
        f"--bootstrap-server={INTERNAL}"
    ]
    assert run_tool("--broker-list", "localhost:9092", "--topic", "t") == [
        "--broker-list",
        INTERNAL,
        "--topic",
        "t",
    ]


def test_other_addresses_and_client_configs_are_left_as_given(
    run_tool: Callable[..., list[str]],
) -> None:
    assert run_tool("--bootstrap-server", "kafka-2:19092") == [
        "--bootstrap-server",
        "kafka-2:19092",
    ]
    assert run_tool("--bootstrap-server", "localhost:9092,elsewhere:9092")[1] == (
        "localhost:9092,elsewhere:9092"
    )
    given = ["--bootstrap-server", "localhost:9092", "--command-config", "/etc/c.properties"]
    assert run_tool(*given) == given


def serve_once(reply: Callable[[socket.socket], None]) -> Iterator[int]:
    """A one-connection TCP server on localhost that answers with ``reply``."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(1)

    def handle() -> None:
        connection, _ = server.accept()
        with connection:
            reply(connection)

    thread = threading.Thread(target=handle, daemon=True)
    thread.start()
    yield int(server.getsockname()[1])
    server.close()


def probe(kind: str, port: int) -> int:
    """Exit code of the probe against 127.0.0.1:port (timeout 1 s)."""
    return subprocess.run(
        ["bash", str(PROBE), kind, f"127.0.0.1:{port}"],
        env={"PATH": "/usr/bin:/bin", "KAFKARIG_PROBE_TIMEOUT_S": "1"},
        check=False,
    ).returncode


def kafka_answer(error_code: int) -> Callable[[socket.socket], None]:
    """A broker that reads an ApiVersions v0 request and answers with ``error_code``."""

    def reply(connection: socket.socket) -> None:
        request = connection.recv(64)
        assert request[4:6] == b"\x00\x12" and request[8:12] == b"\x00\x00\x00\x2a"
        body = (42).to_bytes(4, "big") + error_code.to_bytes(2, "big") + b"\x00\x00\x00\x00"
        connection.sendall(len(body).to_bytes(4, "big") + body)

    return reply


def test_the_kafka_probe_succeeds_when_the_broker_answers_api_versions() -> None:
    for port in serve_once(kafka_answer(0)):
        assert probe("kafka", port) == 0
    for port in serve_once(kafka_answer(35)):  # UNSUPPORTED_VERSION
        assert probe("kafka", port) == 1


def test_the_kafka_probe_fails_on_a_silent_port_and_a_closed_one() -> None:
    for port in serve_once(lambda connection: connection.recv(64)):
        assert probe("kafka", port) == 1
    with socket.socket() as unused:
        unused.bind(("127.0.0.1", 0))
        closed = unused.getsockname()[1]
    assert probe("kafka", closed) == 1


def test_the_zookeeper_probe_wants_a_mode_in_the_srvr_answer() -> None:
    def serving(connection: socket.socket) -> None:
        assert connection.recv(4) == b"srvr"
        connection.sendall(
            b"Zookeeper version: 3.8.4\nLatency min/avg/max: 0/0.0/0\nMode: standalone\n"
        )

    def not_serving(connection: socket.socket) -> None:
        connection.recv(4)
        connection.sendall(b"This ZooKeeper instance is not currently serving requests\n")

    for port in serve_once(serving):
        assert probe("zookeeper", port) == 0
    for port in serve_once(not_serving):
        assert probe("zookeeper", port) == 1


def test_a_tool_does_not_start_with_the_brokers_heap(
    make_stack: StackFactory, tmp_path: Path
) -> None:
    stack = make_stack()
    files = layouts.render_tools(
        layouts.kafka_layout("apache"),
        project=stack.project,
        host_addresses=layouts.host_addresses(stack),
        internal_bootstrap=stack.internal_bootstrap_servers,
    )
    (tmp_path / "kafkarig-run").write_text(files["kafkarig-run"])
    show = tmp_path / "show-heap"
    show.write_text('#!/usr/bin/env bash\nprintf "%s\\n" "$KAFKA_HEAP_OPTS"\n')
    show.chmod(0o755)
    result = subprocess.run(
        ["bash", str(tmp_path / "kafkarig-run"), str(show)],
        env={"PATH": "/usr/bin:/bin", "KAFKA_HEAP_OPTS": "-Xmx512m -Xms512m"},
        capture_output=True,
        text=True,
        check=True,
    )
    assert result.stdout.strip() == "-Xmx256m"
