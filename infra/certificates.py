"""Certificates for kafkarig's TLS: a CA, broker certificates, and the checks that decide
whether an existing certificate can be reused (pure functions of certificates and a time).
"""

from __future__ import annotations

import contextlib
import ipaddress
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Final

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import dsa, ec, ed448, ed25519, rsa
from cryptography.hazmat.primitives.asymmetric.types import CertificateIssuerPrivateKeyTypes
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from infra.errors import KafkarigError

CA_VALIDITY: Final = timedelta(days=3650)
CERT_VALIDITY: Final = timedelta(days=397)
RENEW_BEFORE: Final = timedelta(days=30)
#: Certificates start a little in the past, so a clock a bit behind still accepts them.
CLOCK_SKEW: Final = timedelta(minutes=5)
CA_COMMON_NAME: Final = "kafkarig local CA"
#: Key types that can sign certificates (what a user's CA key may be).
ISSUER_KEY_TYPES: Final = (
    ec.EllipticCurvePrivateKey,
    rsa.RSAPrivateKey,
    dsa.DSAPrivateKey,
    ed25519.Ed25519PrivateKey,
    ed448.Ed448PrivateKey,
)


class TlsError(KafkarigError):
    """Certificates could not be made or read (a bad user CA, an unwritable directory)."""


@dataclass(frozen=True)
class BrokerIdentity:
    """A broker's certificate name (``kafka``, ``kafka-1``) and the host names (or IP
    addresses) clients use to reach it: its SANs."""

    name: str
    hosts: tuple[str, ...]


# -- pure checks -----------------------------------------------------------------------------


def san_names(cert: x509.Certificate) -> set[str]:
    """The DNS names and IP addresses in a certificate's subjectAltName, as text."""
    try:
        extension = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName)
    except x509.ExtensionNotFound:
        return set()
    names = set(extension.value.get_values_for_type(x509.DNSName))
    names |= {str(ip) for ip in extension.value.get_values_for_type(x509.IPAddress)}
    return names


def signed_by(cert: x509.Certificate, ca: x509.Certificate) -> bool:
    """Whether ``ca`` issued ``cert`` (names match and the signature verifies)."""
    if cert.issuer != ca.subject:
        return False
    try:
        cert.verify_directly_issued_by(ca)
    except (InvalidSignature, ValueError, TypeError):
        return False
    return True


def expiry_problem(cert: x509.Certificate, now: datetime, renew_before: timedelta) -> str | None:
    """Why ``cert`` must be replaced on time grounds, or ``None``."""
    if now < cert.not_valid_before_utc:
        return f"not valid before {cert.not_valid_before_utc:%Y-%m-%d %H:%M} UTC"
    if now + renew_before >= cert.not_valid_after_utc:
        return (
            f"expires {cert.not_valid_after_utc:%Y-%m-%d} (renewed {renew_before.days} days ahead)"
        )
    return None


def broker_cert_problem(
    cert: x509.Certificate,
    *,
    hosts: Sequence[str],
    ca: x509.Certificate,
    now: datetime,
    renew_before: timedelta = RENEW_BEFORE,
) -> str | None:
    """Why a broker certificate cannot be reused, or ``None`` when it can."""
    if not signed_by(cert, ca):
        return "not signed by the current CA"
    wanted, present = {_normal_host(h) for h in hosts}, san_names(cert)
    if present != wanted:
        return f"host names changed: {sorted(present)} -> {sorted(wanted)}"
    # A certificate capped at a user CA's expiry renews when that CA does, not before.
    ca_end = ca.not_valid_after_utc
    if cert.not_valid_after_utc >= ca_end and now + renew_before < ca_end:
        return None
    return expiry_problem(cert, now, renew_before)


def _normal_host(host: str) -> str:
    with contextlib.suppress(ValueError):
        return str(ipaddress.ip_address(host))
    return host.lower()


# -- making certificates ---------------------------------------------------------------------


def _new_key() -> ec.EllipticCurvePrivateKey:
    return ec.generate_private_key(ec.SECP256R1())


def make_ca(
    now: datetime, validity: timedelta = CA_VALIDITY
) -> tuple[x509.Certificate, ec.EllipticCurvePrivateKey]:
    """A new self-signed CA certificate and its key."""
    key = _new_key()
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, CA_COMMON_NAME)])
    public = key.public_key()
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(public)
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - CLOCK_SKEW)
        .not_valid_after(now + validity)
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(_signing_key_usage(certificate_authority=True), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(public), critical=False)
        .sign(key, hashes.SHA256())
    )
    return cert, key


