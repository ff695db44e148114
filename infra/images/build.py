"""Building the local images: base image and jars at once, then the image builds.

A cold build runs mmdebstrap (the base image) and Maven (the jars of every image, one
reactor) at the same time, as they need nothing of each other; then it builds the images
two at a time. Every image carries a label with the hash of its inputs; a build whose
inputs did not change does no work and says so. An image is tagged only once it has built
and passed a check run inside it, so a failed build leaves nothing tagged.
"""

from __future__ import annotations

import contextlib
import functools
import os
import re
import shutil
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Literal, TypeVar

from python_on_whales import DockerClient
from python_on_whales.exceptions import DockerException

from infra.console import logging_to, run_streaming, step, task
from infra.docker import docker_failure, require_docker
from infra.errors import CommandError, ImageBuildError
from infra.images import apt, base
from infra.images.context import INPUTS_LABEL, ImageSources, image_inputs_hash, write_context
from infra.images.maven import resolve_jars
from infra.images.recipes import ImageRecipe, default_recipes

_T = TypeVar("_T")
PARALLEL_BUILDS = 2
# A build step in the legacy builder's output ("Step 3/12 : COPY ...") or BuildKit's
# ("#7 [3/12] COPY ...").
BUILD_STEP = re.compile(r"^(Step \d+/\d+ :|#\d+ \[)")


@dataclass(frozen=True)
class BuildResult:
    """What one image build did."""

    tag: str
    built: bool  # False when the cached image was up to date
    size_bytes: int


def cache_dir() -> Path:
    """Where build contexts and logs live (``$KAFKARIG_CACHE_DIR``, else ``~/.cache/kafkarig``)."""
    configured = os.environ.get("KAFKARIG_CACHE_DIR")
    return Path(configured) if configured else Path.home() / ".cache" / "kafkarig"


@contextlib.contextmanager
def _maven_workspace() -> Iterator[Path]:
    """A Maven workspace of this run only (two builds at once do not share one)."""
    work = Path(tempfile.mkdtemp(prefix="maven-", dir=cache_dir()))
    try:
        yield work
    finally:
        shutil.rmtree(work, ignore_errors=True)


def _label(client: DockerClient, tag: str) -> str | None:
    if not client.image.exists(tag):
        return None
    return (client.image.inspect(tag).config.labels or {}).get(INPUTS_LABEL)


def _size(client: DockerClient, tag: str) -> int:
    return int(client.image.inspect(tag).size)


def check_command(recipe: ImageRecipe) -> list[str]:
    """A command that proves the image runs its Java code."""
    if recipe.kind == "kafka":
        return ["kafka-topics", "--version"]
    return ["java", "-cp", "/opt/zookeeper/libs/*", "org.apache.zookeeper.version.VersionInfoMain"]


def _pending(
    client: DockerClient,
    recipes: Sequence[ImageRecipe],
    base_id: str | None,
    force: bool,
    sources: ImageSources,
) -> tuple[dict[str, BuildResult], list[ImageRecipe]]:
    """The recipes whose image is up to date (as results) and those that must be built."""
    cached: dict[str, BuildResult] = {}
    pending: list[ImageRecipe] = []
    for recipe in recipes:
        if base_id is not None and not force:
            wanted = image_inputs_hash(recipe, base_id, sources)
            if _label(client, recipe.tag) == wanted:
                step(f"{recipe.tag}: up to date (inputs {wanted}), nothing to do")
                cached[recipe.tag] = BuildResult(recipe.tag, False, _size(client, recipe.tag))
                continue
        pending.append(recipe)
    return cached, pending


def docker_build(client: DockerClient, recipe: ImageRecipe, context: Path, wanted: str) -> int:
    """Build ``context`` as ``<tag>-candidate``, check it runs, then tag it; return its size."""
    candidate = f"{recipe.tag}-candidate"
    check = check_command(recipe)
    hint = f"the build context is kept in {context} for a look; nothing was tagged {recipe.tag}."
    try:
        run_streaming(
            [
                "docker",
                "build",
                "--label",
                f"{INPUTS_LABEL}={wanted}",
                "--label",
                f"org.opencontainers.image.version={recipe.version}",
                "--tag",
                candidate,
                str(context),
            ],
            what=f"{recipe.tag}: docker build",
            count=lambda line: BUILD_STEP.match(line) is not None,
            unit="steps",
        )
        with task(f"{recipe.tag}: check run ({' '.join(check)})") as checking:
            output = str(client.run(candidate, check, remove=True)).strip()
            checking.update(output.splitlines()[-1] if output else "no output")
        client.image.tag(candidate, recipe.tag)
    except CommandError as error:
        raise ImageBuildError(
            f"building {recipe.tag} failed.\n{error.message}", hint=hint
        ) from error
    except DockerException as error:
        raise ImageBuildError(
            f"building {recipe.tag} failed.\n{docker_failure(error)}", hint=hint
        ) from error
    finally:
        if client.image.exists(candidate):
            client.image.remove(candidate, force=True)
    return _size(client, recipe.tag)


def _build_all(
    client: DockerClient,
    pending: Sequence[ImageRecipe],
    jars: dict[str, list[Path]],
    base_image: str,
    sources: ImageSources,
) -> dict[str, BuildResult]:
    """Lay out each pending image's context and build them, two at a time."""
    base_id = client.image.inspect(base_image).id
    contexts = {}
    for recipe in pending:
        context = cache_dir() / "build" / recipe.slug
        write_context(recipe, base_image, jars[recipe.tag], context, sources)
        contexts[recipe.tag] = (context, image_inputs_hash(recipe, base_id, sources))

    def build(recipe: ImageRecipe) -> BuildResult:
        context, wanted = contexts[recipe.tag]
        return BuildResult(recipe.tag, True, docker_build(client, recipe, context, wanted))

    with ThreadPoolExecutor(max_workers=PARALLEL_BUILDS) as pool:
        futures = [pool.submit(build, recipe) for recipe in pending]
    return {result.tag: result for result in _results(futures)}


