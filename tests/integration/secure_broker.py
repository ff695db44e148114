"""A broker whose host listener is SASL_SSL (SCRAM-SHA-512, PEM files from :mod:`infra.tls`),
started with plain ``docker run``, in KRaft mode (Kafka 4.4) or ZooKeeper mode (Kafka 3.9).

The broker-to-broker and controller listeners stay PLAINTEXT inside Docker; their
principal, ``ANONYMOUS``, is a super user (the authorizer needs that for the controller and
inter-broker traffic), so anything inside the Docker network is trusted. The first SCRAM
credential (``admin``, a super user) is written before the broker starts: by
``kafka-storage format --add-scram`` in KRaft mode (KIP-900), by ``kafka-configs
--zookeeper`` in ZooKeeper mode. Every other credential and every ACL is created through
the AdminClient as ``admin``, over SASL_SSL.
"""

from __future__ import annotations

import stat
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

import confluent_kafka
from confluent_kafka.admin import (
    AclBinding,
    AclOperation,
    AclPermissionType,
    AdminClient,
    NewTopic,
    ResourcePatternType,
    ResourceType,
    ScramCredentialInfo,
    ScramMechanism,
    UserScramCredentialUpsertion,
)
from python_on_whales import DockerClient

from harness import admin as admin_ops
from harness import kcat
from harness.client_config import parse_client_config
from infra.certificates import BrokerIdentity
from infra.client_config import ClientSettings, render_client_config, write_private
from infra.tls import TlsFiles, ensure_tls
from tests.integration.conftest import (
    KAFKA_3_IMAGE,
    KAFKA_4_IMAGE,
    TEST_CLUSTER_ID,
    ZOOKEEPER_IMAGE,
)

TLS_MOUNT: Final = "/etc/kafka/tls"
DATA_MOUNT: Final = "/var/lib/kafka/data"
MECHANISM: Final = "SCRAM-SHA-512"
PASSWORDS: Final = {"admin": "admin-secret", "app": "app s3cret=1", "stranger": "stranger-secret"}
SEED_TOPIC: Final = "user-events"
SCRATCH_PREFIX: Final = "kafkarig-smoke-"
MODES: Final = ("kraft", "zookeeper")


def secure_listener_env(name: str, port: int) -> dict[str, str]:
    """What both modes share: the SASL_SSL host listener, SCRAM, the PEM stores, ACLs."""
    return {
        "KAFKA_ADVERTISED_LISTENERS": f"INTERNAL://{name}:19092,HOST://localhost:{port}",
        "KAFKA_INTER_BROKER_LISTENER_NAME": "INTERNAL",
        "KAFKA_SASL_ENABLED_MECHANISMS": MECHANISM,
        "KAFKA_LISTENER_NAME_HOST_SCRAM___SHA___512_SASL_JAAS_CONFIG": (
            "org.apache.kafka.common.security.scram.ScramLoginModule required;"
        ),
        "KAFKA_SSL_KEYSTORE_TYPE": "PEM",
        "KAFKA_SSL_KEYSTORE_LOCATION": f"{TLS_MOUNT}/{name}.keystore.pem",
        "KAFKA_SSL_TRUSTSTORE_TYPE": "PEM",
        "KAFKA_SSL_TRUSTSTORE_LOCATION": f"{TLS_MOUNT}/ca.pem",
        "KAFKA_SUPER_USERS": "User:admin;User:ANONYMOUS",
        "KAFKA_ALLOW_EVERYONE_IF_NO_ACL_FOUND": "false",
        "KAFKA_OFFSETS_TOPIC_REPLICATION_FACTOR": "1",
        "KAFKA_GROUP_INITIAL_REBALANCE_DELAY_MS": "0",
        "KAFKA_HEAP_OPTS": "-Xmx384m -Xms384m",
    }


def kraft_secure_env(name: str, port: int) -> dict[str, str]:
    """One combined KRaft node (Kafka 4.x) with the StandardAuthorizer."""
    return {
        **secure_listener_env(name, port),
        "KAFKA_NODE_ID": "1",
        "KAFKA_PROCESS_ROLES": "broker,controller",
        "KAFKA_CONTROLLER_QUORUM_VOTERS": f"1@{name}:19093",
        "KAFKA_CONTROLLER_LISTENER_NAMES": "CONTROLLER",
        "KAFKA_LISTENERS": (
            f"INTERNAL://0.0.0.0:19092,HOST://0.0.0.0:{port},CONTROLLER://0.0.0.0:19093"
        ),
        "KAFKA_LISTENER_SECURITY_PROTOCOL_MAP": (
            "CONTROLLER:PLAINTEXT,INTERNAL:PLAINTEXT,HOST:SASL_SSL"
        ),
        "KAFKA_AUTHORIZER_CLASS_NAME": "org.apache.kafka.metadata.authorizer.StandardAuthorizer",
        "CLUSTER_ID": TEST_CLUSTER_ID,
    }


