"""Local images: Apache Kafka and ZooKeeper from Maven Central jars on a Debian Java runtime.

For machines that cannot pull from an image registry. Three steps, each cached:

1. the base image ``kafkarig/jre``: a Debian rootfs made with debootstrap (Java runtime,
   kcat for the healthcheck, an unprivileged ``appuser``), imported into Docker;
2. the jars: a POM rendered from ``templates/image/pom.xml.j2``, resolved by Maven
   (runtime scope) into the build context;
3. the image: a Dockerfile rendered from a template, built on the base image.

Every image carries a label with the hash of its inputs; a build whose inputs did not
change does no work and says so. An image is tagged only once it has built and passed a
check run inside it, so a failed build leaves nothing tagged.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import tempfile
import zipfile
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

import jinja2
from python_on_whales import DockerClient
from python_on_whales.exceptions import DockerException

from infra.console import run_streaming, step
from infra.docker import docker_failure, require_docker
from infra.errors import CommandError, ImageBuildError
from infra.templates import templates_dir
from infra.versions import KAFKA_VERSION, KAFKA_ZK_VERSION, ZOOKEEPER_VERSION

INPUTS_LABEL = "dev.kafkarig.inputs"
RECIPE_VERSION = "1"  # bump to force a rebuild when the recipe changes in a way not hashed

BASE_IMAGE = "kafkarig/jre:17-bookworm"
DEBIAN_SUITE = "bookworm"
BASE_PACKAGES = ("openjdk-17-jre-headless", "kcat")
APP_UID = 1000
# Files the images never need: package caches, docs, man pages, translations, javac symbols.
TRIMMED_PATHS = (
    "var/cache/apt/archives",
    "var/lib/apt/lists",
    "usr/share/doc",
    "usr/share/man",
    "usr/share/info",
    "usr/share/locale",
    "usr/lib/jvm/java-17-openjdk-amd64/lib/ct.sym",
)

LOG4J_VERSION = "2.25.5"  # pinned for Kafka 4.x, with the slf4j 1.7 binding Kafka needs
ZOOKEEPER_METRICS_VERSION = "4.1.12.1"
ZOOKEEPER_SNAPPY_VERSION = "1.1.10.5"
MINIMUM_KAFKA = (3, 7)
VERSION_PATTERN = re.compile(r"^(\d+)\.(\d+)\.(\d+)$")

# Tool commands on PATH (also as <name>.sh) and their main classes, newest location first.
KAFKA_TOOLS: dict[str, tuple[str, ...]] = {
    "kafka-topics": ("org.apache.kafka.tools.TopicCommand", "kafka.admin.TopicCommand"),
    "kafka-console-producer": (
        "org.apache.kafka.tools.ConsoleProducer",
        "kafka.tools.ConsoleProducer",
    ),
    "kafka-console-consumer": (
        "org.apache.kafka.tools.consumer.ConsoleConsumer",
        "kafka.tools.ConsoleConsumer",
    ),
    "kafka-consumer-groups": (
        "org.apache.kafka.tools.consumer.group.ConsumerGroupCommand",
        "kafka.admin.ConsumerGroupCommand",
    ),
    "kafka-configs": ("org.apache.kafka.tools.ConfigCommand", "kafka.admin.ConfigCommand"),
    "kafka-storage": ("kafka.tools.StorageTool",),
    "kafka-broker-api-versions": (
        "org.apache.kafka.tools.BrokerApiVersionsCommand",
        "kafka.admin.BrokerApiVersionsCommand",
    ),
    "kafka-producer-perf-test": ("org.apache.kafka.tools.ProducerPerformance",),
    "kafka-consumer-perf-test": (
        "org.apache.kafka.tools.ConsumerPerformance",
        "kafka.tools.ConsumerPerformance",
    ),
    "kafka-get-offsets": ("org.apache.kafka.tools.GetOffsetShell", "kafka.tools.GetOffsetShell"),
    "kafka-metadata-quorum": ("org.apache.kafka.tools.MetadataQuorumCommand",),
}


@dataclass(frozen=True)
class MavenArtifact:
    """One ``group:artifact:version`` coordinate, with exclusions as ``group:artifact``."""

    group: str
    artifact: str
    version: str
    exclusions: tuple[str, ...] = ()


@dataclass(frozen=True)
class ImageRecipe:
    """Everything that decides what a local image contains."""

    kind: str  # "kafka" or "zookeeper"
    version: str
    tag: str
    dependencies: tuple[MavenArtifact, ...]
    pinned: tuple[MavenArtifact, ...] = ()
    tools: dict[str, tuple[str, ...]] = field(default_factory=dict)


@dataclass(frozen=True)
class BuildResult:
    """What one image build did."""

    tag: str
    built: bool  # False when the cached image was up to date
    size_bytes: int


def parse_version(version: str) -> tuple[int, int, int]:
    """``"4.4.0"`` → ``(4, 4, 0)``; a clear error for anything else."""
    match = VERSION_PATTERN.match(version)
    if not match:
        raise ImageBuildError(
            f"unknown Kafka version {version!r}: expected MAJOR.MINOR.PATCH such as "
            f"{KAFKA_VERSION}.",
            hint=f"build the pinned versions with `nox -s image`, or name a released Kafka "
            f"version, e.g. `nox -s image -- --kafka-version {KAFKA_VERSION}`.",
        )
    major, minor, patch = (int(part) for part in match.groups())
    return major, minor, patch


def kafka_recipe(version: str) -> ImageRecipe:
    """The recipe of ``kafkarig/kafka:<version>`` (Kafka 3.7 and newer)."""
    major, minor, _ = parse_version(version)
    if (major, minor) < MINIMUM_KAFKA:
        raise ImageBuildError(
            f"Kafka {version} is older than the local images support (3.7 and newer).",
            hint=f"use {KAFKA_VERSION} (KRaft) or {KAFKA_ZK_VERSION} (ZooKeeper mode).",
        )
    # kafka-tools depends on Connect's runtime (Jetty, Jersey) for a plugin tool we do not ship.
    dependencies = [
        MavenArtifact("org.apache.kafka", "kafka_2.13", version),
        MavenArtifact(
            "org.apache.kafka", "kafka-tools", version, ("org.apache.kafka:connect-runtime",)
        ),
    ]
    pinned: list[MavenArtifact] = []
    if major >= 4:
        dependencies.append(
            MavenArtifact("org.apache.logging.log4j", "log4j-slf4j-impl", LOG4J_VERSION)
        )
        pinned = [
            MavenArtifact("org.apache.logging.log4j", name, LOG4J_VERSION)
            for name in ("log4j-api", "log4j-core", "log4j-slf4j-impl")
        ]
    return ImageRecipe(
        kind="kafka",
        version=version,
        tag=f"kafkarig/kafka:{version}",
        dependencies=tuple(dependencies),
        pinned=tuple(pinned),
        tools=KAFKA_TOOLS,
    )


def zookeeper_recipe(version: str = ZOOKEEPER_VERSION) -> ImageRecipe:
    """The recipe of ``kafkarig/zookeeper:<version>``."""
    parse_version(version)
    # ZooKeeper's POM marks these "provided", yet its server needs them and its own
    # distribution ships them; the versions are the ones its parent POM declares (3.8.4).
    return ImageRecipe(
        kind="zookeeper",
        version=version,
        tag=f"kafkarig/zookeeper:{version}",
        dependencies=(
            MavenArtifact("org.apache.zookeeper", "zookeeper", version),
            MavenArtifact("io.dropwizard.metrics", "metrics-core", ZOOKEEPER_METRICS_VERSION),
            MavenArtifact("org.xerial.snappy", "snappy-java", ZOOKEEPER_SNAPPY_VERSION),
        ),
    )


def default_recipes() -> list[ImageRecipe]:
    """The images ``nox -s image`` builds: Kafka 4.x (KRaft), Kafka 3.9 and ZooKeeper."""
    return [kafka_recipe(KAFKA_VERSION), kafka_recipe(KAFKA_ZK_VERSION), zookeeper_recipe()]


def cache_dir() -> Path:
    """Where build contexts live (``$KAFKARIG_CACHE_DIR``, else ``~/.cache/kafkarig``)."""
    configured = os.environ.get("KAFKARIG_CACHE_DIR")
    return Path(configured) if configured else Path.home() / ".cache" / "kafkarig"


def image_templates_dir() -> Path:
    """The image build files: ``templates/image``."""
    return templates_dir() / "image"


def _templates() -> jinja2.Environment:
    return jinja2.Environment(
        loader=jinja2.FileSystemLoader(image_templates_dir()),
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
        autoescape=False,
    )


def render_pom(recipe: ImageRecipe) -> str:
    """The POM whose runtime dependencies are the image's jars."""
    return (
        _templates()
        .get_template("pom.xml.j2")
        .render(
            image_name=recipe.tag,
            artifact_id=f"{recipe.kind}-image",
            version=recipe.version,
            dependencies=recipe.dependencies,
            pinned=recipe.pinned,
        )
    )


