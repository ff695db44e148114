"""``kafkarig doctor``: is this machine ready to run the stack? One line per check.

Each check says ``ok``, ``warn`` (works, but read the line) or ``FAIL`` (what to do). The
checks never change anything: they ask Docker, look at PATH, bind the stack's ports for a
moment and ask Maven Central for its index page.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import urllib.error
import urllib.request
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from python_on_whales import DockerClient
from python_on_whales.exceptions import DockerException

from infra import images
from infra.config import ZOOKEEPER_HEAP, Stack
from infra.config.compose import COMPOSE_PROJECT_LABEL
from infra.docker import PROVISION_HINT, docker_client
from infra.errors import StackError
from infra.prechecks import port_in_use

Status = Literal["ok", "warn", "FAIL"]
PROVISION = "run `sudo bash infra/provision.sh` (or `bash infra/run.sh ...`, which does it)"
MAVEN_CENTRAL = "https://repo.maven.apache.org/maven2/"
# What a JVM needs beside its heap (metaspace, threads, page cache of its own files),
# measured: a broker with -Xmx512m peaks at about 340 MiB RSS after a 20k-record load.
JVM_OVERHEAD_MIB = 256


@dataclass(frozen=True)
class Check:
    """The outcome of one check: its status, what was found and, unless ok, what to do."""

    name: str
    status: Status
    detail: str
    fix: str = ""

    def line(self) -> str:
        """The one line the doctor prints for this check."""
        text = f"{self.status:4}  {self.name}: {self.detail}"
        return text + (f" -> {self.fix}" if self.fix and self.status != "ok" else "")


def heap_mib(heap: str) -> int:
    """``"512m"`` -> 512, ``"2g"`` -> 2048 (the heap syntax stack.toml accepts)."""
    number, unit = int(heap[:-1]), heap[-1].lower()
    return number * 1024 if unit == "g" else number


def memory_needed_mib(stack: Stack) -> int:
    """What the stack's JVMs need: every broker's heap plus overhead, and ZooKeeper's."""
    needed = len(stack.brokers) * (heap_mib(stack.cluster.heap) + JVM_OVERHEAD_MIB)
    if not stack.is_kraft:
        needed += heap_mib(ZOOKEEPER_HEAP) + JVM_OVERHEAD_MIB
    return needed


def available_memory_mib(meminfo: Path = Path("/proc/meminfo")) -> int | None:
    """``MemAvailable`` of this machine in MiB, None where /proc/meminfo does not say."""
    try:
        for line in meminfo.read_text().splitlines():
            if line.startswith("MemAvailable:"):
                return int(line.split()[1]) // 1024
    except OSError:
        return None
    return None


def check_docker(client: DockerClient) -> Check:
    """The Docker daemon answers; its version."""
    if shutil.which("docker") is None:
        return Check("docker engine", "FAIL", "the docker command is not installed", PROVISION)
    try:
        version = client.version()
    except DockerException as error:
        detail = (error.stderr or "no answer").strip().splitlines()[-1:] or ["no answer"]
        return Check("docker engine", "FAIL", f"no daemon answers ({detail[0]})", PROVISION_HINT)
    server = version.server.version if version.server is not None else "unknown"
    return Check("docker engine", "ok", f"version {server} answers")


def check_compose(client: DockerClient) -> Check:
    """The Docker Compose v2 plugin is installed."""
    try:
        version = client.compose.version()
    except DockerException:
        return Check("compose plugin", "FAIL", "`docker compose version` failed", PROVISION)
    return Check("compose plugin", "ok", str(version).strip())


def check_kcat() -> Check:
    """kcat is on PATH (the smoke suite and the seed's verification use it)."""
    path = shutil.which("kcat") or shutil.which("kafkacat")
    if path is None:
        return Check("kcat", "FAIL", "not on PATH", PROVISION)
    result = subprocess.run([path, "-V"], capture_output=True, text=True, check=False)
    first = (result.stdout or result.stderr).strip().splitlines()[:1] or ["(no version)"]
    return Check("kcat", "ok", f"{path}: {first[0]}")


def check_images(client: DockerClient, stack: Stack | None) -> list[Check]:
    """Each local image the stack needs (all of them without a stack) is built and current."""
    if stack is not None and stack.cluster.flavor != "local":
        return [Check("local images", "ok", f"not needed (flavor {stack.cluster.flavor})")]
    wanted = set(stack.images) if stack is not None else None
    base = images.base_image_state(client)
    checks = [
        Check(f"image {images.BASE_IMAGE}", "ok", base.reason)
        if base.current
        else Check(
            f"image {images.BASE_IMAGE}",
            "warn",
            base.reason,
            "`nox -s up` rebuilds it (it needs root and a Debian mirror), or `nox -s image`",
        )
    ]
    for recipe in images.default_recipes():
        if wanted is not None and recipe.tag not in wanted:
            continue
        state = images.image_state(client, recipe)
        if state == "current":
            checks.append(Check(f"image {recipe.tag}", "ok", "built, inputs unchanged"))
        elif state == "stale":
            checks.append(
                Check(
                    f"image {recipe.tag}",
                    "warn",
                    "built from older inputs",
                    "`nox -s image` rebuilds it (`nox -s up` does too)",
                )
            )
        else:
            checks.append(
                Check(
                    f"image {recipe.tag}",
                    "warn",
                    "not built yet",
                    "`nox -s up` builds it (about a minute), or `nox -s image`",
                )
            )
    return checks


