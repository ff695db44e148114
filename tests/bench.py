"""Benchmarks that print figures (not tests): ``nox -s bench -- WHAT [--runs N]``.

images      cold build (median of --runs, with its breakdown) and warm build of the local
            images, and their sizes; needs root and the network (run outside a sandbox)
start       docker run -> first AdminClient answer for one KRaft node; peak broker RSS
stack       `up` (to topics verified) and `down` time per topology
throughput  four producers and four consumers side by side (see tests/bench_throughput.py)
workflow    warm `nox -s up smoke down`, then no kafkarig state to a passing smoke suite
            (see tests/bench_workflow.py; --warm-only skips the cold run)
idle        CPU of an idle 3-broker stack, and of one readiness probe (native vs JVM)
secure      `up` of the secure examples against their plaintext twins, and the smoke suite
            over SASL_SSL (see tests/bench_secure.py)
all         everything above
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from python_on_whales import DockerClient

from infra import console, images, lifecycle
from infra.config import Stack, build_stack
from infra.docker import require_docker
from infra.readiness import describe_broker_ids

BENCH_PORT = 47092


def _median(values: list[float]) -> str:
    return (
        f"median {statistics.median(values):.2f}s (min {min(values):.2f}s, max "
        f"{max(values):.2f}s, n={len(values)})"
    )


def _remove_local_images(client: DockerClient) -> None:
    tags = [images.BASE_IMAGE] + [recipe.tag for recipe in images.default_recipes()]
    for tag in reversed(tags):
        if client.image.exists(tag):
            client.image.remove(tag, force=True)


def _step_kind(name: str) -> str:
    """The breakdown row of a progress task: "mmdebstrap", "Maven", "docker build", ..."""
    for kind in ("mmdebstrap", "Maven", "docker import", "docker build", "check run"):
        if kind in name:
            return kind
    return name


def bench_images(runs: int) -> None:
    """Cold builds (no images, empty Maven repository, empty cache) with their breakdown,
    then warm builds, and image sizes. Needs root and the network (Maven Central, Debian)."""
    client = require_docker()
    colds: list[float] = []
    steps: dict[str, list[float]] = {}
    results: list[images.BuildResult] = []
    for run in range(runs):
        _remove_local_images(client)
        with (
            tempfile.TemporaryDirectory(prefix="kafkarig-m2-") as maven_repo,
            tempfile.TemporaryDirectory(prefix="kafkarig-cache-") as cache,
        ):
            os.environ["MAVEN_OPTS"] = f"-Dmaven.repo.local={maven_repo}"
            os.environ["KAFKARIG_CACHE_DIR"] = cache
            console.CONSOLE.finished.clear()
            started = time.monotonic()
            results = images.build_images()
            colds.append(time.monotonic() - started)
            del os.environ["MAVEN_OPTS"], os.environ["KAFKARIG_CACHE_DIR"]
        per_kind: dict[str, float] = {}
        for name, elapsed in console.CONSOLE.finished:
            kind = _step_kind(name)
            # Builds of several images at once: the row is the longest one.
            per_kind[kind] = max(per_kind.get(kind, 0.0), elapsed)
        for kind, elapsed in per_kind.items():
            steps.setdefault(kind, []).append(elapsed)
        print(f"images: cold build {run + 1}: {colds[-1]:.1f}s", flush=True)
    warm = []
    for _ in range(runs):
        started = time.monotonic()
        images.build_images()
        warm.append(time.monotonic() - started)
    print(f"images: cold build (no images, empty Maven repository): {_median(colds)}")
    print("images: cold build breakdown, median per step (steps run side by side):")
    for kind, values in steps.items():
        print(f"images:   {kind:14} {_median(values)}")
    print(f"images: warm build (same inputs, mirror asked for updates): {_median(warm)}")
    for result in results:
        print(f"images: {result.tag}: {result.size_bytes / 1e6:.0f} MB")


def _kraft_env(port: int) -> dict[str, str]:
    return {
        "KAFKA_NODE_ID": "1",
        "KAFKA_PROCESS_ROLES": "broker,controller",
        "KAFKA_CONTROLLER_QUORUM_VOTERS": "1@localhost:19093",
        "KAFKA_CONTROLLER_LISTENER_NAMES": "CONTROLLER",
        "KAFKA_LISTENERS": f"HOST://0.0.0.0:{port},CONTROLLER://0.0.0.0:19093",
        "KAFKA_ADVERTISED_LISTENERS": f"HOST://localhost:{port}",
        "KAFKA_LISTENER_SECURITY_PROTOCOL_MAP": "CONTROLLER:PLAINTEXT,HOST:PLAINTEXT",
        "KAFKA_INTER_BROKER_LISTENER_NAME": "HOST",
        "KAFKA_OFFSETS_TOPIC_REPLICATION_FACTOR": "1",
        "KAFKA_HEAP_OPTS": "-Xmx512m -Xms512m",
        "CLUSTER_ID": "YmVuY2htYXJrLWNsdXN0ZQ",
    }


def bench_start(runs: int) -> None:
    """docker run -> first successful describe_cluster, and the broker's peak RSS."""
    client = require_docker()
    image = images.kafka_recipe(images.KAFKA_VERSION).tag
    bootstrap = f"localhost:{BENCH_PORT}"
    times, peaks = [], []
    for _ in range(runs):
        started = time.monotonic()
        container = client.run(
            image,
            detach=True,
            envs=_kraft_env(BENCH_PORT),
            publish=[(f"127.0.0.1:{BENCH_PORT}", BENCH_PORT)],
        )
        try:
            while True:
                try:
                    if describe_broker_ids(bootstrap, request_timeout_s=1.0):
                        break
                except Exception:  # not up yet
                    time.sleep(0.05)
                if time.monotonic() - started > 120:
                    raise RuntimeError("the broker did not answer within 120 s")
            times.append(time.monotonic() - started)
            _load(bootstrap)
            status = str(client.container.execute(container, ["cat", "/proc/1/status"]))
            peak_kb = next(
                int(line.split()[1]) for line in status.splitlines() if line.startswith("VmHWM")
            )
            peaks.append(peak_kb / 1024)
        finally:
            container.remove(force=True, volumes=True)
    print(f"start: docker run -> first AdminClient answer, one KRaft node: {_median(times)}")
    print(
        f"start: peak broker RSS (VmHWM, heap -Xmx512m, after 20k x 100 B produced): "
        f"median {statistics.median(peaks):.0f} MiB, max {max(peaks):.0f} MiB"
    )


