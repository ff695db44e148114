"""What kafkarig's compose template (``templates/docker-compose.yml.j2``) fixes on every
stack: listener ports, data paths, and the server properties it sets itself.

This is the one place that knows which ``KAFKA_*`` variables the template writes: a unit test
checks that the template sets exactly :data:`TEMPLATE_OWNED_PROPERTIES` plus
:data:`TEMPLATE_DEFAULT_PROPERTIES`. A property kafkarig owns cannot be set in
``[cluster.broker_config]`` (the template would fight the user); a default can.
"""

from __future__ import annotations

from typing import Final

INTERNAL_PORT: Final = 19092
"""Port of the compose-network listener (``INTERNAL``) on every broker."""
CONTROLLER_PORT: Final = 19093
"""Port of the KRaft controller listener (``CONTROLLER``) on every broker."""

ZOOKEEPER_SERVICE: Final = "zookeeper"
ZOOKEEPER_CLIENT_PORT: Final = 2181
ZOOKEEPER_HEAP: Final = "256m"

# ---- volumes: where each service keeps its data (the images helper may extend these) ----
KAFKA_DATA_DIR: Final = "/var/lib/kafka/data"
ZOOKEEPER_DATA_DIR: Final = "/var/lib/zookeeper/data"
ZOOKEEPER_LOG_DIR: Final = "/var/lib/zookeeper/log"

TEMPLATE_OWNED_PROPERTIES: Final[dict[str, str]] = {
    "node.id": "node ids follow the broker's position (1..brokers)",
    "broker.id": "broker ids follow the broker's position (1..brokers)",
    "process.roles": "set by [cluster] mode",
    "controller.quorum.voters": "set by [cluster] mode and brokers",
    "controller.listener.names": "set by [cluster] mode",
    "zookeeper.connect": "set by [cluster] mode",
    "listeners": "set by [cluster] host and port",
    "advertised.listeners": "set by [cluster] advertised_host and port",
    "listener.security.protocol.map": "kafkarig's listeners are INTERNAL, HOST and CONTROLLER",
    "inter.broker.listener.name": "kafkarig's brokers talk over the INTERNAL listener",
    "log.dirs": "data lives in the broker's named volume at " + KAFKA_DATA_DIR,
    "offsets.topic.replication.factor": "derived from [cluster] brokers: min(3, brokers)",
    "transaction.state.log.replication.factor": "derived from [cluster] brokers: min(3, brokers)",
    "transaction.state.log.min.isr": "derived from [cluster] brokers: min(2, brokers)",
    "share.coordinator.state.topic.replication.factor": "derived from [cluster] brokers",
    "share.coordinator.state.topic.min.isr": "derived from [cluster] brokers",
    "group.initial.rebalance.delay.ms": "kafkarig sets 0 so test consumers start at once",
    # ---- the secure host listener (infra/config/secure_compose.py) ----
    "ssl.keystore.type": "set by [security] protocol: kafkarig's PEM files",
    "ssl.keystore.location": "set by [security] protocol: kafkarig's PEM files",
    "ssl.truststore.type": "set by [security] protocol: kafkarig's PEM files",
    "ssl.truststore.location": "set by [security] protocol: kafkarig's PEM files",
    "ssl.client.auth": "set by [security] client_certificates",
    "ssl.principal.mapping.rules": "with client_certificates a certificate's CN is its user",
    "sasl.enabled.mechanisms": "set by [security] mechanism",
    "listener.name.host.scram-sha-512.sasl.jaas.config": "set by [security] mechanism",
    "listener.name.host.scram-sha-256.sasl.jaas.config": "set by [security] mechanism",
    "authorizer.class.name": "set by [security] protocol: on whenever clients log in",
    "super.users": "kafkarig's admin user, and ANONYMOUS of the in-network listeners",
    "allow.everyone.if.no.acl.found": "false on a secure stack: what no ACL allows is denied",
}
"""Server properties the template sets itself, each with the stack.toml key that controls it."""

TEMPLATE_DEFAULT_PROPERTIES: Final[dict[str, str]] = {
    "auto.create.topics.enable": "false",
}
"""Server properties the template sets unless ``[cluster.broker_config]`` sets them.

Topics are code, so auto-creation is off by default; an application under test that relies
on it may turn it on (with ``num.partitions`` and ``default.replication.factor``).
"""

KRAFT_DEFAULT_PROPERTIES: Final[dict[str, str]] = {
    "group.consumer.heartbeat.interval.ms": "1000",
    "group.consumer.min.heartbeat.interval.ms": "1000",
    "group.consumer.min.session.timeout.ms": "6000",
    "group.consumer.session.timeout.ms": "6000",
}
"""Defaults of KRaft stacks, also overridable: members of KIP-848's group protocol
(``group.protocol=consumer``) take their session timeout and heartbeat from the brokers, and
6 s and 1 s (Kafka's defaults: 45 s and 5 s) replace a member that died within seconds, as
classic members of the harness ask for themselves."""

AUTO_CREATE_PROPERTY: Final = "auto.create.topics.enable"
"""The server property that lets clients create topics by naming them."""

LAUNCHER_VARIABLES: Final = frozenset({"KAFKA_HEAP_OPTS"})
"""``KAFKA_*`` variables the template sets that the images read as JVM settings, not properties."""


def is_launcher_setting(name: str) -> bool:
    """Whether ``KAFKA_<name>`` is read by the images as a JVM/launcher variable."""
    return (
        name.endswith(".opts")
        or name.split(".", 1)[0] in {"log4j", "jmx", "tools"}
        or name in {"version", "home", "debug"}
    )


# ---- labels: how kafkarig finds its stacks on a Docker engine -----------------------------
PROJECT_LABEL: Final = "dev.kafkarig.project"
"""On every container, network and volume of a kafkarig stack: its project."""
STACK_FILE_LABEL: Final = "dev.kafkarig.stack-file"
"""On every container, network and volume: the stack file it was started from (absolute)."""
CONFIG_HASH_LABEL: Final = "dev.kafkarig.config-hash"
"""On every container: the hash of the rendered compose file it was started from."""
COMPOSE_PROJECT_LABEL: Final = "com.docker.compose.project"
COMPOSE_SERVICE_LABEL: Final = "com.docker.compose.service"
COMPOSE_FILES_LABEL: Final = "com.docker.compose.project.config_files"
