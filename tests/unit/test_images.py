"""Pure logic of the local image builder: recipes, POM, tool wiring, error classification."""

from __future__ import annotations

import zipfile
from pathlib import Path

import pytest

from infra import images
from infra.errors import CommandError, ImageBuildError


@pytest.mark.parametrize("version", ["latest", "4.4", "4.4.0-rc1", ""])
def test_a_malformed_kafka_version_is_refused_with_a_hint(version: str) -> None:
    with pytest.raises(ImageBuildError, match="unknown Kafka version") as caught:
        images.kafka_recipe(version)
    assert caught.value.hint and "nox -s image" in caught.value.hint


def test_kafka_older_than_3_7_is_refused() -> None:
    with pytest.raises(ImageBuildError, match="older than the local images support"):
        images.kafka_recipe("3.6.2")


def test_kafka_4_pom_pins_log4j_and_drops_connect_runtime() -> None:
    pom = images.render_pom(images.kafka_recipe("4.4.0"))
    assert "<artifactId>log4j-slf4j-impl</artifactId>" in pom
    assert pom.count(f"<version>{images.LOG4J_VERSION}</version>") == 4  # 3 pins + binding
    assert "<artifactId>connect-runtime</artifactId>" in pom
    assert "<scope>runtime</scope>" in pom


def test_kafka_3_pom_has_no_log4j2_binding() -> None:
    pom = images.render_pom(images.kafka_recipe("3.9.2"))
    assert "log4j-slf4j-impl" not in pom
    assert "<version>3.9.2</version>" in pom


def test_dockerfile_names_the_base_and_the_version() -> None:
    dockerfile = images.render_dockerfile(images.kafka_recipe("3.9.2"), "base:1")
    assert dockerfile.splitlines()[2] == "FROM base:1"
    assert "KAFKARIG_KAFKA_VERSION=3.9.2" in dockerfile
    assert "log4j.configuration=file:" in dockerfile
    assert "USER 1000:1000" in dockerfile


def _jar_with(path: Path, classes: list[str]) -> Path:
    with zipfile.ZipFile(path, "w") as archive:
        for name in classes:
            archive.writestr(name.replace(".", "/") + ".class", b"")
    return path


def test_tools_use_the_class_the_jars_have_under_both_names(tmp_path: Path) -> None:
    jar = _jar_with(tmp_path / "a.jar", ["kafka.admin.TopicCommand"])
    recipe = images.ImageRecipe(
        kind="kafka",
        version="3.9.2",
        tag="t",
        dependencies=(),
        tools={"kafka-topics": ("org.apache.kafka.tools.TopicCommand", "kafka.admin.TopicCommand")},
    )
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "kafka-run-class").write_text("")
    images.write_tool_wrappers(recipe, [jar], bin_dir)
    for name in ("kafka-topics", "kafka-topics.sh"):
        assert "exec kafka-run-class kafka.admin.TopicCommand" in (bin_dir / name).read_text()
    assert (bin_dir / "kafka-run-class.sh").is_symlink()


def test_a_tool_whose_class_is_missing_is_a_build_error(tmp_path: Path) -> None:
    jar = _jar_with(tmp_path / "a.jar", ["kafka.Kafka"])
    recipe = images.ImageRecipe(
        kind="kafka", version="4.4.0", tag="t", dependencies=(), tools={"kafka-x": ("a.B",)}
    )
    with pytest.raises(ImageBuildError, match="none of the main classes of kafka-x"):
        images.write_tool_wrappers(recipe, [jar], tmp_path)


def _maven_failure(output: str) -> ImageBuildError:
    error = CommandError("resolve jars", ["mvn"], 1, output)
    return images._maven_error(images.kafka_recipe("4.9.9"), error)


def test_an_unknown_version_on_maven_central_says_so() -> None:
    error = _maven_failure(
        "[ERROR] Failed to execute goal on project kafka-image: Could not resolve dependencies"
        " ... Could not find artifact org.apache.kafka:kafka_2.13:jar:4.9.9 in central"
    )
    assert "kafka 4.9.9 is not on Maven Central" in error.message
    assert error.hint and "4.4.0" in error.hint


def test_an_unreachable_maven_central_says_so() -> None:
    error = _maven_failure(
        "[ERROR] Could not transfer artifact org.apache.kafka:kafka_2.13:pom:4.9.9 from/to "
        "central: Network is unreachable"
    )
    assert "Maven Central is unreachable" in error.message
    assert "exit code: 1" in error.message


def test_inputs_hash_changes_with_any_input() -> None:
    assert images.inputs_hash(["a", "b"]) != images.inputs_hash(["a", "c"])
    assert images.inputs_hash(["ab", ""]) != images.inputs_hash(["a", "b"])
    assert images.inputs_hash(["a"]) == images.inputs_hash(["a"])


def test_the_debian_mirror_comes_from_apt_sources(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("KAFKARIG_DEBIAN_MIRROR", "http://mirror.invalid/debian")
    assert images.debian_mirror() == "http://mirror.invalid/debian"


def test_building_the_base_image_without_root_is_refused(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(images.os, "geteuid", lambda: 1000)

    class NoImages:
        class image:
            @staticmethod
            def exists(tag: str) -> bool:
                return False

    with pytest.raises(ImageBuildError, match="needs root") as caught:
        images.build_base_image(NoImages(), force=True)  # type: ignore[arg-type]
    assert caught.value.hint and "sudo" in caught.value.hint


def test_maven_without_its_plugins_and_no_repository_counts_as_unreachable() -> None:
    error = _maven_failure(
        "[ERROR] No plugin found for prefix 'dependency' in the current project and in the "
        "plugin groups [org.apache.maven.plugins] available from the repositories [local, central]"
    )
    assert "Maven Central is unreachable" in error.message
