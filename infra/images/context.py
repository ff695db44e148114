"""The build context of a local image, and the hash of everything that goes into it.

Every file of ``templates/image`` that an image uses is read through :class:`ImageSources`,
and :func:`input_files` names them; the inputs hash covers exactly those files (plus the
recipe and the base image), so editing any of them rebuilds the image. A unit test checks
that building a context reads no file :func:`input_files` leaves out.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import shutil
import zipfile
from collections.abc import Iterable, Sequence
from pathlib import Path

import jinja2

from infra.errors import ImageBuildError
from infra.images.recipes import ImageRecipe
from infra.templates import templates_dir

INPUTS_LABEL = "dev.kafkarig.inputs"
RECIPE_VERSION = "2"  # bump to force a rebuild when the recipe changes in a way not hashed


def image_templates_dir() -> Path:
    """The image build files: ``templates/image``."""
    return templates_dir() / "image"


class ImageSources:
    """The files of ``templates/image``, read through one place that remembers what it read."""

    def __init__(self, root: Path | None = None) -> None:
        self.root = root if root is not None else image_templates_dir()
        self.read: set[str] = set()
        self._environment = jinja2.Environment(
            loader=jinja2.FunctionLoader(self.text),
            undefined=jinja2.StrictUndefined,
            trim_blocks=True,
            lstrip_blocks=True,
            keep_trailing_newline=True,
            autoescape=False,
        )

    def text(self, name: str) -> str:
        """The text of ``templates/image/<name>``."""
        self.read.add(name)
        return (self.root / name).read_text()

    def render(self, name: str, **context: object) -> str:
        """Render the Jinja template ``templates/image/<name>``."""
        return self._environment.get_template(name).render(**context)


def _static_files(recipe: ImageRecipe) -> dict[str, str]:
    """Files copied as they are into the build context: context path → template name."""
    if recipe.kind == "kafka":
        configs = (
            ("log4j2.properties", "tools-log4j2.properties")
            if recipe.major >= 4
            else ("log4j.properties", "tools-log4j.properties")
        )
        files = {
            "bin/kafka-entrypoint": "kafka-entrypoint.sh",
            "bin/kafka-run-class": "kafka-run-class.sh",
            "bin/kafka-healthcheck": "kafka-healthcheck.sh",
        }
        return files | {f"config/{name}": f"config/{name}" for name in configs}
    return {
        "bin/zookeeper-entrypoint": "zookeeper-entrypoint.sh",
        "bin/zookeeper-healthcheck": "zookeeper-healthcheck.sh",
        "config/logback.xml": "config/logback.xml",
    }


def _templates(recipe: ImageRecipe) -> tuple[str, ...]:
    """The Jinja templates rendered for the image."""
    if recipe.kind == "kafka":
        return ("kafka.Dockerfile.j2", "pom.xml.j2", "tool.sh.j2")
    return ("zookeeper.Dockerfile.j2", "pom.xml.j2")


def input_files(recipe: ImageRecipe) -> list[str]:
    """Every file of ``templates/image`` that goes into the image, rendered or copied."""
    return sorted({*_templates(recipe), *_static_files(recipe).values()})


def render_dockerfile(
    recipe: ImageRecipe, base_image: str, sources: ImageSources | None = None
) -> str:
    """The Dockerfile of the image, on ``base_image``."""
    sources = sources or ImageSources()
    if recipe.kind == "zookeeper":
        return sources.render(
            "zookeeper.Dockerfile.j2", version=recipe.version, base_image=base_image
        )
    if recipe.major >= 4:
        log4j = "-Dlog4j2.configurationFile=/opt/kafka/config/log4j2.properties"
        tools_log4j = "-Dlog4j2.configurationFile=/opt/kafka/config/tools-log4j2.properties"
    else:
        log4j = "-Dlog4j.configuration=file:/opt/kafka/config/log4j.properties"
        tools_log4j = "-Dlog4j.configuration=file:/opt/kafka/config/tools-log4j.properties"
    return sources.render(
        "kafka.Dockerfile.j2",
        version=recipe.version,
        base_image=base_image,
        log4j_opts=log4j,
        tools_log4j_opts=tools_log4j,
    )


def inputs_hash(parts: Iterable[str | bytes]) -> str:
    """A short, stable hash of a sequence of parts (length-prefixed, so no two collide)."""
    digest = hashlib.sha256()
    for part in parts:
        data = part.encode() if isinstance(part, str) else part
        digest.update(len(data).to_bytes(8, "big"))
        digest.update(data)
    return digest.hexdigest()[:24]


def image_inputs_hash(recipe: ImageRecipe, base_id: str, sources: ImageSources) -> str:
    """The hash of everything that decides the image: recipe, base image and input files."""
    recipe_json = json.dumps(dataclasses.asdict(recipe), sort_keys=True)
    files = [f"{name}\0{sources.text(name)}" for name in input_files(recipe)]
    return inputs_hash([RECIPE_VERSION, base_id, recipe_json, *files])


def main_classes(jars: Sequence[Path]) -> set[str]:
    """Every top-level class in the jars, as dotted names."""
    classes: set[str] = set()
    for jar in jars:
        with zipfile.ZipFile(jar) as archive:
            for name in archive.namelist():
                if name.endswith(".class") and "$" not in name:
                    classes.add(name[: -len(".class")].replace("/", "."))
    return classes


def write_tool_wrappers(
    recipe: ImageRecipe, jars: Sequence[Path], bin_dir: Path, sources: ImageSources | None = None
) -> None:
    """Write each tool as ``<name>`` and ``<name>.sh``, calling the class the jars have."""
    if not recipe.tools:
        return
    sources = sources or ImageSources()
    available = main_classes(jars)
    for tool, candidates in sorted(recipe.tools.items()):
        main_class = next((c for c in candidates if c in available), None)
        if main_class is None:
            raise ImageBuildError(
                f"{recipe.tag}: none of the main classes of {tool} ({', '.join(candidates)}) "
                "is in the resolved jars.",
                hint="this Kafka version moved the tool; add its class to KAFKA_TOOLS in "
                "infra/images/recipes.py.",
            )
        script = sources.render("tool.sh.j2", tool=tool, main_class=main_class)
        for name in (tool, f"{tool}.sh"):
            (bin_dir / name).write_text(script)
            (bin_dir / name).chmod(0o755)
    (bin_dir / "kafka-run-class.sh").symlink_to("kafka-run-class")


def write_context(
    recipe: ImageRecipe,
    base_image: str,
    jars: Sequence[Path],
    context: Path,
    sources: ImageSources,
) -> None:
    """Lay out the build context: Dockerfile, jars, scripts, configs and data folders."""
    shutil.rmtree(context, ignore_errors=True)
    for folder in ("bin", "config", "libs", "data"):
        (context / folder).mkdir(parents=True)
    for sub in ("data", "log") if recipe.kind == "zookeeper" else ():
        (context / "data" / sub).mkdir()
    for jar in jars:
        _link_or_copy(jar, context / "libs" / jar.name)
    for target, name in _static_files(recipe).items():
        (context / target).write_text(sources.text(name))
        if target.startswith("bin/"):
            (context / target).chmod(0o755)
    write_tool_wrappers(recipe, jars, context / "bin", sources)
    (context / "Dockerfile").write_text(render_dockerfile(recipe, base_image, sources))


def _link_or_copy(source: Path, target: Path) -> None:
    try:
        os.link(source, target)
    except OSError:
        shutil.copyfile(source, target)
