"""Stand-ins for the official images, built from the local images (no registry reachable).

They copy the layout of ``apache/kafka``, ``confluentinc/cp-kafka`` and
``confluentinc/cp-zookeeper`` (paths, tools on PATH or not, declared VOLUMEs, user,
entrypoint), not their build, so the tests can catch a layout fault (an anonymous volume, a
tool not on PATH) without pulling anything. Files: ``tests/integration/mimic/``.
"""

from __future__ import annotations

import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path

import jinja2
from python_on_whales import DockerClient

from infra import images
from infra.images.context import inputs_hash

MIMIC_DIR = Path(__file__).resolve().parent / "mimic"
LABEL = "dev.kafkarig.test.mimic"


@dataclass(frozen=True)
class Mimic:
    """One stand-in image: what it imitates and what it is built from."""

    tag: str
    folder: str
    version: str
    local_image: str
    flavor: str


APACHE_KAFKA = Mimic(
    "kafkarig-test/apache-kafka:4.4.0", "apache", "4.4.0", "kafkarig/kafka:4.4.0", "apache"
)
CP_KAFKA_8 = Mimic(
    "kafkarig-test/cp-kafka:8.0.0", "confluent-kafka", "8.0.0", "kafkarig/kafka:4.4.0", "confluent"
)
CP_KAFKA_7 = Mimic(
    "kafkarig-test/cp-kafka:7.9.0", "confluent-kafka", "7.9.0", "kafkarig/kafka:3.9.2", "confluent"
)
CP_ZOOKEEPER_7 = Mimic(
    "kafkarig-test/cp-zookeeper:7.9.0",
    "confluent-zookeeper",
    "7.9.0",
    "kafkarig/zookeeper:3.8.4",
    "confluent",
)


def build_mimic(docker: DockerClient, mimic: Mimic) -> str:
    """Build the stand-in unless an image of the same files and local image exists."""
    files = sorted(path for path in (MIMIC_DIR / mimic.folder).rglob("*") if path.is_file())
    files.append(MIMIC_DIR / "make-tools.sh")
    wanted = inputs_hash(
        [
            docker.image.inspect(mimic.local_image).id,
            mimic.version,
            *(f"{path.relative_to(MIMIC_DIR)}\0{path.read_text()}" for path in files),
        ]
    )
    exists = docker.image.exists(mimic.tag)
    if exists and (docker.image.inspect(mimic.tag).config.labels or {}).get(LABEL) == wanted:
        return mimic.tag
    with tempfile.TemporaryDirectory(prefix="kafkarig-mimic-") as folder:
        context = Path(folder)
        shutil.copytree(MIMIC_DIR / mimic.folder, context, dirs_exist_ok=True)
        shutil.copy2(MIMIC_DIR / "make-tools.sh", context / "make-tools.sh")
        template = jinja2.Template(
            (context / "Dockerfile.j2").read_text(), undefined=jinja2.StrictUndefined
        )
        (context / "Dockerfile").write_text(
            template.render(
                version=mimic.version,
                base_image=images.BASE_IMAGE,
                local_image=mimic.local_image,
            )
        )
        docker.legacy_build(context, tags=[mimic.tag], labels={LABEL: wanted})
    return mimic.tag