def render_dockerfile(recipe: ImageRecipe, base_image: str) -> str:
    """The Dockerfile of the image, on ``base_image``."""
    if recipe.kind == "kafka":
        major = parse_version(recipe.version)[0]
        if major >= 4:
            log4j = "-Dlog4j2.configurationFile=/opt/kafka/config/log4j2.properties"
            tools_log4j = "-Dlog4j2.configurationFile=/opt/kafka/config/tools-log4j2.properties"
        else:
            log4j = "-Dlog4j.configuration=file:/opt/kafka/config/log4j.properties"
            tools_log4j = "-Dlog4j.configuration=file:/opt/kafka/config/tools-log4j.properties"
        return (
            _templates()
            .get_template("kafka.Dockerfile.j2")
            .render(
                version=recipe.version,
                base_image=base_image,
                log4j_opts=log4j,
                tools_log4j_opts=tools_log4j,
            )
        )
    return (
        _templates()
        .get_template("zookeeper.Dockerfile.j2")
        .render(version=recipe.version, base_image=base_image)
    )


def _static_files(recipe: ImageRecipe) -> dict[str, Path]:
    """Files copied as they are into the build context: context path → template path."""
    if recipe.kind == "kafka":
        major = parse_version(recipe.version)[0]
        configs = (
            ("log4j2.properties", "tools-log4j2.properties")
            if major >= 4
            else (
                "log4j.properties",
                "tools-log4j.properties",
            )
        )
        files = {
            "bin/kafka-entrypoint": "kafka-entrypoint.sh",
            "bin/kafka-run-class": "kafka-run-class.sh",
            "bin/kafka-healthcheck": "kafka-healthcheck.sh",
        }
        files |= {f"config/{name}": f"config/{name}" for name in configs}
    else:
        files = {
            "bin/zookeeper-entrypoint": "zookeeper-entrypoint.sh",
            "bin/zookeeper-healthcheck": "zookeeper-healthcheck.sh",
            "config/logback.xml": "config/logback.xml",
        }
    return {target: image_templates_dir() / source for target, source in files.items()}


