"""Render a :class:`~infra.config.Stack` into a docker-compose file.

One Jinja template (``templates/docker-compose.yml.j2``) serves every topology and image
flavor, because the local images honour the official images' environment contract. The
template gets its context explicitly from :func:`compose_context`; rendering uses
``StrictUndefined``, so a missing value is an error, never an empty string.

Every container carries the hash of its rendered service (:func:`service_hashes`), so that
``up`` and ``status`` can tell from Docker alone whether what runs is what the stack file
declares, service by service (a change to the brokers does not touch ZooKeeper).
"""

from __future__ import annotations

import functools
import hashlib
import json
import os
import re
import tempfile
from pathlib import Path
from typing import Any

from jinja2 import Environment, FileSystemLoader, StrictUndefined

from infra import layouts
from infra.config import Stack, compose
from infra.config.secure_compose import security_context
from infra.errors import ConfigError
from infra.templates import COMPOSE_TEMPLATE, templates_dir

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


def compose_context(stack: Stack, *, hashes: dict[str, str] | None = None) -> dict[str, Any]:
    """Everything the compose template uses, and nothing else.

    ``hashes`` are the services' config-hash labels (see :func:`service_hashes`); without
    them the labels are empty.
    """
    cluster = stack.cluster
    zookeeper: dict[str, Any] | None = None
    if not stack.is_kraft:
        zookeeper = {
            "service": compose.ZOOKEEPER_SERVICE,
            "image": stack.zookeeper_image,
            "client_port": compose.ZOOKEEPER_CLIENT_PORT,
            "connect": stack.zookeeper_connect,
            "heap": compose.ZOOKEEPER_HEAP,
            "healthcheck": stack.zookeeper_healthcheck,
            "layout": layouts.zookeeper_layout(cluster.flavor),
            "data_volume": f"{compose.ZOOKEEPER_SERVICE}-data",
            "data_dir": compose.ZOOKEEPER_DATA_DIR,
            "log_volume": f"{compose.ZOOKEEPER_SERVICE}-log",
            "log_dir": compose.ZOOKEEPER_LOG_DIR,
        }
    # kafkarig's defaults first, then the user's broker_config, which may override them.
    broker_settings = {
        **compose.TEMPLATE_DEFAULT_PROPERTIES,
        **(compose.KRAFT_DEFAULT_PROPERTIES if stack.is_kraft else {}),
        **stack.implied_broker_properties,
        **cluster.broker_config,
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
        "internal_port": compose.INTERNAL_PORT,
        "controller_port": compose.CONTROLLER_PORT,
        "heap": cluster.heap,
        "internal_topic_replication_factor": stack.internal_topic_replication_factor,
        "internal_topic_min_isr": stack.internal_topic_min_isr,
        "extra_environment": [
            (property_to_env(name), value) for name, value in sorted(broker_settings.items())
        ],
        "host_protocol": stack.security.kafka_protocol,
        "security": security_context(stack.security, kraft=stack.is_kraft),
        "healthcheck": stack.healthcheck,
        "kafka_data_dir": compose.KAFKA_DATA_DIR,
        "kafka_layout": layouts.kafka_layout(cluster.flavor),
        "tools_mount": layouts.tools_mount(),
        "zookeeper": zookeeper,
        "volumes": stack.volumes,
        "labels": stack_labels(stack),
        "container_labels": {
            service: {
                **stack_labels(stack),
                compose.CONFIG_HASH_LABEL: (hashes or {}).get(service, ""),
            }
            for service in stack.services
        },
    }


def stack_labels(stack: Stack) -> dict[str, str]:
    """The labels kafkarig puts on every container, network and volume of a stack."""
    labels = {compose.PROJECT_LABEL: stack.project}
    if stack.source_file is not None:
        labels[compose.STACK_FILE_LABEL] = str(stack.source_file)
    return labels


def _render(context: dict[str, Any]) -> str:
    return _environment().get_template(COMPOSE_TEMPLATE).render(context)


# A service block of the rendered file: "  <name>:" under "services:", up to the next one.
_SERVICE_START = re.compile(r"^  ([a-z0-9][a-z0-9_-]*):$", re.MULTILINE)


def service_hashes(stack: Stack) -> dict[str, str]:
    """The hash of each service as rendered (without the hash labels themselves).

    A container whose config-hash label differs from its service's was started from another
    stack.toml (or another kafkarig template): it is not what the stack file declares now.
    """
    text = _render(compose_context(stack))
    services = text.split("\nservices:\n", 1)[1].split("\nnetworks:\n", 1)[0]
    starts = list(_SERVICE_START.finditer(services))
    hashes = {}
    for index, match in enumerate(starts):
        end = starts[index + 1].start() if index + 1 < len(starts) else len(services)
        block = services[match.start() : end]
        hashes[match.group(1)] = hashlib.sha256(block.encode("utf-8")).hexdigest()[:24]
    return hashes


def render_compose(stack: Stack) -> str:
    """The docker-compose file of a stack, as text."""
    return _render(compose_context(stack, hashes=service_hashes(stack)))


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
