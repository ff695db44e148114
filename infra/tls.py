"""TLS without ceremony: a CA and one certificate per broker, as PEM files Kafka reads.

:func:`ensure_tls` keeps a directory (the stack uses ``.kafkarig/<project>/tls/``) holding:

``ca.pem``
    The CA certificate every client and broker trusts (``ssl.truststore.type=PEM``,
    librdkafka's ``ssl.ca.location``). kafkarig's own CA, or a copy of the user's.
``ca-key.pem`` (0600)
    The private key of kafkarig's own CA; absent when the user brings a CA.
``<broker>.keystore.pem`` (0600)
    The broker's unencrypted PKCS#8 private key, its certificate and the CA certificate, in
    one file: ``ssl.keystore.type=PEM`` with ``ssl.keystore.location`` pointing at it.
``<broker>.pem``
    The broker's certificate and the CA certificate (public; for inspection).
``clients/<user>.keystore.pem`` (0600)
    With client certificates: a user's key, its certificate (subject ``CN=<user>``) and the
    CA certificate, for librdkafka's ``ssl.key.location`` and ``ssl.certificate.location``.

Files are reused across runs. A broker certificate is issued again when it is missing,
unreadable, not signed by the current CA, near its expiry, or its host names (SANs: the
advertised host and the container names) differ from the ones asked for; kafkarig's own
CA is made again (and every broker certificate with it) when it is near its expiry. A
user's CA is never changed: a broker certificate never outlives it, and an expired user CA
is an error.
"""

from __future__ import annotations

import contextlib
import os
import secrets
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Final

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.types import CertificateIssuerPrivateKeyTypes

from infra.certificates import (
    ISSUER_KEY_TYPES,
    RENEW_BEFORE,
    BrokerIdentity,
    TlsError,
    broker_cert_problem,
    cert_pem,
    client_cert_problem,
    expiry_problem,
    key_pem,
    make_broker_cert,
    make_ca,
    make_client_cert,
)

__all__ = ["BrokerIdentity", "TlsError", "TlsFiles", "UserCa", "ensure_tls"]

CA_CERT_FILE: Final = "ca.pem"
CA_KEY_FILE: Final = "ca-key.pem"
CLIENTS_DIR: Final = "clients"
KEY_MODE: Final = 0o600


@dataclass(frozen=True)
class UserCa:
    """A CA the user brings: its certificate and private key (PEM, key unencrypted)."""

    cert: Path
    key: Path


@dataclass(frozen=True)
class TlsFiles:
    """The PEM files of a stack, and what :func:`ensure_tls` did (one phrase per change)."""

    directory: Path
    ca_cert: Path
    keystores: dict[str, Path]
    changes: tuple[str, ...] = ()
    clients: dict[str, Path] = field(default_factory=dict)
    """Each client certificate user's PEM keystore (key, certificate, CA)."""


# -- files -----------------------------------------------------------------------------------


def _write(path: Path, data: bytes, mode: int = 0o644) -> None:
    """Write atomically: a temporary file with ``mode`` from the start, then a rename."""
    temporary = path.with_name(f".{path.name}.{secrets.token_hex(4)}.tmp")
    try:
        descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, mode)
        with os.fdopen(descriptor, "wb") as file:
            file.write(data)
        os.chmod(temporary, mode)  # the umask may have narrowed or widened it
        os.replace(temporary, path)
    except OSError as error:
        with contextlib.suppress(OSError):
            temporary.unlink()
        raise TlsError(f"cannot write {path}: {error}") from error


def _read_cert(path: Path) -> x509.Certificate | None:
    try:
        return x509.load_pem_x509_certificate(path.read_bytes())
    except (OSError, ValueError):
        return None


def _read_key(path: Path) -> CertificateIssuerPrivateKeyTypes | None:
    try:
        key = serialization.load_pem_private_key(path.read_bytes(), password=None)
    except (OSError, ValueError, TypeError):
        return None
    return key if isinstance(key, ISSUER_KEY_TYPES) else None


def _keystore(path: Path) -> tuple[x509.Certificate, CertificateIssuerPrivateKeyTypes] | None:
    """The leaf certificate and key of a keystore file, if it is whole and they match."""
    try:
        data = path.read_bytes()
        certs = x509.load_pem_x509_certificates(data)
        key = serialization.load_pem_private_key(data, password=None)
    except (OSError, ValueError, TypeError):
        return None
    if not certs or not isinstance(key, ISSUER_KEY_TYPES):
        return None
    if certs[0].public_key() != key.public_key():
        return None
    return certs[0], key


# -- the directory ---------------------------------------------------------------------------


@dataclass
class _Plan:
    """The CA to sign with, and what changed on the way (for the report)."""

    cert: x509.Certificate
    key: CertificateIssuerPrivateKeyTypes
    changes: list[str] = field(default_factory=list)