def _load(bootstrap: str, count: int = 20_000) -> None:
    from confluent_kafka import Producer

    producer = Producer({"bootstrap.servers": bootstrap, "linger.ms": 5})
    payload = b"x" * 100
    for index in range(count):
        producer.produce("bench-load", payload)
        if index % 1000 == 0:
            producer.poll(0)
    producer.flush(60)


def _stack(project: str, **cluster: Any) -> Stack:
    return build_stack(
        {
            "stack": {"project": project},
            "cluster": {"flavor": "local", "port": BENCH_PORT} | cluster,
            "topics": [
                {
                    "name": "user-events",
                    "partitions": 3,
                    "replication_factor": cluster.get("brokers", 1),
                    "dlq": True,
                }
            ],
        },
        env={},
    )


def _timed(action: Callable[[], object]) -> float:
    started = time.monotonic()
    action()
    return time.monotonic() - started


def bench_stack(runs: int) -> None:
    """``up`` to topics verified, and ``down``, for each topology."""
    root = Path(tempfile.mkdtemp(prefix="kafkarig-bench-"))
    topologies = {
        "kraft, 1 node": _stack("bench-k1"),
        "kraft, 3 nodes": _stack("bench-k3", brokers=3, heap="384m"),
        "zookeeper, 1+1": _stack("bench-zk", mode="zookeeper"),
    }
    for name, stack in topologies.items():
        lifecycle.down(stack)
        ups, downs = [], []
        for _ in range(runs):
            ups.append(_timed(lambda stack=stack: lifecycle.up(stack, root)))  # type: ignore[misc]
            downs.append(_timed(lambda stack=stack: lifecycle.down(stack)))  # type: ignore[misc]
        print(f"stack: {name}: up to topics verified {_median(ups)}")
        print(f"stack: {name}: down {_median(downs)}")


def bench_smoke(runs: int) -> None:
    """Wall time of the whole smoke suite against the running stack (``nox -s up`` first)."""
    times = []
    for _ in range(runs):
        started = time.monotonic()
        result = subprocess.run(
            [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "harness/smoke"],
            capture_output=True,
            text=True,
            check=False,
        )
        times.append(time.monotonic() - started)
        last = result.stdout.strip().splitlines()[-1:] or ["(no output)"]
        print(f"smoke: run {len(times)}: {times[-1]:.1f}s, {last[0]}")
    print(f"smoke: whole smoke suite, single node: {_median(times)}")


BENCHES: dict[str, Callable[[int], None]] = {
    "images": bench_images,
    "start": bench_start,
    "stack": bench_stack,
    "smoke": bench_smoke,
}


def main() -> None:
    """Run the named benchmarks and print their figures."""
    parser = argparse.ArgumentParser(prog="bench", description=__doc__)
    parser.add_argument(
        "what", choices=[*BENCHES, "throughput", "workflow", "idle", "secure", "all"]
    )
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--warm-only", action="store_true", help="workflow: no cold run")
    args = parser.parse_args()
    if args.what in ("throughput", "all"):
        from tests import bench_throughput

        BENCHES["throughput"] = bench_throughput.bench_throughput
    if args.what in ("workflow", "all"):
        from tests import bench_workflow

        BENCHES["workflow"] = lambda runs: bench_workflow.bench_workflow(
            runs, cold=not args.warm_only
        )
    if args.what in ("idle", "all"):
        from tests import bench_idle

        BENCHES["idle"] = bench_idle.bench_idle
    if args.what in ("secure", "all"):
        from tests import bench_secure

        BENCHES["secure"] = bench_secure.bench_secure
    chosen = list(BENCHES) if args.what == "all" else [args.what]
    for name in chosen:
        BENCHES[name](args.runs)


if __name__ == "__main__":
    main()