def inputs_hash(parts: Iterable[str | bytes]) -> str:
    """A short, stable hash of everything that goes into an image."""
    digest = hashlib.sha256()
    for part in parts:
        data = part.encode() if isinstance(part, str) else part
        digest.update(len(data).to_bytes(8, "big"))
        digest.update(data)
    return digest.hexdigest()[:24]


def _image_inputs_label(client: DockerClient, tag: str) -> str | None:
    if not client.image.exists(tag):
        return None
    labels = client.image.inspect(tag).config.labels or {}
    return labels.get(INPUTS_LABEL)


def _image_size(client: DockerClient, tag: str) -> int:
    return int(client.image.inspect(tag).size)


# --- base image -------------------------------------------------------------------------


def debian_mirror() -> str:
    """The Debian mirror apt uses on this machine (``$KAFKARIG_DEBIAN_MIRROR`` overrides)."""
    configured = os.environ.get("KAFKARIG_DEBIAN_MIRROR")
    if configured:
        return configured
    candidates: list[str] = []
    sources_dir = Path("/etc/apt/sources.list.d")
    for path in sorted(sources_dir.glob("*.sources")) if sources_dir.is_dir() else []:
        for stanza in path.read_text().split("\n\n"):
            fields = dict(
                line.split(":", 1)
                for line in stanza.splitlines()
                if ":" in line and not line.lstrip().startswith("#")
            )
            suites = fields.get("Suites", "").split()
            if DEBIAN_SUITE in suites:
                candidates.extend(fields.get("URIs", "").split())
    sources_list = Path("/etc/apt/sources.list")
    if sources_list.is_file():
        for line in sources_list.read_text().splitlines():
            words = line.split()
            if len(words) >= 3 and words[0] == "deb" and words[2] == DEBIAN_SUITE:
                candidates.append(next(w for w in words[1:] if not w.startswith("[")))
    for uri in candidates:
        if "security" not in uri:
            return uri
    raise ImageBuildError(
        f"found no Debian {DEBIAN_SUITE} mirror in /etc/apt/sources.list(.d).",
        hint="set KAFKARIG_DEBIAN_MIRROR to the URL of a Debian mirror this machine reaches.",
    )


