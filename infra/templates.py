"""Where the Jinja templates are: the checkout's ``templates/``, or the installed copy."""

from __future__ import annotations

import sys
from pathlib import Path

from infra.errors import KafkarigError

_CHECKOUT = Path(__file__).resolve().parent.parent / "templates"
# A wheel installs templates/ as data files (see [tool.setuptools.data-files]).
_INSTALLED = Path(sys.prefix) / "share" / "kafkarig" / "templates"


def templates_dir() -> Path:
    """The folder holding ``docker-compose.yml.j2`` and ``image/``."""
    for candidate in (_CHECKOUT, _INSTALLED):
        if (candidate / "docker-compose.yml.j2").is_file():
            return candidate
    raise KafkarigError(
        f"kafkarig's templates are missing (looked in {_CHECKOUT} and {_INSTALLED}).",
        hint="reinstall kafkarig (`pip install --force-reinstall kafkarig`), or run it from "
        "a checkout of its repository.",
    )
