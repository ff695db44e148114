"""Scratch names of a smoke run: recognisable, unique per run, never mistaken for others'."""

from __future__ import annotations

import re
from datetime import UTC, datetime

import pytest

from harness.scratch import SCRATCH_PREFIX, ScratchRegistry, new_run_id, slug

LEGAL_TOPIC = re.compile(r"[a-zA-Z0-9._-]{1,249}")


def test_a_run_id_is_the_utc_start_time_and_a_random_part() -> None:
    moment = datetime(2025, 3, 1, 10, 15, 0, tzinfo=UTC)
    run_id = new_run_id(moment)
    assert re.fullmatch(r"20250301T101500-[0-9a-f]{6}", run_id)
    assert new_run_id(moment) != run_id


def test_names_carry_the_fixed_prefix_the_run_id_and_a_slug_of_the_label() -> None:
    registry = ScratchRegistry(run_id="20250301T101500-abcdef")
    name = registry.topic_name("test_per_key_ordering[3 partitions]")
    assert name.startswith(f"{SCRATCH_PREFIX}20250301T101500-abcdef-test-per-key-ordering-3-")
    assert LEGAL_TOPIC.fullmatch(name) and LEGAL_TOPIC.fullmatch(f"{name}-dlq")
    assert registry.owns(name)
    assert name in registry.topics


def test_names_are_unique_and_groups_are_registered_apart_from_topics() -> None:
    registry = ScratchRegistry()
    groups = {registry.group_name("same") for _ in range(50)}
    assert len(groups) == 50
    assert registry.groups == groups and not registry.topics


def test_another_runs_names_and_somebodys_topics_are_not_owned() -> None:
    mine, theirs = ScratchRegistry(), ScratchRegistry()
    assert not mine.owns(theirs.topic_name("x"))
    assert not mine.owns("user-events")
    assert not mine.owns(SCRATCH_PREFIX + "x")  # the bare prefix is not this run's


def test_only_names_with_the_runs_prefix_can_be_registered() -> None:
    registry = ScratchRegistry()
    registry.register_topic(registry.topic_name() + "-dlq")
    with pytest.raises(ValueError, match="does not carry this run's prefix"):
        registry.register_topic("user-events")


@pytest.mark.parametrize(
    ("text", "expected"),
    [("Hello, World!", "hello-world"), ("--x--", "x"), ("a" * 60, "a" * 40), ("", "")],
)
def test_slug(text: str, expected: str) -> None:
    assert slug(text) == expected


def test_an_empty_label_leaves_no_double_dash() -> None:
    registry = ScratchRegistry(run_id="r")
    assert "--" not in registry.group_name("")
