"""Pure logic of the local image builder: recipes, POM, inputs hash, tool wiring, errors."""

from __future__ import annotations

import shutil
import zipfile
from pathlib import Path

import pytest

from infra import images
from infra.errors import CommandError, ImageBuildError
from infra.images import context, maven
from infra.images.build import BUILD_STEP, build_images
from infra.images.context import ImageSources
from infra.images.recipes import ImageRecipe


@pytest.mark.parametrize("version", ["latest", "4.4", "4.4.0-rc1", ""])
def test_a_malformed_kafka_version_is_refused_with_a_hint(version: str) -> None:
    with pytest.raises(ImageBuildError, match="unknown Kafka version") as caught:
        images.kafka_recipe(version)
    assert caught.value.hint and "nox -s image" in caught.value.hint


def test_kafka_older_than_3_7_is_refused() -> None:
    with pytest.raises(ImageBuildError, match="older than the local images support"):
        images.kafka_recipe("3.6.2")


def test_kafka_4_pom_pins_log4j_and_drops_connect_runtime() -> None:
    pom = maven.render_pom(images.kafka_recipe("4.4.0"))
    assert "<artifactId>log4j-slf4j-impl</artifactId>" in pom
    assert pom.count(f"<version>{images.recipes.LOG4J_VERSION}</version>") == 4  # 3 pins + 1
    assert "<artifactId>connect-runtime</artifactId>" in pom
    assert "<scope>runtime</scope>" in pom
    # The dependency plugin is pinned, and copies into the module's own libs/.
    assert f"<version>{maven.DEPENDENCY_PLUGIN_VERSION}</version>" in pom
    assert "<outputDirectory>${project.basedir}/libs</outputDirectory>" in pom


def test_kafka_3_pom_has_no_log4j2_binding() -> None:
    pom = maven.render_pom(images.kafka_recipe("3.9.2"))
    assert "log4j-slf4j-impl" not in pom
    assert "<version>3.9.2</version>" in pom


def test_one_maven_reactor_resolves_every_image_in_parallel(tmp_path: Path) -> None:
    command = maven.maven_command(tmp_path / "pom.xml", 3)
    assert command[command.index("-T") + 1] == "3"
    assert command[-1].endswith(f":{maven.DEPENDENCY_PLUGIN_VERSION}:copy-dependencies")


def test_dockerfile_names_the_base_and_the_version() -> None:
    dockerfile = context.render_dockerfile(images.kafka_recipe("3.9.2"), "base:1")
    assert dockerfile.splitlines()[2] == "FROM base:1"
    assert "KAFKARIG_KAFKA_VERSION=3.9.2" in dockerfile
    assert "log4j.configuration=file:" in dockerfile
    assert "USER 1000:1000" in dockerfile


def _jar_with(path: Path, classes: list[str]) -> Path:
    with zipfile.ZipFile(path, "w") as archive:
        for name in classes:
            archive.writestr(name.replace(".", "/") + ".class", b"")
    return path


def _jar_for(recipe: ImageRecipe, path: Path) -> Path:
    """A jar holding the first main class of every tool of the recipe."""
    return _jar_with(path, [candidates[0] for candidates in recipe.tools.values()])


def test_tools_use_the_class_the_jars_have_under_both_names(tmp_path: Path) -> None:
    jar = _jar_with(tmp_path / "a.jar", ["kafka.admin.TopicCommand"])
    recipe = ImageRecipe(
        kind="kafka",
        version="3.9.2",
        tag="t",
        dependencies=(),
        tools={"kafka-topics": ("org.apache.kafka.tools.TopicCommand", "kafka.admin.TopicCommand")},
    )
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "kafka-run-class").write_text("")
    context.write_tool_wrappers(recipe, [jar], bin_dir)
    for name in ("kafka-topics", "kafka-topics.sh"):
        assert "exec kafka-run-class kafka.admin.TopicCommand" in (bin_dir / name).read_text()
    assert (bin_dir / "kafka-run-class.sh").is_symlink()


def test_a_tool_whose_class_is_missing_is_a_build_error(tmp_path: Path) -> None:
    jar = _jar_with(tmp_path / "a.jar", ["kafka.Kafka"])
    recipe = ImageRecipe(
        kind="kafka", version="4.4.0", tag="t", dependencies=(), tools={"kafka-x": ("a.B",)}
    )
    with pytest.raises(ImageBuildError, match="none of the main classes of kafka-x"):
        context.write_tool_wrappers(recipe, [jar], tmp_path)


