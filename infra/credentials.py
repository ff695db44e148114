"""The credentials of a secure stack on this machine: passwords, certificates, client settings.

Everything lives under ``.kafkarig/<project>/`` next to the stack file:

``admin.password`` (0600)
    kafkarig's admin password, generated on first need, unless ``[[users]]`` declares the
    admin user with a password.
``tls/``
    The CA and the brokers' PEM keystores (:mod:`infra.tls`), and with client
    certificates ``tls/clients/<user>.keystore.pem``.

:func:`client_settings` says what a client of one user needs (host or inside a broker
container); :func:`admin_client_config` is the admin's librdkafka properties that ``up``,
``plan`` and ``status`` use for every AdminClient (empty on a plaintext stack).
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Mapping
from pathlib import Path
from typing import Final

from infra.certificates import BrokerIdentity
from infra.client_config import ClientSettings, librdkafka_properties, write_private
from infra.config import STATE_DIR_NAME, Broker, Stack, UserSpec
from infra.config.secure_compose import TLS_DIR, keystore_path
from infra.errors import KafkarigError
from infra.tls import CA_CERT_FILE, CLIENTS_DIR, TlsFiles, UserCa, ensure_tls

ADMIN_PASSWORD_FILE: Final = "admin.password"
TLS_DIR_NAME: Final = "tls"
_GENERATED_PASSWORD_BYTES: Final = 24  # token_urlsafe: letters, digits, '-' and '_'


class CredentialError(KafkarigError):
    """A password or certificate a secure stack needs is missing or cannot be made."""


def stack_root(stack: Stack) -> Path:
    """The folder the stack's ``.kafkarig/`` lives in: its file's folder (else the cwd)."""
    return stack.source_file.parent if stack.source_file is not None else Path.cwd()


def state_dir(stack: Stack, root: Path | None = None) -> Path:
    """``<root>/.kafkarig/<project>``."""
    return (root or stack_root(stack)) / STATE_DIR_NAME / stack.project


def tls_dir(stack: Stack, root: Path | None = None) -> Path:
    """``<root>/.kafkarig/<project>/tls``."""
    return state_dir(stack, root) / TLS_DIR_NAME


def declared_user(stack: Stack, name: str) -> UserSpec | None:
    """The ``[[users]]`` entry of ``name``, if declared."""
    return next((user for user in stack.users if user.name == name), None)


def login_users(stack: Stack) -> list[str]:
    """Every user who can log in: the admin first, then the declared users."""
    admin = stack.security.admin_user
    return [admin, *(user.name for user in stack.users if user.name != admin)]


def user_password(stack: Stack, name: str, env: Mapping[str, str] | None = None) -> str:
    """The declared password of ``name`` (from the file or its ``password_env``)."""
    user = declared_user(stack, name)
    if user is None:
        known = ", ".join(login_users(stack))
        raise CredentialError(
            f"stack {stack.project} has no user {name!r} (users: {known})",
            hint="declare it in [[users]] of the stack file",
        )
    if user.password is not None:
        return user.password
    variables = os.environ if env is None else env
    value = variables.get(user.password_env or "")
    if not value:
        raise CredentialError(
            f"user {name}'s password is read from the environment variable "
            f"{user.password_env}, which is not set",
            hint=f"export {user.password_env}=... before running kafkarig (or write "
            "password = ... in [[users]] for a throwaway stack)",
        )
    return value


def admin_password(
    stack: Stack, root: Path | None = None, *, env: Mapping[str, str] | None = None
) -> str:
    """kafkarig's admin password: declared in ``[[users]]``, else the generated one kept in
    ``.kafkarig/<project>/admin.password`` (made, mode 0600, on first need)."""
    admin = declared_user(stack, stack.security.admin_user)
    if admin is not None and admin.has_password:
        return user_password(stack, admin.name, env)
    path = state_dir(stack, root) / ADMIN_PASSWORD_FILE
    try:
        password = path.read_text(encoding="utf-8").strip()
    except FileNotFoundError:
        password = ""
    except OSError as error:
        raise CredentialError(f"cannot read {path}: {error}") from error
    if not password:
        password = secrets.token_urlsafe(_GENERATED_PASSWORD_BYTES)
        try:
            write_private(path, password + "\n")
        except KafkarigError as error:
            raise CredentialError(f"cannot keep the admin password: {error.message}") from error
    elif path.stat().st_mode & 0o077:
        path.chmod(0o600)
    return password


def password_of(
    stack: Stack, name: str, root: Path | None = None, env: Mapping[str, str] | None = None
) -> str:
    """The password of any user who logs in with SASL, the admin included."""
    if name == stack.security.admin_user:
        return admin_password(stack, root, env=env)
    return user_password(stack, name, env)


# --------------------------------------------------------------------------- certificates


def broker_identities(stack: Stack) -> list[BrokerIdentity]:
    """Each broker's certificate names: the advertised host, the container name (for
    clients on the compose network) and ``localhost`` (tools inside the container)."""
    return [
        BrokerIdentity(
            broker.service,
            tuple(dict.fromkeys((broker.advertised_host, broker.service, "localhost"))),
        )
        for broker in stack.brokers
    ]


def ensure_tls_files(stack: Stack, root: Path | None = None) -> TlsFiles | None:
    """Make or reuse the stack's CA and certificates; None when it uses no TLS."""
    security = stack.security
    if not security.uses_tls:
        return None
    user_ca = None
    if security.ca_cert is not None and security.ca_key is not None:
        base = root or stack_root(stack)
        user_ca = UserCa(base / security.ca_cert, base / security.ca_key)
    clients = login_users(stack) if security.client_certificates else []
    return ensure_tls(
        tls_dir(stack, root), broker_identities(stack), user_ca=user_ca, clients=clients
    )


# --------------------------------------------------------------------------- clients


def client_settings(
    stack: Stack,
    user: str | None = None,
    root: Path | None = None,
    *,
    inside: Broker | None = None,
    env: Mapping[str, str] | None = None,
) -> ClientSettings:
    """What a client of ``user`` (default: the admin) needs: on the host, or with
    ``inside``, in that broker's container (its host listener on ``localhost``)."""
    security = stack.security
    name = user or security.admin_user
    if not security.enabled:
        return ClientSettings(stack.bootstrap_servers)
    if security.authenticates and name not in login_users(stack):
        user_password(stack, name)  # raises: no such user
    bootstrap = f"localhost:{inside.host_port}" if inside else stack.bootstrap_servers
    directory = Path(TLS_DIR) if inside else tls_dir(stack, root)
    keystore = None
    if security.client_certificates:
        keystore = (
            Path(keystore_path(name))
            if inside
            else directory / CLIENTS_DIR / f"{name}.keystore.pem"
        )
    return ClientSettings(
        bootstrap=bootstrap,
        protocol=security.protocol,
        mechanism=security.sasl_mechanism,
        user=name if security.uses_sasl else None,
        password=password_of(stack, name, root, env) if security.uses_sasl else None,
        ca_path=directory / CA_CERT_FILE if security.uses_tls else None,
        client_keystore=keystore,
    )


def admin_client_config(stack: Stack, root: Path | None = None) -> dict[str, str]:
    """The admin's librdkafka properties (without ``bootstrap.servers``) for every
    AdminClient kafkarig opens on the stack; empty for a plaintext host listener."""
    if not stack.security.enabled:
        return {}
    properties = librdkafka_properties(client_settings(stack, root=root))
    properties.pop("bootstrap.servers", None)
    return properties
