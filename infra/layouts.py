"""Where each image flavor keeps things, and the tools directory kafkarig mounts into it.

The official images differ in layout: ``apache/kafka`` ships its tools as
``/opt/kafka/bin/kafka-*.sh`` and not on PATH; ``cp-kafka`` has them on PATH as
``kafka-topics``; both declare VOLUMEs beyond the data directory. kafkarig evens this out
per container, the same way on every flavor:

- every VOLUME an image declares is mounted: the data directories as the stack's named,
  project-labelled volumes, the others (secrets, mounted configs) as tmpfs, so Docker
  creates no anonymous volume that ``down`` could not find;
- a tools directory (``.kafkarig/<project>/tools``, mounted read-only at
  :data:`TOOLS_MOUNT` and put first on PATH) holds every Kafka tool under both names
  (``kafka-topics`` and ``kafka-topics.sh``), each running the image's own tool pointed at
  the brokers' internal listener, and the readiness probe;
- readiness is that probe: bash alone (a Kafka ApiVersions request, ZooKeeper's ``srvr``),
  a few milliseconds every 2 s instead of a JVM.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import jinja2

from infra.templates import templates_dir

if TYPE_CHECKING:  # config derives its healthchecks from this module
    from infra.config import Stack

TOOLS_MOUNT = "/opt/kafkarig/bin"
"""Where the stack's tools directory is mounted in every container."""
TOOLS_DIR_NAME = "tools"
"""The tools directory's name, next to the rendered compose file."""
PROBE = "kafkarig-probe"
KAFKA_DATA_DIR = "/var/lib/kafka/data"
ZOOKEEPER_DATA_DIR = "/var/lib/zookeeper/data"
ZOOKEEPER_LOG_DIR = "/var/lib/zookeeper/log"
_SYSTEM_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"


@dataclass(frozen=True)
class Layout:
    """One image's layout: its own PATH, where its Kafka tools are, what it declares."""

    image_path: str
    """The image's own PATH (kafkarig prepends the tools directory)."""
    tool_path: str
    """Where the image keeps a Kafka tool: ``{tool}`` is replaced by e.g. ``kafka-topics``."""
    data_dirs: tuple[str, ...]
    """Directories that hold the service's data (mounted as named volumes)."""
    declared_volumes: tuple[str, ...]
    """Every VOLUME the image declares."""

    @property
    def path(self) -> str:
        """PATH inside the container: the tools directory first, then the image's own."""
        return f"{TOOLS_MOUNT}:{self.image_path}"

    @property
    def scratch_volumes(self) -> tuple[str, ...]:
        """Declared VOLUMEs that hold no data: mounted as tmpfs (nothing persists)."""
        return tuple(path for path in self.declared_volumes if path not in self.data_dirs)

    def real_tool(self, tool: str) -> str:
        """The image's own executable of ``tool``."""
        return self.tool_path.format(tool=tool)


KAFKA_LAYOUTS: dict[str, Layout] = {
    # apache/kafka: eclipse-temurin JRE, tools as /opt/kafka/bin/*.sh, not on PATH.
    "apache": Layout(
        image_path=f"/opt/java/openjdk/bin:{_SYSTEM_PATH}",
        tool_path="/opt/kafka/bin/{tool}.sh",
        data_dirs=(KAFKA_DATA_DIR,),
        declared_volumes=("/etc/kafka/secrets", KAFKA_DATA_DIR, "/mnt/shared/config"),
    ),
    # confluentinc/cp-kafka: tools in /usr/bin without the .sh suffix.
    "confluent": Layout(
        image_path=_SYSTEM_PATH,
        tool_path="/usr/bin/{tool}",
        data_dirs=(KAFKA_DATA_DIR,),
        declared_volumes=(KAFKA_DATA_DIR, "/etc/kafka/secrets"),
    ),
    # kafkarig/kafka (local): tools under both names in /opt/kafka/bin, no VOLUME.
    "local": Layout(
        image_path=f"/opt/kafka/bin:{_SYSTEM_PATH}",
        tool_path="/opt/kafka/bin/{tool}",
        data_dirs=(KAFKA_DATA_DIR,),
        declared_volumes=(),
    ),
}