def check_ports(client: DockerClient, stack: Stack) -> Check:
    """The stack's host ports are free, or published by the stack itself."""
    ours: set[int] = set()
    for container in client.container.list(
        filters=[("label", f"{COMPOSE_PROJECT_LABEL}={stack.project}")]
    ):
        for bindings in (container.network_settings.ports or {}).values():
            ours.update(int(b["HostPort"]) for b in bindings or [] if b.get("HostPort"))
    taken, mine = [], []
    for broker in stack.brokers:
        address = f"{stack.cluster.host}:{broker.host_port}"
        try:
            if broker.host_port in ours:
                mine.append(address)
            elif port_in_use(stack.cluster.host, broker.host_port):
                taken.append(address)
        except StackError as error:
            return Check("ports", "FAIL", error.message, error.hint or "")
    if taken:
        return Check(
            "ports",
            "FAIL",
            f"{', '.join(taken)} in use by another process",
            "stop it (`ss -ltnp`, `docker ps`) or set another [cluster] port in stack.toml",
        )
    if mine:
        return Check("ports", "ok", f"{', '.join(mine)} published by this stack (it is up)")
    addresses = ", ".join(f"{stack.cluster.host}:{b.host_port}" for b in stack.brokers)
    return Check("ports", "ok", f"{addresses} free")


def check_memory(stack: Stack, available_mib: int | None) -> Check:
    """Enough memory for the brokers' heaps (and ZooKeeper's)."""
    needed = memory_needed_mib(stack)
    jvms = f"{len(stack.brokers)} broker(s) x heap {stack.cluster.heap}"
    if available_mib is None:
        return Check("memory", "warn", f"{jvms} need about {needed} MiB; cannot read free memory")
    if available_mib < needed:
        return Check(
            "memory",
            "FAIL",
            f"{jvms} need about {needed} MiB, {available_mib} MiB available",
            "lower [cluster] heap or brokers in stack.toml, or free memory",
        )
    return Check("memory", "ok", f"{jvms} need about {needed} MiB, {available_mib} MiB available")


def check_maven(images_current: bool, fetch: Callable[[str], int] | None = None) -> Check:
    """Maven and Maven Central (or the configured mirror) for building the local images."""
    if images_current:
        return Check("maven", "ok", "not needed now (the local images are current)")
    if shutil.which("mvn") is None:
        return Check("maven", "FAIL", "mvn is not installed (the image build needs it)", PROVISION)
    settings = os.environ.get("KAFKARIG_MAVEN_SETTINGS")
    if settings:
        return Check("maven", "ok", f"mvn installed; repositories from {settings} (not probed)")
    try:
        status = (fetch or _http_status)(MAVEN_CENTRAL)
    except (OSError, urllib.error.URLError) as error:
        return Check(
            "maven",
            "FAIL",
            f"Maven Central ({MAVEN_CENTRAL}) unreachable: {error}",
            "check the network or proxy; KAFKARIG_MAVEN_SETTINGS names a settings.xml "
            "with a mirror",
        )
    return Check("maven", "ok", f"mvn installed; Maven Central answers (HTTP {status})")


def _http_status(url: str) -> int:
    with urllib.request.urlopen(urllib.request.Request(url, method="HEAD"), timeout=5) as reply:
        return int(reply.status)


def run_checks(stack: Stack | None) -> list[Check]:
    """Every check, in the order they are printed; Docker-bound ones only if Docker answers."""
    client = docker_client()
    checks = [check_docker(client)]
    docker_ok = checks[0].status == "ok"
    if docker_ok:
        checks.append(check_compose(client))
    checks.append(check_kcat())
    image_checks = check_images(client, stack) if docker_ok else []
    checks.extend(image_checks)
    if stack is not None:
        if docker_ok:
            checks.append(check_ports(client, stack))
        checks.append(check_memory(stack, available_memory_mib()))
    current = docker_ok and all(c.status == "ok" for c in image_checks)
    checks.append(check_maven(current))
    return checks


def report(checks: Sequence[Check]) -> tuple[str, int]:
    """The printed lines and the exit code: 1 when any check failed, else 0."""
    failed = [c for c in checks if c.status == "FAIL"]
    if failed:
        summary = f"{len(failed)} check(s) failed"
    elif any(c.status == "warn" for c in checks):
        summary = "ready (read the warnings)"
    else:
        summary = "all checks passed"
    return "\n".join([*(c.line() for c in checks), summary]), 1 if failed else 0