def zookeeper_secure_env(name: str, port: int, zookeeper: str) -> dict[str, str]:
    """One ZooKeeper-mode broker (Kafka 3.9) with the AclAuthorizer (ACLs kept in ZooKeeper)."""
    return {
        **secure_listener_env(name, port),
        "KAFKA_BROKER_ID": "1",
        "KAFKA_ZOOKEEPER_CONNECT": f"{zookeeper}:2181",
        "KAFKA_LISTENERS": f"INTERNAL://0.0.0.0:19092,HOST://0.0.0.0:{port}",
        "KAFKA_LISTENER_SECURITY_PROTOCOL_MAP": "INTERNAL:PLAINTEXT,HOST:SASL_SSL",
        "KAFKA_AUTHORIZER_CLASS_NAME": "kafka.security.authorizer.AclAuthorizer",
    }


@dataclass(frozen=True)
class SecureBroker:
    """The running broker: its mode, host address, TLS files and client configs."""

    mode: str
    name: str
    port: int
    tls: TlsFiles
    config_dir: Path

    @property
    def bootstrap(self) -> str:
        """The SASL_SSL host listener."""
        return f"localhost:{self.port}"

    def settings(self, user: str, password: str | None = None) -> ClientSettings:
        """Client settings for ``user`` (its real password unless one is given)."""
        return ClientSettings(
            bootstrap=self.bootstrap,
            protocol="sasl_ssl",
            mechanism=MECHANISM,
            user=user,
            password=PASSWORDS[user] if password is None else password,
            ca_path=self.tls.ca_cert,
        )

    def config(self, user: str, password: str | None = None) -> dict[str, str]:
        """librdkafka properties for ``user``: rendered by kafkarig, parsed by the harness."""
        text = render_client_config(self.settings(user, password), "librdkafka")
        return parse_client_config(text).client_properties()

    def config_file(self, user: str, fmt: str = "librdkafka") -> Path:
        """The client config of ``user`` in ``fmt`` as a file (0600)."""
        path = self.config_dir / f"{user}.{fmt}.properties"
        return write_private(path, render_client_config(self.settings(user), fmt))


def _copy_tls_into(docker: DockerClient, image: str, source: Path, volume: str) -> None:
    """Copy the TLS files into a volume owned by the broker's user (uid 1000), keys 0600:
    a bind-mounted 0600 key owned by the host user could not be read by the broker."""
    docker.run(
        image,
        ["sh", "-c", "cp /src/* /tls/ && chown -R 1000:1000 /tls && chmod 600 /tls/*.keystore.pem"],
        remove=True,
        user="0",
        volumes=[(str(source), "/src", "ro"), (volume, "/tls")],
    )


def _admin_credential_kraft(
    docker: DockerClient, env: Mapping[str, str], volumes: list[Any]
) -> None:
    scram = f"{MECHANISM}=[name=admin,password={PASSWORDS['admin']}]"
    script = (
        "kafka-entrypoint print-properties > /tmp/server.properties && "
        'kafka-storage format -t "$CLUSTER_ID" -c /tmp/server.properties --add-scram "$0"'
    )
    docker.run(
        KAFKA_4_IMAGE, ["bash", "-c", script, scram], remove=True, envs=dict(env), volumes=volumes
    )


def _admin_credential_zookeeper(docker: DockerClient, network: str, zookeeper: str) -> None:
    config = f"{MECHANISM}=[iterations=8192,password={PASSWORDS['admin']}]"
    docker.run(
        KAFKA_3_IMAGE,
        ["kafka-configs", "--zookeeper", f"{zookeeper}:2181", "--alter", "--add-config", config,
         "--entity-type", "users", "--entity-name", "admin"],
        remove=True,
        networks=[network],
    )  # fmt: skip


def _allow(
    principal: str, kind: ResourceType, name: str, op: AclOperation, *, prefix: bool = False
) -> AclBinding:
    pattern = ResourcePatternType.PREFIXED if prefix else ResourcePatternType.LITERAL
    return AclBinding(kind, name, pattern, f"User:{principal}", "*", op, AclPermissionType.ALLOW)


