"""Shared helpers of the unit tests (no Docker)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from infra.config import Stack, build_stack

StackFactory = Callable[..., Stack]


@pytest.fixture
def make_stack() -> StackFactory:
    """Build a validated Stack from keyword arguments: ``topics=[...]``, ``project=...``, and
    any ``[cluster]`` key. The environment is ignored (KAFKARIG_FLAVOR never leaks in)."""

    def factory(
        *, topics: list[dict[str, Any]] | None = None, project: str | None = None, **cluster: Any
    ) -> Stack:
        data: dict[str, Any] = {"cluster": cluster, "topics": topics or []}
        if project is not None:
            data["stack"] = {"project": project}
        return build_stack(data, env={})

    return factory