def _user_ca(directory: Path, user_ca: UserCa, now: datetime) -> _Plan:
    cert, key = _read_cert(user_ca.cert), _read_key(user_ca.key)
    if cert is None:
        raise TlsError(
            f"the CA certificate {user_ca.cert} is missing or not a PEM certificate",
            hint="give the CA's certificate as a PEM file (-----BEGIN CERTIFICATE-----)",
        )
    if key is None:
        raise TlsError(
            f"the CA key {user_ca.key} is missing, encrypted or not a PEM private key",
            hint="give the CA's private key as an unencrypted PEM file",
        )
    if cert.public_key() != key.public_key():
        raise TlsError(f"the CA key {user_ca.key} does not belong to {user_ca.cert}")
    if now >= cert.not_valid_after_utc:
        raise TlsError(
            f"the CA {user_ca.cert} expired on {cert.not_valid_after_utc:%Y-%m-%d}",
            hint="renew your CA, or drop it to let kafkarig make its own",
        )
    plan = _Plan(cert, key)
    if _read_cert(directory / CA_CERT_FILE) != cert:
        _write(directory / CA_CERT_FILE, cert_pem(cert))
        plan.changes.append(f"{CA_CERT_FILE}: copied from {user_ca.cert}")
    own_key = directory / CA_KEY_FILE
    if own_key.exists():
        own_key.unlink()  # an earlier own CA's key; the user's CA signs from now on
        plan.changes.append(f"{CA_KEY_FILE}: removed (the user's CA is used)")
    return plan


def _own_ca(directory: Path, now: datetime, renew_before: timedelta) -> _Plan:
    cert, key = _read_cert(directory / CA_CERT_FILE), _read_key(directory / CA_KEY_FILE)
    if cert is None or key is None:
        why = "created"
    elif cert.public_key() != key.public_key():
        why = "made again: its key does not match"
    elif (problem := expiry_problem(cert, now, renew_before)) is not None:
        why = f"made again: {problem}"
    else:
        os.chmod(directory / CA_KEY_FILE, KEY_MODE)
        return _Plan(cert, key)
    cert, key = make_ca(now)
    _write(directory / CA_KEY_FILE, key_pem(key), KEY_MODE)
    _write(directory / CA_CERT_FILE, cert_pem(cert))
    return _Plan(cert, key, [f"CA {why}"])


def ensure_tls(
    directory: Path,
    brokers: Sequence[BrokerIdentity],
    *,
    user_ca: UserCa | None = None,
    clients: Sequence[str] = (),
    now: datetime | None = None,
    renew_before: timedelta = RENEW_BEFORE,
) -> TlsFiles:
    """Make or reuse the CA, every broker's certificate and every client's (``clients``:
    user names) in ``directory`` (module doc).

    Raises :class:`TlsError` for a bad user CA or a directory that cannot be written.
    """
    moment = (now or datetime.now(UTC)).astimezone(UTC)
    names = [broker.name for broker in brokers]
    if len(set(names)) != len(names):
        raise TlsError(f"broker names must be unique, got {names}")
    try:
        directory.mkdir(parents=True, exist_ok=True)
        os.chmod(directory, 0o700)
    except OSError as error:
        raise TlsError(f"cannot create the TLS directory {directory}: {error}") from error
    plan = (
        _user_ca(directory, user_ca, moment)
        if user_ca
        else _own_ca(directory, moment, renew_before)
    )
    keystores: dict[str, Path] = {}
    for broker in brokers:
        keystore = directory / f"{broker.name}.keystore.pem"
        keystores[broker.name] = keystore
        found = _keystore(keystore)
        problem = (
            "created"
            if found is None
            else broker_cert_problem(
                found[0], hosts=broker.hosts, ca=plan.cert, now=moment, renew_before=renew_before
            )
        )
        if problem is None:
            os.chmod(keystore, KEY_MODE)
            continue
        cert, key = make_broker_cert(broker, plan.cert, plan.key, moment)
        _write(keystore, key_pem(key) + cert_pem(cert) + cert_pem(plan.cert), KEY_MODE)
        _write(directory / f"{broker.name}.pem", cert_pem(cert) + cert_pem(plan.cert))
        plan.changes.append(f"{broker.name}: certificate issued ({problem})")
    client_keystores = _ensure_clients(directory / CLIENTS_DIR, clients, plan, moment, renew_before)
    return TlsFiles(
        directory, directory / CA_CERT_FILE, keystores, tuple(plan.changes), client_keystores
    )


def _ensure_clients(
    directory: Path, names: Sequence[str], plan: _Plan, now: datetime, renew_before: timedelta
) -> dict[str, Path]:
    """Make or reuse a client certificate per user name (signed by the plan's CA)."""
    if len(set(names)) != len(names):
        raise TlsError(f"client names must be unique, got {list(names)}")
    if names:
        try:
            directory.mkdir(exist_ok=True)
            os.chmod(directory, 0o700)
        except OSError as error:
            raise TlsError(f"cannot create the directory {directory}: {error}") from error
    keystores: dict[str, Path] = {}
    for name in names:
        keystore = keystores[name] = directory / f"{name}.keystore.pem"
        found = _keystore(keystore)
        problem = (
            "created"
            if found is None
            else client_cert_problem(
                found[0], name=name, ca=plan.cert, now=now, renew_before=renew_before
            )
        )
        if problem is None:
            os.chmod(keystore, KEY_MODE)
            continue
        cert, key = make_client_cert(name, plan.cert, plan.key, now)
        _write(keystore, key_pem(key) + cert_pem(cert) + cert_pem(plan.cert), KEY_MODE)
        plan.changes.append(f"client {name}: certificate issued ({problem})")
    return keystores
