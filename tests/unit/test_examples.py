"""Every shipped stack file is valid, and renders."""

from __future__ import annotations

from pathlib import Path

import pytest

from infra.config import load_stack
from infra.render import render_compose

EXAMPLES = sorted((Path(__file__).resolve().parents[2] / "examples").glob("*.toml"))


@pytest.mark.parametrize("path", EXAMPLES, ids=[p.name for p in EXAMPLES])
def test_the_example_stack_loads_and_renders(path: Path) -> None:
    stack = load_stack(path, env={})
    assert f"name: {stack.project}" in render_compose(stack)