def base_image_inputs() -> str:
    """The inputs hash of the base image."""
    return inputs_hash([RECIPE_VERSION, DEBIAN_SUITE, *BASE_PACKAGES, *TRIMMED_PATHS, str(APP_UID)])


def build_base_image(client: DockerClient, *, force: bool = False) -> BuildResult:
    """Make ``kafkarig/jre`` with debootstrap, unless an image of the same inputs exists."""
    wanted = base_image_inputs()
    if not force and _image_inputs_label(client, BASE_IMAGE) == wanted:
        step(f"{BASE_IMAGE}: up to date (inputs {wanted}), nothing to do")
        return BuildResult(BASE_IMAGE, False, _image_size(client, BASE_IMAGE))
    if os.geteuid() != 0:
        raise ImageBuildError(
            f"building {BASE_IMAGE} needs root: debootstrap creates device nodes and runs "
            "package scripts in a chroot.",
            hint="run `sudo nox -s image`, or build once as root and reuse the image.",
        )
    if shutil.which("debootstrap") is None:
        raise ImageBuildError(
            "debootstrap is not installed.",
            hint="`sudo apt-get install debootstrap` (or `sudo bash infra/provision.sh`).",
        )
    mirror = debian_mirror()
    work = Path(tempfile.mkdtemp(prefix="kafkarig-rootfs-", dir=cache_dir().as_posix()))
    rootfs = work / "rootfs"
    try:
        step(f"{BASE_IMAGE}: debootstrap {DEBIAN_SUITE} with {', '.join(BASE_PACKAGES)}")
        run_streaming(
            [
                "debootstrap",
                "--variant=minbase",
                f"--include={','.join(BASE_PACKAGES)}",
                DEBIAN_SUITE,
                str(rootfs),
                mirror,
            ],
            what=f"{BASE_IMAGE}: debootstrap",
            hint="debootstrap needs root and a reachable Debian mirror; the log above says "
            "which package failed.",
            show=lambda line: line.startswith(("I: Retrieving Packages", "I: Configuring", "E:")),
        )
        run_streaming(
            [
                "chroot",
                str(rootfs),
                "useradd",
                "--uid",
                str(APP_UID),
                "--user-group",
                "--no-create-home",
                "--home-dir",
                "/nonexistent",
                "--shell",
                "/usr/sbin/nologin",
                "appuser",
            ],
            what=f"{BASE_IMAGE}: create appuser",
        )
        for relative in TRIMMED_PATHS:
            target = rootfs / relative
            if target.is_dir():
                shutil.rmtree(target)
                target.mkdir()
            elif target.exists():
                target.unlink()
        step(f"{BASE_IMAGE}: importing the rootfs into Docker")
        tarball = work / "rootfs.tar"
        run_streaming(
            ["tar", "--numeric-owner", "-C", str(rootfs), "-cf", str(tarball), "."],
            what=f"{BASE_IMAGE}: pack rootfs",
        )
        client.image.import_(
            tarball,
            tag=BASE_IMAGE,
            changes=[
                f"LABEL {INPUTS_LABEL}={wanted}",
                "ENV LANG=C.UTF-8",
                'CMD ["/bin/bash"]',
            ],
            message=f"kafkarig base: Debian {DEBIAN_SUITE} minbase + {' '.join(BASE_PACKAGES)}",
        )
    except DockerException as error:
        raise ImageBuildError(
            f"importing {BASE_IMAGE} failed: {(error.stderr or '').strip()[-600:]}",
            hint="check `docker info`; the rootfs was removed.",
        ) from error
    finally:
        shutil.rmtree(work, ignore_errors=True)
    size = _image_size(client, BASE_IMAGE)
    step(f"{BASE_IMAGE}: built, {size / 1e6:.0f} MB")
    return BuildResult(BASE_IMAGE, True, size)


# --- jars and images --------------------------------------------------------------------


def maven_settings_args() -> list[str]:
    """``-s FILE`` when ``$KAFKARIG_MAVEN_SETTINGS`` names a settings file (mirror, proxy)."""
    settings = os.environ.get("KAFKARIG_MAVEN_SETTINGS")
    return ["-s", settings] if settings else []