def _results(futures: Sequence[Future[_T]]) -> list[_T]:
    """Every future's result, once all are done; the first failure is raised."""
    errors = [future.exception() for future in futures]
    first = next((error for error in errors if error is not None), None)
    if first is not None:
        raise first
    return [future.result() for future in futures]


def build_image(
    client: DockerClient,
    recipe: ImageRecipe,
    *,
    base_image: str = base.BASE_IMAGE,
    force: bool = False,
) -> BuildResult:
    """Build one image on an existing base image, unless an image of the same inputs exists."""
    sources = ImageSources()
    cached, pending = _pending(
        client, [recipe], client.image.inspect(base_image).id, force, sources
    )
    if cached:
        return cached[recipe.tag]
    with _maven_workspace() as work:
        jars = resolve_jars(pending, work, sources)
        return _build_all(client, pending, jars, base_image, sources)[recipe.tag]


def build_images(
    recipes: Sequence[ImageRecipe] | None = None,
    *,
    force: bool = False,
    refresh_base: bool = False,
    base_image: str | None = None,
) -> list[BuildResult]:
    """Build the base image and each recipe's image; cached steps do no work.

    ``refresh_base`` rebuilds the base image from the mirror's current packages (and so
    every image on it). ``base_image`` names an image already on this machine with Java 17+
    and bash, used instead of building ``kafkarig/jre`` (the stacks' healthcheck is
    kafkarig's native probe, so it needs no kcat).
    """
    client = require_docker()
    recipes = list(recipes) if recipes is not None else default_recipes()
    cache_dir().mkdir(parents=True, exist_ok=True)
    log = cache_dir() / "logs" / f"image-{time.strftime('%Y%m%d-%H%M%S')}-{os.getpid()}.log"
    with logging_to(log):
        return _build_images(client, recipes, force, refresh_base, base_image)


def _plan_base(
    client: DockerClient, force: bool, refresh_base: bool, base_image: str | None
) -> tuple[str, Callable[[], int] | None, dict[str, BuildResult]]:
    """The base image to build on, how to build it (None: it is current), and its result."""
    if base_image is not None:
        if not client.image.exists(base_image):
            raise ImageBuildError(
                f"the base image {base_image} is not on this machine.",
                hint="`docker image ls` lists what is; `docker load` or build it first, or "
                "leave --base-image out to build kafkarig's own from Debian packages.",
            )
        step(f"using the local base image {base_image}")
        return base_image, None, {}
    mirrors = apt.debian_mirrors()
    step(f"Debian mirror: {mirrors.main} ({mirrors.reason}); security: {mirrors.security}")
    if force or refresh_base:
        state = base.BaseState(False, "--force" if force else "--refresh-base")
    elif not client.image.exists(base.BASE_IMAGE):
        state = base.BaseState(False, "not built yet")
    else:
        with task(f"{base.BASE_IMAGE}: asking the mirror for package updates"):
            state = base.base_state(client, mirrors, cache_dir() / "apt")
    if state.current:
        step(f"{base.BASE_IMAGE}: {state.reason}")
        cached = BuildResult(base.BASE_IMAGE, False, _size(client, base.BASE_IMAGE))
        return base.BASE_IMAGE, None, {base.BASE_IMAGE: cached}
    step(f"{base.BASE_IMAGE}: building it ({state.reason})")
    build = functools.partial(base.build_base_image, client, mirrors, cache_dir())
    return base.BASE_IMAGE, build, {}


def _build_images(
    client: DockerClient,
    recipes: list[ImageRecipe],
    force: bool,
    refresh_base: bool,
    base_image: str | None,
) -> list[BuildResult]:
    sources = ImageSources()
    base_image, build_base, results = _plan_base(client, force, refresh_base, base_image)
    base_id = None if build_base is not None else client.image.inspect(base_image).id
    cached, pending = _pending(client, recipes, base_id, force, sources)
    results |= cached
    with _maven_workspace() as work:
        # The base image and the jars need nothing of each other: make them at the same time.
        with ThreadPoolExecutor(max_workers=2) as pool:
            base_future = pool.submit(build_base) if build_base is not None else None
            jars_future = pool.submit(resolve_jars, pending, work, sources)
        if base_future is not None:  # both are done: the base image's failure is raised first
            results[base.BASE_IMAGE] = BuildResult(base.BASE_IMAGE, True, base_future.result())
        jars = jars_future.result()
        if pending:
            results |= _build_all(client, pending, jars, base_image, sources)
    ordered = [base.BASE_IMAGE] + [recipe.tag for recipe in recipes]
    return [results[tag] for tag in ordered if tag in results]


ImageState = Literal["current", "stale", "missing"]


def image_state(client: DockerClient, recipe: ImageRecipe) -> ImageState:
    """Whether the recipe's image is built from today's inputs on today's base image (a build
    would do nothing), built from other inputs (a build redoes it), or not built."""
    label = _label(client, recipe.tag)
    if label is None:
        return "missing"
    if _label(client, base.BASE_IMAGE) != base.base_image_inputs():
        return "stale"  # a build makes the base image first, and then this one again
    base_id = client.image.inspect(base.BASE_IMAGE).id
    return "current" if label == image_inputs_hash(recipe, base_id, ImageSources()) else "stale"


def base_image_state(client: DockerClient) -> base.BaseState:
    """Whether the base image is current, asking the Debian mirror for package updates."""
    return base.base_state(client, apt.debian_mirrors(), cache_dir())
