"""Getting a secure stack's files into its broker containers, and its admin's first login.

The broker runs as uid 1000 and cannot read a 0600 key owned by the host user through a
bind mount. So ``up`` creates the containers, copies the files into each one as a tar
stream owned by uid 1000 (``docker cp -``; keys 0600), and only then starts them:

``/etc/kafka/tls/ca.pem``, ``/etc/kafka/tls/<broker>.keystore.pem``
    The CA and the broker's PEM keystore (with TLS).
``/etc/kafka/admin.properties``
    The admin's Java client config for Kafka's tools in the container:
    ``docker exec kafka kafka-topics --bootstrap-server localhost:9092 --command-config
    /etc/kafka/admin.properties --list``.
``/etc/kafka/admin-scram.properties``
    The admin's SCRAM credential (with SASL), for :func:`ensure_admin_login`.

SCRAM credentials live in the cluster, and creating one needs a login, except on the
plaintext INTERNAL listener, whose principal (ANONYMOUS) is a super user. So the admin's
first credential is written with ``kafka-configs`` run in a broker container against that
listener; every other user and ACL is made through the AdminClient, logged in as the admin.
This works alike in KRaft and ZooKeeper mode and on every image flavor, and it repairs an
admin password that changed while the cluster kept its data.
"""

from __future__ import annotations

import io
import subprocess
import tarfile
from collections.abc import Iterator
from pathlib import Path
from typing import Final

from confluent_kafka import KafkaError
from python_on_whales import DockerClient
from python_on_whales.exceptions import DockerException

from infra.client_config import java_escape, render_client_config
from infra.config import INTERNAL_PORT, Broker, Stack
from infra.config.secure_compose import (
    ADMIN_PROPERTIES,
    ADMIN_SCRAM_PROPERTIES,
    BROKER_UID,
    CONTAINER_CONFIG_DIR,
    TLS_DIR,
    keystore_path,
)
from infra.console import step
from infra.credentials import (
    admin_client_config,
    admin_password,
    client_settings,
    ensure_tls_files,
)
from infra.docker import docker_client, docker_failure
from infra.errors import CommandError, KafkarigError, StackError
from infra.readiness import WaitFor, login_errors
from infra.state import StackState
from infra.tls import TlsFiles

SCRAM_ITERATIONS: Final = 8192
#: The tool runs inside a broker container whose KAFKA_HEAP_OPTS is the broker's heap.
TOOL_HEAP: Final = "-Xmx128m"
FIRST_ANSWER_TIMEOUT_S: Final = 30.0
_REFUSALS: Final = frozenset({KafkaError._AUTHENTICATION, KafkaError._SSL})
_PARENT: Final = str(Path(CONTAINER_CONFIG_DIR).parent)  # the archive unpacks here: /etc


class SecretsError(KafkarigError):
    """The secure stack's files could not be copied in, or its admin could not log in."""


def _entries(
    stack: Stack, broker: Broker, tls: TlsFiles | None, root: Path
) -> Iterator[tuple[str, int, bytes | None]]:
    """(path in the container, mode, content; None for a directory) of one broker."""
    security = stack.security
    if tls is not None:
        yield TLS_DIR, 0o700, None
        yield f"{TLS_DIR}/ca.pem", 0o644, tls.ca_cert.read_bytes()
        yield keystore_path(broker.service), 0o600, tls.keystores[broker.service].read_bytes()
        admin_keystore = tls.clients.get(security.admin_user)
        if admin_keystore is not None:
            yield keystore_path(security.admin_user), 0o600, admin_keystore.read_bytes()
    inside = client_settings(stack, root=root, inside=broker)
    yield ADMIN_PROPERTIES, 0o600, render_client_config(inside, "java").encode("utf-8")
    if security.uses_sasl:
        credential = f"iterations={SCRAM_ITERATIONS},password={admin_password(stack, root)}"
        text = f"{security.sasl_mechanism}={java_escape(credential)}\n"
        yield ADMIN_SCRAM_PROPERTIES, 0o600, text.encode("utf-8")


