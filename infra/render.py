"""Render a :class:`~infra.config.Stack` into a docker-compose file.

One Jinja template (``templates/docker-compose.yml.j2``) serves every topology and image
flavor, because the local images honour the official images' environment contract. The
template gets its context explicitly from :func:`compose_context`; rendering uses
``StrictUndefined``, so a missing value is an error, never an empty string.
"""

from __future__ import annotations

import functools
import json
import os
import tempfile
from pathlib import Path
from typing import Any

from jinja2 import Environment, FileSystemLoader, StrictUndefined

from infra import config, layouts
from infra.config import Stack
from infra.errors import ConfigError
from infra.templates import templates_dir

COMPOSE_TEMPLATE = "docker-compose.yml.j2"

_ENV_PREFIX = "KAFKA_"


def property_to_env(name: str) -> str:
    """The ``KAFKA_*`` environment variable the official images turn into property ``name``.

    The images' contract: drop ``KAFKA_``, lower-case, ``___`` -> ``-``, ``__`` -> ``_``,
    ``_`` -> ``.``. This is its inverse: ``log.retention.hours`` -> ``KAFKA_LOG_RETENTION_HOURS``,
    ``a_b`` -> ``KAFKA_A__B``, ``a-b`` -> ``KAFKA_A___B``.
    """
    encoded = name.replace("_", "__").replace("-", "___").replace(".", "_")
    return _ENV_PREFIX + encoded.upper()


def env_to_property(variable: str) -> str:
    """The server property the official images derive from a ``KAFKA_*`` variable.

    ``KAFKA_LOG_RETENTION_HOURS`` -> ``log.retention.hours``; ``__`` -> ``_`` and ``___`` ->
    ``-``. Raises ValueError for a variable without the ``KAFKA_`` prefix.
    """
    if not variable.startswith(_ENV_PREFIX):
        raise ValueError(f"{variable!r} does not start with {_ENV_PREFIX!r}")
    name = variable.removeprefix(_ENV_PREFIX).lower()
    placeholder = "\0"
    name = name.replace("___", "-").replace("__", placeholder).replace("_", ".")
    return name.replace(placeholder, "_")


def yaml_string(value: object) -> str:
    """A value as a double-quoted YAML string, safe from compose interpolation.

    A JSON string is a valid YAML double-quoted scalar; ``$`` is doubled because compose
    would otherwise read ``$NAME`` as a variable of the shell running it.
    """
    return json.dumps(str(value).replace("$", "$$"), ensure_ascii=False)


@functools.cache
def _environment() -> Environment:
    environment = Environment(
        loader=FileSystemLoader(templates_dir()),
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
        autoescape=False,  # YAML, not HTML: values are quoted by the yaml_string filter
    )
    environment.filters["yaml_string"] = yaml_string
    return environment


def compose_context(stack: Stack) -> dict[str, Any]:
    """Everything the compose template uses, and nothing else."""
    cluster = stack.cluster
    zookeeper: dict[str, Any] | None = None
    if not stack.is_kraft:
        zookeeper = {
            "service": config.ZOOKEEPER_SERVICE,
            "image": stack.zookeeper_image,
            "client_port": config.ZOOKEEPER_CLIENT_PORT,
            "connect": stack.zookeeper_connect,
            "heap": config.ZOOKEEPER_HEAP,
            "healthcheck": stack.zookeeper_healthcheck,
            "layout": layouts.zookeeper_layout(cluster.flavor),
            "data_volume": f"{config.ZOOKEEPER_SERVICE}-data",
            "data_dir": config.ZOOKEEPER_DATA_DIR,
            "log_volume": f"{config.ZOOKEEPER_SERVICE}-log",
            "log_dir": config.ZOOKEEPER_LOG_DIR,
        }
    return {
        "project": stack.project,
        "network": stack.network,
        "mode": cluster.mode,
        "flavor": cluster.flavor,
        "kafka_image": stack.kafka_image,
        "brokers": stack.brokers,
        "cluster_id": stack.cluster_id,
        "quorum_voters": stack.quorum_voters,
        "internal_port": config.INTERNAL_PORT,
        "controller_port": config.CONTROLLER_PORT,
        "heap": cluster.heap,
        "internal_topic_replication_factor": stack.internal_topic_replication_factor,
        "internal_topic_min_isr": stack.internal_topic_min_isr,
        "extra_environment": [
            (property_to_env(name), value) for name, value in sorted(cluster.broker_config.items())
        ],
        "healthcheck": stack.healthcheck,
        "kafka_data_dir": config.KAFKA_DATA_DIR,
        "kafka_layout": layouts.kafka_layout(cluster.flavor),
        "tools_mount": layouts.tools_mount(),
        "zookeeper": zookeeper,
        "volumes": stack.volumes,
    }


def render_compose(stack: Stack) -> str:
    """The docker-compose file of a stack, as text."""
    template = _environment().get_template(COMPOSE_TEMPLATE)
    return template.render(compose_context(stack))


def write_compose(stack: Stack, root: Path) -> Path:
    """Render the stack to ``<root>/.kafkarig/<project>/docker-compose.yml``; return the path.

    The file is replaced atomically, so a concurrent reader never sees half a file.
    """
    path = stack.compose_file(root)
    text = render_compose(stack)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        layouts.write_stack_tools(stack, path.parent / layouts.TOOLS_DIR_NAME)
        fd, temporary = tempfile.mkstemp(prefix=".docker-compose.", suffix=".tmp", dir=path.parent)
    except OSError as error:
        raise ConfigError(
            f"cannot write the compose file {path}: {error.strerror}.",
            hint="kafkarig writes .kafkarig/<project>/ next to the stack file; that folder "
            "must be a writable directory.",
        ) from error
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
        os.chmod(temporary, 0o644)
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
    return path