def _signing_key_usage(*, certificate_authority: bool) -> x509.KeyUsage:
    """Signatures for every certificate; a CA also signs certificates and CRLs, and a leaf's
    EC key agrees TLS session keys."""
    return x509.KeyUsage(
        digital_signature=True,
        content_commitment=False,
        key_encipherment=False,
        data_encipherment=False,
        key_agreement=not certificate_authority,
        key_cert_sign=certificate_authority,
        crl_sign=certificate_authority,
        encipher_only=False,
        decipher_only=False,
    )


def _leaf_builder(
    common_name: str,
    public_key: ec.EllipticCurvePublicKey,
    ca_cert: x509.Certificate,
    now: datetime,
    validity: timedelta,
) -> x509.CertificateBuilder:
    """What every certificate kafkarig's CA issues has: its name, validity (never past the
    CA's own expiry), no CA rights, a signing key usage and the key identifiers."""
    not_after = min(now + validity, ca_cert.not_valid_after_utc)
    return (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)]))
        .issuer_name(ca_cert.subject)
        .public_key(public_key)
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - CLOCK_SKEW)
        .not_valid_after(not_after)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(_signing_key_usage(certificate_authority=False), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(public_key), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_cert.public_key()),  # type: ignore[arg-type]
            critical=False,
        )
    )


def make_broker_cert(
    identity: BrokerIdentity,
    ca_cert: x509.Certificate,
    ca_key: CertificateIssuerPrivateKeyTypes,
    now: datetime,
    validity: timedelta = CERT_VALIDITY,
) -> tuple[x509.Certificate, ec.EllipticCurvePrivateKey]:
    """A certificate for one broker (server and client use: brokers also connect to each
    other), valid for its host names, never past the CA's own expiry."""
    if not identity.hosts:
        raise TlsError(f"broker {identity.name}: a certificate needs at least one host name")
    key = _new_key()
    sans: list[x509.GeneralName] = []
    for host in identity.hosts:
        try:
            sans.append(x509.IPAddress(ipaddress.ip_address(host)))
        except ValueError:
            sans.append(x509.DNSName(host.lower()))
    cert = (
        _leaf_builder(identity.name, key.public_key(), ca_cert, now, validity)
        .add_extension(
            x509.ExtendedKeyUsage(
                [ExtendedKeyUsageOID.SERVER_AUTH, ExtendedKeyUsageOID.CLIENT_AUTH]
            ),
            critical=False,
        )
        .add_extension(x509.SubjectAlternativeName(sans), critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    return cert, key


def make_client_cert(
    name: str,
    ca_cert: x509.Certificate,
    ca_key: CertificateIssuerPrivateKeyTypes,
    now: datetime,
    validity: timedelta = CERT_VALIDITY,
) -> tuple[x509.Certificate, ec.EllipticCurvePrivateKey]:
    """A client certificate whose subject is ``CN=<name>`` (the broker maps it to the
    principal ``User:<name>``), never past the CA's own expiry."""
    key = _new_key()
    cert = (
        _leaf_builder(name, key.public_key(), ca_cert, now, validity)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.CLIENT_AUTH]), critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    return cert, key


def client_cert_problem(
    cert: x509.Certificate,
    *,
    name: str,
    ca: x509.Certificate,
    now: datetime,
    renew_before: timedelta = RENEW_BEFORE,
) -> str | None:
    """Why a client certificate cannot be reused, or ``None`` when it can."""
    if not signed_by(cert, ca):
        return "not signed by the current CA"
    names = [a.value for a in cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)]
    if names != [name]:
        return f"its subject names {names}, not {name}"
    ca_end = ca.not_valid_after_utc
    if cert.not_valid_after_utc >= ca_end and now + renew_before < ca_end:
        return None
    return expiry_problem(cert, now, renew_before)


# -- encodings -------------------------------------------------------------------------------


def cert_pem(cert: x509.Certificate) -> bytes:
    """A certificate as PEM."""
    return cert.public_bytes(serialization.Encoding.PEM)


def key_pem(key: CertificateIssuerPrivateKeyTypes) -> bytes:
    """A private key as unencrypted PKCS#8 PEM (what Kafka's PEM keystore reads)."""
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
