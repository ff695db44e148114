"""The cost of readiness: CPU of an idle 3-broker stack, and of one probe, native vs JVM.

``python -m tests.bench idle`` (run it where the stack's localhost ports are reachable):
brings up a 3-broker local stack, lets it settle, reads each container's CPU use from its
cgroup over a window, and times the healthcheck probe kafkarig runs (bash, every 2 s)
against the JVM probe it replaced (``kafka-broker-api-versions`` with a 64 MB heap, every
5 s).
"""

from __future__ import annotations

import statistics
import tempfile
import time
from pathlib import Path

from python_on_whales import DockerClient

from infra import layouts, lifecycle
from infra.config import INTERNAL_PORT, build_stack
from infra.docker import require_docker

BENCH_PORT = 47192
SETTLE_S = 20.0
WINDOW_S = 30.0
NATIVE_INTERVAL_S = 2.0
JVM_INTERVAL_S = 5.0
PROBE_ADDRESS = f"127.0.0.1:{INTERNAL_PORT}"


def _cpu_usage_s(client: DockerClient, container: str) -> float:
    """CPU seconds the container's cgroup has used so far (cgroup v2, then v1)."""
    script = (
        "if [ -f /sys/fs/cgroup/cpu.stat ]; then "
        "awk '/^usage_usec/ {print $2 / 1e6}' /sys/fs/cgroup/cpu.stat; "
        "else awk '{print $1 / 1e9}' /sys/fs/cgroup/cpuacct/cpuacct.usage; fi"
    )
    return float(str(client.container.execute(container, ["bash", "-c", script])).strip())


def _probe_cpu_s(client: DockerClient, container: str, probe: str, calls: int) -> float:
    """CPU seconds (user + system, children included) of one call of ``probe``, averaged."""
    script = f"TIMEFORMAT='%3U %3S'; time (for _ in $(seq {calls}); do {probe}; done) 2>&1"
    output = str(client.container.execute(container, ["bash", "-c", script])).split()
    user_s, system_s = float(output[-2]), float(output[-1])
    return (user_s + system_s) / calls


def bench_idle(runs: int) -> None:
    """Idle CPU of a 3-broker stack, and the CPU of each probe at its healthcheck interval."""
    client = require_docker()
    root = Path(tempfile.mkdtemp(prefix="kafkarig-bench-idle-"))
    stack = build_stack(
        {
            "stack": {"project": "bench-idle"},
            "cluster": {"flavor": "local", "brokers": 3, "port": BENCH_PORT, "heap": "384m"},
        },
        env={},
    )
    containers = [broker.service for broker in stack.brokers]
    lifecycle.down(stack)
    lifecycle.up(stack, root)
    try:
        time.sleep(SETTLE_S)
        before = {name: _cpu_usage_s(client, name) for name in containers}
        started = time.monotonic()
        time.sleep(WINDOW_S)
        after = {name: _cpu_usage_s(client, name) for name in containers}
        window_s = time.monotonic() - started
        idle_cores = sum(after[name] - before[name] for name in containers) / window_s
        probe = f"bash {layouts.TOOLS_MOUNT}/{layouts.PROBE} kafka {PROBE_ADDRESS}"
        jvm_probe = (
            "KAFKA_TOOLS_HEAP_OPTS=-Xmx64m kafka-broker-api-versions "
            f"--bootstrap-server {PROBE_ADDRESS} >/dev/null 2>&1"
        )
        native = [_probe_cpu_s(client, containers[0], probe, 20) for _ in range(runs)]
        jvm = [_probe_cpu_s(client, containers[0], jvm_probe, 1) for _ in range(runs)]
    finally:
        lifecycle.down(stack)
    native_s, jvm_s = statistics.median(native), statistics.median(jvm)
    brokers = len(containers)
    print(
        f"idle: 3-broker local stack at rest, all containers (brokers + probes): "
        f"{idle_cores:.2f} cores over {window_s:.0f}s"
    )
    print(
        f"idle: native probe: {native_s * 1000:.1f} ms CPU per call; every "
        f"{NATIVE_INTERVAL_S:.0f}s on {brokers} brokers: "
        f"{native_s * brokers / NATIVE_INTERVAL_S:.3f} cores (n={runs})"
    )
    print(
        f"idle: JVM probe (replaced): {jvm_s:.2f} s CPU per call; every "
        f"{JVM_INTERVAL_S:.0f}s on {brokers} brokers: {jvm_s * brokers / JVM_INTERVAL_S:.2f} "
        f"cores (n={runs})"
    )
