"""What up does about missing images: which local images it builds, which it cannot."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import pytest

from infra import images, prechecks
from infra.errors import StackError

from .conftest import StackFactory


def test_a_local_stack_builds_the_recipes_of_its_missing_images(make_stack: StackFactory) -> None:
    stack = make_stack(flavor="local", mode="zookeeper")

    recipes = prechecks.local_recipes(stack, stack.images)

    assert [recipe.tag for recipe in recipes] == [
        "kafkarig/kafka:3.9.2",
        "kafkarig/zookeeper:3.8.4",
    ]
    assert recipes[0] == images.kafka_recipe("3.9.2")


def test_an_explicit_image_that_is_missing_is_not_kafkarigs_to_build(
    make_stack: StackFactory,
) -> None:
    stack = make_stack(flavor="local", kafka_image="kafkarig/kafka:0.0.1-mine")

    with pytest.raises(StackError, match="is not built, and it is not one kafkarig builds") as e:
        prechecks.local_recipes(stack, stack.images)
    assert e.value.hint and "nox -s image" in e.value.hint


def test_up_builds_only_the_missing_local_images(
    make_stack: StackFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    stack = make_stack(flavor="local", mode="zookeeper")
    present = {"kafkarig/zookeeper:3.8.4"}
    client: Any = SimpleNamespace(image=SimpleNamespace(exists=lambda tag: tag in present))
    built: list[list[str]] = []
    monkeypatch.setattr(
        images, "build_images", lambda recipes: built.append([r.tag for r in recipes]) or []
    )

    prechecks.ensure_images(client, stack)

    assert built == [["kafkarig/kafka:3.9.2"]]