def create_users_acls_and_topic(admin: AdminClient) -> None:
    """SCRAM credentials for app and stranger; ACLs for app only; the seed's topic and its
    DLQ (the retrying consumer refuses to start without its DLQ)."""
    upserts = [
        UserScramCredentialUpsertion(
            user, ScramCredentialInfo(ScramMechanism.SCRAM_SHA_512, 8192), PASSWORDS[user].encode()
        )
        for user in ("app", "stranger")
    ]
    for future in admin.alter_user_scram_credentials(upserts).values():
        future.result(timeout=30)
    topic, group = ResourceType.TOPIC, ResourceType.GROUP
    acls = [
        _allow("app", topic, name, op)
        for name in (SEED_TOPIC, f"{SEED_TOPIC}-dlq")
        for op in (AclOperation.READ, AclOperation.WRITE, AclOperation.DESCRIBE)
    ]
    acls.append(_allow("app", group, "app-", AclOperation.READ, prefix=True))
    # The smoke suite makes, uses and deletes its scratch topics and groups.
    acls.append(_allow("app", topic, SCRATCH_PREFIX, AclOperation.ALL, prefix=True))
    acls.append(_allow("app", group, SCRATCH_PREFIX, AclOperation.ALL, prefix=True))
    for future in admin.create_acls(acls, request_timeout=30).values():
        future.result(timeout=30)
    topics = [NewTopic(SEED_TOPIC, 3, 1), NewTopic(f"{SEED_TOPIC}-dlq", 3, 1)]
    for future in admin.create_topics(topics, request_timeout=30).values():
        future.result(timeout=30)


@contextmanager
def secure_broker(
    docker: DockerClient, mode: str, root: Path, suffix: str, port: int
) -> Iterator[SecureBroker]:
    """Start the broker (and its ZooKeeper), create the users and ACLs; remove it all after."""
    name, network = f"secure-kafka-{suffix}", f"secure-{suffix}"
    tls = ensure_tls(root / "tls", [BrokerIdentity(name, ("localhost", name))])
    broker = SecureBroker(mode, name, port, tls, root / "clients")
    # The admin's Java config, for Kafka's tools inside the container.
    inside = ClientSettings(
        broker.bootstrap, "sasl_ssl", MECHANISM, "admin", PASSWORDS["admin"],
        ca_path=Path(TLS_MOUNT) / "ca.pem",
    )  # fmt: skip
    write_private(tls.directory / "admin.properties", render_client_config(inside, "java"))
    image = KAFKA_4_IMAGE if mode == "kraft" else KAFKA_3_IMAGE
    tls_volume, data_volume = f"tls-{suffix}", f"data-{suffix}"
    volumes = [(tls_volume, TLS_MOUNT), (data_volume, DATA_MOUNT)]
    containers = [name, f"zk-{suffix}"]
    docker.network.create(network)
    try:
        _copy_tls_into(docker, image, tls.directory, tls_volume)
        if mode == "kraft":
            env = kraft_secure_env(name, port)
            _admin_credential_kraft(docker, env, volumes)
        else:
            docker.run(
                ZOOKEEPER_IMAGE, detach=True, name=containers[1], hostname=containers[1],
                envs={"ZOOKEEPER_CLIENT_PORT": "2181"}, networks=[network],
            )  # fmt: skip
            env = zookeeper_secure_env(name, port, containers[1])
            _admin_credential_zookeeper(docker, network, containers[1])
        docker.run(
            image, detach=True, name=name, hostname=name, envs=env, networks=[network],
            publish=[(f"127.0.0.1:{port}", port)], volumes=volumes,
        )  # fmt: skip
        admin_config = broker.config("admin")
        admin_ops.wait_for_cluster(broker.bootstrap, admin_config, timeout_s=120)
        create_users_acls_and_topic(admin_ops.admin_client(broker.bootstrap, admin_config))
        admin_ops.wait_for_cluster(broker.bootstrap, broker.config("app"), timeout_s=30)
        yield broker
    finally:
        for container in containers:
            if docker.container.exists(container):
                docker.container.remove(container, force=True, volumes=True)
        for volume in (tls_volume, data_volume):
            if docker.volume.exists(volume):
                docker.volume.remove(volume)
        docker.network.remove(network)


def kcat_with_scram_for_kafka_4(directory: Path) -> str:
    """A kcat that can log in with SCRAM to Kafka 4.x: the one on PATH if its librdkafka is
    2.6.1 or newer, else that same kcat run with the newer librdkafka confluent-kafka ships
    (a wrapper script). Raises AssertionError when neither is possible."""
    system = kcat.find_kcat()
    version = kcat.librdkafka_version(system)
    if version is not None and version >= kcat.SCRAM_FIXED_IN:
        return system
    libs = Path(confluent_kafka.__file__).parent.parent / "confluent_kafka.libs"
    bundled = sorted(libs.glob("librdkafka-*.so.1"))
    assert bundled, f"kcat runs librdkafka {version} and confluent-kafka ships none in {libs}"
    directory.mkdir(parents=True, exist_ok=True)
    link = directory / "librdkafka.so.1"
    if not link.exists():
        link.symlink_to(bundled[0])
    wrapper = directory / "kcat"
    wrapper.write_text(f'#!/bin/sh\nLD_LIBRARY_PATH={directory} exec {system} "$@"\n')
    wrapper.chmod(wrapper.stat().st_mode | stat.S_IXUSR)
    found = kcat.librdkafka_version(str(wrapper))
    assert found is not None and found >= kcat.SCRAM_FIXED_IN, f"{wrapper} runs librdkafka {found}"
    return str(wrapper)
