"""The typed, validated model of ``stack.toml``, in parts:

- :mod:`infra.config.schema` and :mod:`infra.config.cluster`: the sections as pydantic
  models (``[stack]``, ``[[topics]]``; ``[cluster]``), each key checked on its own;
- :mod:`infra.config.security`, :mod:`infra.config.users`, :mod:`infra.config.acls`:
  ``[security]``, ``[[users]]``, ``[[acls]]``; :mod:`infra.config.access` checks them together;
- :mod:`infra.config.stack`: the root :class:`Stack`, the checks across sections and the
  derived topology it exposes;
- :mod:`infra.config.problems`: how a problem reads (key, offending value, what is allowed,
  hint, "did you mean"), built on pydantic's ``PydanticCustomError``;
- :mod:`infra.config.loading`: the file, its TOML and the environment overrides;
- :mod:`infra.config.topology`: images, brokers, listeners, services, volumes;
- :mod:`infra.config.health`: the healthcheck of each service per flavor;
- :mod:`infra.config.compose`: what the compose template fixes (ports, paths, the server
  properties it owns); :mod:`infra.config.secure_compose`: its secure host listener.

The names other code uses are importable from here.
"""

from infra.config.acls import AclSpec
from infra.config.cluster import ClusterConfig
from infra.config.compose import (
    CONTROLLER_PORT,
    INTERNAL_PORT,
    KAFKA_DATA_DIR,
    KRAFT_DEFAULT_PROPERTIES,
    LAUNCHER_VARIABLES,
    TEMPLATE_DEFAULT_PROPERTIES,
    TEMPLATE_OWNED_PROPERTIES,
    ZOOKEEPER_CLIENT_PORT,
    ZOOKEEPER_DATA_DIR,
    ZOOKEEPER_HEAP,
    ZOOKEEPER_LOG_DIR,
    ZOOKEEPER_SERVICE,
)
from infra.config.health import Healthcheck
from infra.config.loading import (
    FLAVOR_ENV_VAR,
    STACK_FILE_NAME,
    EnvironmentOverrides,
    build_stack,
    load_stack,
    parse_stack,
)
from infra.config.schema import (
    DLQ_SUFFIX,
    FLAVORS,
    MODES,
    Flavor,
    Mode,
    StackSection,
    TopicSpec,
)
from infra.config.security import SecuritySection
from infra.config.stack import COMPOSE_FILE_NAME, STATE_DIR_NAME, Stack
from infra.config.topology import Broker, cluster_id_for
from infra.config.users import UserSpec

__all__ = [
    "COMPOSE_FILE_NAME",
    "CONTROLLER_PORT",
    "DLQ_SUFFIX",
    "FLAVORS",
    "FLAVOR_ENV_VAR",
    "INTERNAL_PORT",
    "KAFKA_DATA_DIR",
    "KRAFT_DEFAULT_PROPERTIES",
    "LAUNCHER_VARIABLES",
    "MODES",
    "STACK_FILE_NAME",
    "STATE_DIR_NAME",
    "TEMPLATE_DEFAULT_PROPERTIES",
    "TEMPLATE_OWNED_PROPERTIES",
    "ZOOKEEPER_CLIENT_PORT",
    "ZOOKEEPER_DATA_DIR",
    "ZOOKEEPER_HEAP",
    "ZOOKEEPER_LOG_DIR",
    "ZOOKEEPER_SERVICE",
    "AclSpec",
    "Broker",
    "ClusterConfig",
    "EnvironmentOverrides",
    "Flavor",
    "Healthcheck",
    "Mode",
    "SecuritySection",
    "Stack",
    "StackSection",
    "TopicSpec",
    "UserSpec",
    "build_stack",
    "cluster_id_for",
    "load_stack",
    "parse_stack",
]