@pytest.mark.parametrize("recipe", images.default_recipes(), ids=lambda r: r.tag)
def test_building_a_context_reads_no_file_the_inputs_hash_leaves_out(
    recipe: ImageRecipe, tmp_path: Path
) -> None:
    sources = ImageSources()
    jar = _jar_for(recipe, tmp_path / "tools.jar")
    context.write_context(recipe, "base:1", [jar], tmp_path / "context", sources)
    context.render_dockerfile(recipe, "base:1", sources)
    maven.render_pom(recipe, sources)
    assert sources.read == set(context.input_files(recipe))
    if recipe.kind == "kafka":
        assert "tool.sh.j2" in sources.read


@pytest.mark.parametrize("recipe", images.default_recipes(), ids=lambda r: r.tag)
def test_every_input_file_changes_the_inputs_hash(recipe: ImageRecipe, tmp_path: Path) -> None:
    copy = tmp_path / "image"
    shutil.copytree(context.image_templates_dir(), copy)
    before = context.image_inputs_hash(recipe, "sha256:base", ImageSources(copy))
    for name in context.input_files(recipe):
        original = (copy / name).read_text()
        (copy / name).write_text(original + "\n# edited\n")
        after = context.image_inputs_hash(recipe, "sha256:base", ImageSources(copy))
        assert after != before, f"editing {name} does not change the inputs hash"
        (copy / name).write_text(original)
    assert context.image_inputs_hash(recipe, "sha256:other", ImageSources(copy)) != before


def test_the_recipe_and_the_base_image_change_the_inputs_hash() -> None:
    recipe = images.kafka_recipe("4.4.0")
    sources = ImageSources()
    before = context.image_inputs_hash(recipe, "sha256:a", sources)
    other = images.kafka_recipe("4.3.0")
    assert context.image_inputs_hash(other, "sha256:a", sources) != before
    assert context.image_inputs_hash(recipe, "sha256:b", sources) != before


def _maven_failure(output: str) -> ImageBuildError:
    error = CommandError("resolve jars", ["mvn"], 1, output)
    return maven.maven_error([images.kafka_recipe("4.9.9"), images.zookeeper_recipe()], error)


def test_an_unknown_version_on_maven_central_names_that_version() -> None:
    error = _maven_failure(
        "[ERROR] Failed to execute goal on project kafka-image: Could not resolve dependencies"
        " ... Could not find artifact org.apache.kafka:kafka_2.13:jar:4.9.9 in central"
    )
    assert "kafka 4.9.9 is not on Maven Central" in error.message
    assert "zookeeper" not in error.message.splitlines()[0]
    assert error.hint and "4.4.0" in error.hint


def test_an_unreachable_maven_central_says_so() -> None:
    error = _maven_failure(
        "[ERROR] Could not transfer artifact org.apache.kafka:kafka_2.13:pom:4.9.9 from/to "
        "central: Network is unreachable"
    )
    assert "Maven Central is unreachable" in error.message
    assert "exit code: 1" in error.message


def test_maven_without_its_plugin_and_no_repository_counts_as_unreachable() -> None:
    error = _maven_failure(
        "[ERROR] Plugin org.apache.maven.plugins:maven-dependency-plugin:3.8.1 or one of its "
        "dependencies could not be resolved: Failed to read artifact descriptor"
    )
    assert "Maven Central is unreachable" in error.message


def test_inputs_hash_changes_with_any_input() -> None:
    assert images.inputs_hash(["a", "b"]) != images.inputs_hash(["a", "c"])
    assert images.inputs_hash(["ab", ""]) != images.inputs_hash(["a", "b"])
    assert images.inputs_hash(["a"]) == images.inputs_hash(["a"])


def test_building_the_base_image_without_root_is_refused(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr("infra.images.base.os.geteuid", lambda: 1000)
    with pytest.raises(ImageBuildError, match="needs root") as caught:
        images.base.build_base_image(None, None, Path("/nonexistent"))  # type: ignore[arg-type]
    assert caught.value.hint and "sudo" in caught.value.hint


def test_a_missing_local_base_image_is_refused_before_any_work(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("KAFKARIG_CACHE_DIR", str(tmp_path))

    class NoImages:
        class image:
            @staticmethod
            def exists(tag: str) -> bool:
                return False

    monkeypatch.setattr("infra.images.build.require_docker", lambda: NoImages())
    with pytest.raises(ImageBuildError, match="is not on this machine"):
        build_images([], base_image="nowhere/jre:1")


@pytest.mark.parametrize(
    ("line", "is_step"),
    [
        ("Step 3/13 : COPY --chown=0:0 libs/ /opt/kafka/libs/", True),
        ("#7 [3/13] COPY --chown=0:0 libs/ /opt/kafka/libs/", True),
        (" ---> Using cache", False),
        ("Sending build context to Docker daemon  52.4MB", False),
    ],
)
def test_docker_build_steps_are_counted_with_either_builder(line: str, is_step: bool) -> None:
    assert (BUILD_STEP.match(line) is not None) is is_step
