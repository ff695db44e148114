"""Where the Jinja templates are: the package ``kafkarig_templates`` (the repository's
``templates/`` folder, mapped as a package in pyproject.toml), found with importlib.resources.

That works alike for a checkout installed in editable mode, a wheel in a virtualenv, and
``pip install --user``: the templates are package data beside the code.
"""

from __future__ import annotations

import importlib.resources
from pathlib import Path

from infra.errors import KafkarigError

TEMPLATES_PACKAGE = "kafkarig_templates"
COMPOSE_TEMPLATE = "docker-compose.yml.j2"
_CHECKOUT = Path(__file__).resolve().parent.parent / "templates"


def templates_dir() -> Path:
    """The folder holding ``docker-compose.yml.j2`` and ``image/``."""
    candidates = []
    try:
        installed = importlib.resources.files(TEMPLATES_PACKAGE)
    except ModuleNotFoundError:
        pass  # not installed: a checkout run with PYTHONPATH
    else:
        if isinstance(installed, Path):
            candidates.append(installed)
    candidates.append(_CHECKOUT)
    for candidate in candidates:
        if (candidate / COMPOSE_TEMPLATE).is_file():
            return candidate
    raise KafkarigError(
        "kafkarig's templates are missing (looked in "
        + " and ".join(str(candidate) for candidate in candidates)
        + ").",
        hint="reinstall kafkarig (`pip install --force-reinstall kafkarig`), or run it from "
        "a checkout of its repository.",
    )