ZOOKEEPER_LAYOUTS: dict[str, Layout] = {
    # confluentinc/cp-zookeeper: data, transaction log and secrets are VOLUMEs.
    "confluent": Layout(
        image_path=_SYSTEM_PATH,
        tool_path="/usr/bin/{tool}",
        data_dirs=(ZOOKEEPER_DATA_DIR, ZOOKEEPER_LOG_DIR),
        declared_volumes=(ZOOKEEPER_DATA_DIR, ZOOKEEPER_LOG_DIR, "/etc/zookeeper/secrets"),
    ),
    "local": Layout(
        image_path=f"/opt/zookeeper/bin:{_SYSTEM_PATH}",
        tool_path="/opt/zookeeper/bin/{tool}",
        data_dirs=(ZOOKEEPER_DATA_DIR, ZOOKEEPER_LOG_DIR),
        declared_volumes=(),
    ),
}


def kafka_layout(flavor: str) -> Layout:
    """The broker image's layout of a flavor."""
    return KAFKA_LAYOUTS[flavor]


def zookeeper_layout(flavor: str) -> Layout:
    """The ZooKeeper image's layout of a flavor (apache has no ZooKeeper image)."""
    return ZOOKEEPER_LAYOUTS[flavor]


def probe_command(kind: str, address: str) -> tuple[str, ...]:
    """The healthcheck test: the native probe from the mounted tools directory."""
    return ("CMD", "bash", f"{TOOLS_MOUNT}/{PROBE}", kind, address)


def tools_mount() -> str:
    """The compose volume entry of the tools directory (relative to the compose file)."""
    return f"./{TOOLS_DIR_NAME}:{TOOLS_MOUNT}:ro"


def _environment() -> jinja2.Environment:
    return jinja2.Environment(
        loader=jinja2.FileSystemLoader(templates_dir() / "image" / "stack-tools"),
        undefined=jinja2.StrictUndefined,
        keep_trailing_newline=True,
        autoescape=False,
    )


def render_tools(
    layout: Layout,
    *,
    project: str,
    host_addresses: Sequence[str],
    internal_bootstrap: str,
) -> dict[str, str]:
    """The tools directory's files: name → text (every file is executable)."""
    from infra.images.recipes import KAFKA_TOOLS  # here: config imports this module

    environment = _environment()
    files = {
        PROBE: (templates_dir() / "image" / "stack-tools" / f"{PROBE}.sh").read_text(),
        "kafkarig-run": environment.get_template("kafkarig-run.j2").render(
            project=project,
            host_addresses=sorted(set(host_addresses)),
            host_bootstrap=",".join(host_addresses),
            internal_bootstrap=internal_bootstrap,
        ),
    }
    tool_template = environment.get_template("kafkarig-tool.j2")
    for tool in sorted(KAFKA_TOOLS):
        for name in (tool, f"{tool}.sh"):
            files[name] = tool_template.render(
                name=name, real_tool=layout.real_tool(tool), tools_dir=TOOLS_MOUNT
            )
    return files


def write_tools(directory: Path, files: dict[str, str]) -> None:
    """Replace ``directory`` with exactly ``files`` (mode 0755), atomically per file."""
    directory.mkdir(parents=True, exist_ok=True)
    for stale in set(os.listdir(directory)) - set(files):
        path = directory / stale
        if path.is_dir():
            shutil.rmtree(path)
        else:
            path.unlink()
    for name, text in files.items():
        fd, temporary = tempfile.mkstemp(prefix=f".{name}.", dir=directory)
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
        os.chmod(temporary, 0o755)
        os.replace(temporary, directory / name)


def host_addresses(stack: Stack) -> list[str]:
    """Every address of the stack's host listener a user may type: ``localhost:9092``, ..."""
    addresses = []
    for broker in stack.brokers:
        port = broker.host_port
        hosts = {"localhost", "127.0.0.1", broker.advertised_host}
        if broker.host not in ("0.0.0.0", "::"):
            hosts.add(broker.host)
        addresses += [f"[{host}]:{port}" if ":" in host else f"{host}:{port}" for host in hosts]
    return sorted(addresses)


def write_stack_tools(stack: Stack, directory: Path) -> None:
    """Write the stack's tools directory (mounted into every container of the stack)."""
    files = render_tools(
        kafka_layout(stack.cluster.flavor),
        project=stack.project,
        host_addresses=host_addresses(stack),
        internal_bootstrap=stack.internal_bootstrap_servers,
    )
    write_tools(directory, files)