def resolve_jars(recipe: ImageRecipe, context: Path) -> list[Path]:
    """Resolve the recipe's runtime jars from Maven Central into ``context/libs``."""
    (context / "pom.xml").write_text(render_pom(recipe))
    libs = context / "libs"
    shutil.rmtree(libs, ignore_errors=True)
    coordinate = recipe.dependencies[0]
    step(f"{recipe.tag}: resolving jars with Maven ({coordinate.group}:{coordinate.artifact})")
    try:
        run_streaming(
            [
                "mvn",
                "-B",
                "-Dstyle.color=never",
                *maven_settings_args(),
                "-f",
                str(context / "pom.xml"),
                "dependency:copy-dependencies",
                "-DincludeScope=runtime",
                f"-DoutputDirectory={libs}",
            ],
            what=f"{recipe.tag}: resolve jars",
            show=_download_progress(recipe.tag),
        )
    except CommandError as error:
        raise _maven_error(recipe, error) from error
    jars = sorted(libs.glob("*.jar"))
    step(f"{recipe.tag}: {len(jars)} jars, {sum(j.stat().st_size for j in jars) / 1e6:.0f} MB")
    return jars


def _download_progress(tag: str, every: int = 50) -> Callable[[str], bool]:
    """A line filter that reports every ``every`` artifacts Maven downloaded."""
    downloaded = 0

    def show(line: str) -> bool:
        nonlocal downloaded
        if "] Downloaded from " in line or line.startswith("Downloaded from "):
            downloaded += 1
            if downloaded % every == 0:
                step(f"{tag}: {downloaded} files downloaded from Maven Central so far")
        return line.startswith("[ERROR]")

    return show


def _maven_error(recipe: ImageRecipe, error: CommandError) -> ImageBuildError:
    output = error.output
    coordinate = recipe.dependencies[0]
    name = f"{coordinate.group}:{coordinate.artifact}:{coordinate.version}"
    if "Could not find artifact" in output or "was not found in" in output:
        return ImageBuildError(
            f"{recipe.kind} {recipe.version} is not on Maven Central ({name} not found).\n"
            + error.message,
            hint=f"name a released version; the pinned ones are Kafka {KAFKA_VERSION}, "
            f"{KAFKA_ZK_VERSION} and ZooKeeper {ZOOKEEPER_VERSION}.",
        )
    if re.search(
        # Without a reachable repository even Maven's own plugins cannot be resolved.
        r"Could not transfer|Unknown host|UnknownHost|Connection refused|Network is unreachable"
        r"|timed out|Connect to .* failed|No plugin found for prefix",
        output,
    ):
        return ImageBuildError(
            f"Maven Central is unreachable, so the jars of {recipe.tag} cannot be resolved.\n"
            + error.message,
            hint="check this machine's network and Maven settings (~/.m2/settings.xml, "
            "proxy); jars already in ~/.m2 are reused once it is reachable.",
        )
    return ImageBuildError(error.message, hint="read Maven's output above.")


def _main_classes(jars: Sequence[Path]) -> set[str]:
    classes: set[str] = set()
    for jar in jars:
        with zipfile.ZipFile(jar) as archive:
            for name in archive.namelist():
                if name.endswith(".class") and "$" not in name:
                    classes.add(name[: -len(".class")].replace("/", "."))
    return classes


def write_tool_wrappers(recipe: ImageRecipe, jars: Sequence[Path], bin_dir: Path) -> None:
    """Write each tool as ``<name>`` and ``<name>.sh``, calling the class the jars have."""
    if not recipe.tools:
        return
    available = _main_classes(jars)
    template = _templates().get_template("tool.sh.j2")
    for tool, candidates in sorted(recipe.tools.items()):
        main_class = next((c for c in candidates if c in available), None)
        if main_class is None:
            raise ImageBuildError(
                f"{recipe.tag}: none of the main classes of {tool} ({', '.join(candidates)}) "
                "is in the resolved jars.",
                hint="this Kafka version moved the tool; add its class to KAFKA_TOOLS in "
                "infra/images.py.",
            )
        script = template.render(tool=tool, main_class=main_class)
        for name in (tool, f"{tool}.sh"):
            (bin_dir / name).write_text(script)
            (bin_dir / name).chmod(0o755)
    for name in ("kafka-run-class",):
        (bin_dir / f"{name}.sh").symlink_to(name)


def _check_command(recipe: ImageRecipe) -> list[str]:
    if recipe.kind == "kafka":
        return ["kafka-topics", "--version"]
    return ["java", "-cp", "/opt/zookeeper/libs/*", "org.apache.zookeeper.version.VersionInfoMain"]