def broker_archive(stack: Stack, broker: Broker, tls: TlsFiles | None, root: Path) -> bytes:
    """The tar stream ``docker cp -`` unpacks into ``/etc`` of one broker container: every
    entry owned by the broker's uid, keys 0600."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w", format=tarfile.PAX_FORMAT) as archive:
        for path, mode, content in _entries(stack, broker, tls, root):
            info = tarfile.TarInfo(str(Path(path).relative_to(_PARENT)))
            info.mode, info.uid, info.gid = mode, BROKER_UID, BROKER_UID
            if content is None:
                info.type = tarfile.DIRTYPE
                archive.addfile(info)
            else:
                info.size = len(content)
                archive.addfile(info, io.BytesIO(content))
    return buffer.getvalue()


def prepare(stack: Stack, root: Path) -> TlsFiles | None:
    """Make or reuse the certificates and the admin password (before anything starts);
    the TLS files, None without TLS."""
    if not stack.security.enabled:
        return None
    tls = ensure_tls_files(stack, root)
    if stack.security.uses_sasl:
        admin_password(stack, root)
    return tls


def renewed(tls: TlsFiles | None, before: StackState) -> bool:
    """Whether certificates were made again for brokers that run with the old ones (then
    ``up`` recreates them)."""
    return tls is not None and bool(tls.changes) and bool(before.services)


def create_and_deliver(
    client: DockerClient, stack: Stack, compose_file: Path, root: Path, tls: TlsFiles | None
) -> None:
    """On a secure stack, ``docker compose up --no-start`` (recreating the containers when
    certificates were made again), then each broker's files into its container; the
    ``up`` that follows starts them. Nothing on a plaintext stack."""
    if not stack.security.enabled:
        return
    if tls is not None and tls.changes:
        step(f"stack {stack.project}: {'; '.join(tls.changes)}")
    compose = docker_client(compose_file, stack.project)
    try:
        compose.compose.up(
            start=False,
            force_recreate=bool(tls and tls.changes),
            remove_orphans=True,
            pull="never",
            quiet=True,  # its output is in the error when it fails
        )
    except DockerException as error:
        raise StackError(
            f"`docker compose up --no-start` failed for stack {stack.project}.\n"
            + docker_failure(error),
            hint="fix what compose complains about in stack.toml, then run `kafkarig up` again.",
        ) from error
    deliver(client, stack, root, tls)


def refresh(client: DockerClient, stack: Stack, root: Path, tls: TlsFiles | None) -> None:
    """Copy the files into kept containers again: the admin's follow its password, which
    may have changed since they were created. Nothing on a plaintext stack."""
    if stack.security.enabled:
        deliver(client, stack, root, tls)


def deliver(client: DockerClient, stack: Stack, root: Path, tls: TlsFiles | None) -> None:
    """Copy each broker's files into its created (not yet started) container."""
    for broker in stack.brokers:
        command = [
            *map(str, client.client_config.docker_cmd),
            "cp",
            "-",
            f"{broker.service}:{_PARENT}",
        ]
        completed = subprocess.run(
            command,
            input=broker_archive(stack, broker, tls, root),
            capture_output=True,
            check=False,
        )
        if completed.returncode != 0:
            raise CommandError(
                f"could not copy the TLS files and the admin's client config into {broker.service}",
                command,
                completed.returncode,
                completed.stderr.decode("utf-8", "replace"),
                hint="`kafkarig up -v` shows compose's output; `docker ps -a` the containers.",
            )


def admin_login(client: DockerClient, stack: Stack, root: Path) -> dict[str, str]:
    """The admin's client config for every AdminClient of ``up`` (empty on a plaintext
    stack), once the admin can log in (see :func:`ensure_admin_login`)."""
    config = admin_client_config(stack, root)
    if ensure_admin_login(client, stack, root, config):
        step(
            f"stack {stack.project}: wrote the SCRAM credential of kafkarig's admin user "
            f"{stack.security.admin_user} (kafka-configs over the INTERNAL listener)"
        )
    return config


def _first_answer(
    bootstrap_servers: str, config: dict[str, str], timeout_s: float = FIRST_ANSWER_TIMEOUT_S
) -> list[KafkaError]:
    """The errors of a login once the host listener answers at all: none (logged in), or a
    refusal. A listener that still does not answer is left to the readiness wait."""
    try:
        return WaitFor(
            expected=f"an answer to a login on {bootstrap_servers}",
            probe=lambda: login_errors(bootstrap_servers, config),
            accept=lambda errors: not errors or any(e.code() in _REFUSALS for e in errors),
            timeout_s=timeout_s,
            not_ready=lambda error: False,
        ).wait()
    except StackError:
        return []


def _tool(stack: Stack, name: str) -> str:
    """A Kafka tool's command in the broker image of the stack's flavor."""
    return f"/opt/kafka/bin/{name}.sh" if stack.cluster.flavor == "apache" else name


def ensure_admin_login(
    client: DockerClient, stack: Stack, root: Path, admin_config: dict[str, str]
) -> bool:
    """Make sure the admin can log in with SASL: when the broker refuses its login, write
    its SCRAM credential over the INTERNAL listener (module doc). Returns whether it wrote.

    A broker that does not answer yet is left to the readiness wait that follows.
    """
    if not stack.security.uses_sasl:
        return False
    answer = _first_answer(stack.bootstrap_servers, admin_config)
    refused = [error for error in answer if error.code() == KafkaError._AUTHENTICATION]
    if not refused:
        return False
    broker = stack.brokers[0]
    command = [
        _tool(stack, "kafka-configs"), "--bootstrap-server", f"localhost:{INTERNAL_PORT}",
        "--alter", "--entity-type", "users", "--entity-name", stack.security.admin_user,
        "--add-config-file", ADMIN_SCRAM_PROPERTIES,
    ]  # fmt: skip
    try:
        client.container.execute(broker.service, command, envs={"KAFKA_HEAP_OPTS": TOOL_HEAP})
    except DockerException as error:
        raise SecretsError(
            f"could not write the SCRAM credential of kafkarig's admin user "
            f"{stack.security.admin_user} (the broker refused its login: "
            f"{refused[-1].str()}).\n{docker_failure(error)}",
            hint=f"`docker logs {broker.service}` shows the broker's side.",
        ) from error
    return True