def recipe_inputs(client: DockerClient, recipe: ImageRecipe, base_image: str = BASE_IMAGE) -> str:
    """The inputs hash an image built from ``recipe`` on ``base_image`` carries."""
    static = _static_files(recipe)
    return inputs_hash(
        [
            RECIPE_VERSION,
            client.image.inspect(base_image).id,
            render_pom(recipe),
            render_dockerfile(recipe, base_image),
            json.dumps(recipe.tools, sort_keys=True),
            *(f"{target}\0{source.read_text()}" for target, source in sorted(static.items())),
        ]
    )


def image_state(
    client: DockerClient, recipe: ImageRecipe, base_image: str = BASE_IMAGE
) -> Literal["current", "stale", "missing"]:
    """Whether the recipe's image is built from today's inputs (a build would do nothing)."""
    label = _image_inputs_label(client, recipe.tag)
    if label is None:
        return "missing"
    if not client.image.exists(base_image) or (
        base_image == BASE_IMAGE and _image_inputs_label(client, BASE_IMAGE) != base_image_inputs()
    ):
        return "stale"  # a build would make the base image first, and then this one again
    return "current" if label == recipe_inputs(client, recipe, base_image) else "stale"


def build_image(
    client: DockerClient, recipe: ImageRecipe, *, base_image: str = BASE_IMAGE, force: bool = False
) -> BuildResult:
    """Build one image from its recipe, unless an image of the same inputs exists."""
    dockerfile = render_dockerfile(recipe, base_image)
    static = _static_files(recipe)
    wanted = recipe_inputs(client, recipe, base_image)
    if not force and _image_inputs_label(client, recipe.tag) == wanted:
        step(f"{recipe.tag}: up to date (inputs {wanted}), nothing to do")
        return BuildResult(recipe.tag, False, _image_size(client, recipe.tag))

    context = cache_dir() / "build" / recipe.tag.replace("/", "_").replace(":", "_")
    shutil.rmtree(context, ignore_errors=True)
    (context / "bin").mkdir(parents=True)
    (context / "config").mkdir()
    data = context / "data"
    for sub in ("data", "log") if recipe.kind == "zookeeper" else ():
        (data / sub).mkdir(parents=True)
    data.mkdir(exist_ok=True)
    jars = resolve_jars(recipe, context)
    for target, source in static.items():
        shutil.copyfile(source, context / target)
        if target.startswith("bin/"):
            (context / target).chmod(0o755)
    write_tool_wrappers(recipe, jars, context / "bin")
    (context / "Dockerfile").write_text(dockerfile)

    candidate = f"{recipe.tag}-candidate"
    step(f"{recipe.tag}: docker build")
    try:
        client.legacy_build(
            context,
            tags=[candidate],
            labels={INPUTS_LABEL: wanted, "org.opencontainers.image.version": recipe.version},
        )
        step(f"{recipe.tag}: checking the image runs ({' '.join(_check_command(recipe))})")
        output = client.run(candidate, _check_command(recipe), remove=True)
        step(f"{recipe.tag}: {str(output).strip().splitlines()[-1:]}")
        client.image.tag(candidate, recipe.tag)
    except DockerException as error:
        raise ImageBuildError(
            f"building {recipe.tag} failed.\n{docker_failure(error)}",
            hint=f"the build context is kept in {context} for a look; nothing was tagged "
            f"{recipe.tag}.",
        ) from error
    finally:
        if client.image.exists(candidate):
            client.image.remove(candidate, force=True)
    size = _image_size(client, recipe.tag)
    step(f"{recipe.tag}: built, {size / 1e6:.0f} MB")
    return BuildResult(recipe.tag, True, size)


def build_images(
    recipes: Sequence[ImageRecipe] | None = None,
    *,
    force: bool = False,
    base_image: str | None = None,
) -> list[BuildResult]:
    """Build the base image and then each recipe's image; cached steps do no work.

    ``base_image`` names an image already on this machine with Java 17+ and bash, used
    instead of building ``kafkarig/jre`` (without kcat in it, the healthcheck falls back to
    the JVM tool kafka-broker-api-versions).
    """
    client = require_docker()
    cache_dir().mkdir(parents=True, exist_ok=True)
    if base_image is None:
        results = [build_base_image(client, force=force)]
        base_image = BASE_IMAGE
    elif client.image.exists(base_image):
        step(f"using the local base image {base_image}")
        results = []
    else:
        raise ImageBuildError(
            f"the base image {base_image} is not on this machine.",
            hint="`docker image ls` lists what is; `docker load` or build it first, or leave "
            "--base-image out to build kafkarig's own from Debian packages.",
        )
    for recipe in recipes if recipes is not None else default_recipes():
        results.append(build_image(client, recipe, base_image=base_image, force=force))
    return results
