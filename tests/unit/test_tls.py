"""TLS files: a CA and broker certificates that are reused, renewed when they must be, and
that a real TLS handshake accepts for the right host name only."""

from __future__ import annotations

import socket
import ssl
import threading
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization

from infra.certificates import (
    BrokerIdentity,
    TlsError,
    broker_cert_problem,
    cert_pem,
    key_pem,
    make_broker_cert,
    make_ca,
    san_names,
    signed_by,
)
from infra.tls import CA_CERT_FILE, CA_KEY_FILE, UserCa, ensure_tls

NOW = datetime(2026, 1, 10, 12, 0, tzinfo=UTC)
KAFKA = BrokerIdentity("kafka", ("localhost", "kafka", "127.0.0.1"))


def _mode(path: Path) -> int:
    return path.stat().st_mode & 0o777


def _leaf(path: Path) -> x509.Certificate:
    return x509.load_pem_x509_certificates(path.read_bytes())[0]


def _ca(directory: Path) -> x509.Certificate:
    return x509.load_pem_x509_certificate((directory / CA_CERT_FILE).read_bytes())


def test_a_fresh_directory_gets_a_ca_and_a_keystore_per_broker(tmp_path: Path) -> None:
    brokers = [KAFKA, BrokerIdentity("kafka-2", ("localhost", "kafka-2"))]
    files = ensure_tls(tmp_path / "tls", brokers, now=NOW)
    assert files.changes == (
        "CA created",
        "kafka: certificate issued (created)",
        "kafka-2: certificate issued (created)",
    )
    assert _mode(files.directory) == 0o700
    assert _mode(files.directory / CA_KEY_FILE) == 0o600
    ca = _ca(files.directory)
    for broker in brokers:
        keystore = files.keystores[broker.name]
        assert _mode(keystore) == 0o600
        text = keystore.read_text()
        # Kafka's PEM keystore: an unencrypted PKCS#8 key, then the chain (leaf, CA).
        assert text.startswith("-----BEGIN PRIVATE KEY-----")
        leaf, chain_ca = x509.load_pem_x509_certificates(keystore.read_bytes())
        assert chain_ca == ca
        assert signed_by(leaf, ca)
        assert san_names(leaf) == set(broker.hosts)
        assert leaf.not_valid_after_utc == NOW + timedelta(days=397)
        usage = leaf.extensions.get_extension_for_class(x509.KeyUsage).value
        assert usage.digital_signature and usage.key_agreement and not usage.key_cert_sign
    ca_usage = ca.extensions.get_extension_for_class(x509.KeyUsage).value
    assert ca_usage.key_cert_sign and ca_usage.crl_sign and not ca_usage.key_agreement


def test_a_second_run_reuses_every_file(tmp_path: Path) -> None:
    first = ensure_tls(tmp_path, [KAFKA], now=NOW)
    before = {p.name: p.read_bytes() for p in tmp_path.iterdir()}
    second = ensure_tls(tmp_path, [KAFKA], now=NOW + timedelta(days=100))
    assert second.changes == ()
    assert {p.name: p.read_bytes() for p in tmp_path.iterdir()} == before
    assert second.keystores == first.keystores


def test_changed_host_names_reissue_the_broker_certificate_with_the_same_ca(
    tmp_path: Path,
) -> None:
    ensure_tls(tmp_path, [KAFKA], now=NOW)
    ca_before = _ca(tmp_path)
    moved = BrokerIdentity("kafka", ("broker.example.org", "kafka"))
    files = ensure_tls(tmp_path, [moved], now=NOW)
    assert files.changes == (
        "kafka: certificate issued (host names changed: ['127.0.0.1', 'kafka', 'localhost'] "
        "-> ['broker.example.org', 'kafka'])",
    )
    assert _ca(tmp_path) == ca_before
    assert san_names(_leaf(files.keystores["kafka"])) == {"broker.example.org", "kafka"}


def test_a_certificate_near_its_expiry_is_renewed(tmp_path: Path) -> None:
    ensure_tls(tmp_path, [KAFKA], now=NOW)
    later = NOW + timedelta(days=397 - 29)
    files = ensure_tls(tmp_path, [KAFKA], now=later)
    assert files.changes == (
        "kafka: certificate issued (expires 2027-02-11 (renewed 30 days ahead))",
    )
    assert _leaf(files.keystores["kafka"]).not_valid_after_utc == later + timedelta(days=397)


def test_a_ca_near_its_expiry_is_made_again_with_every_broker_certificate(
    tmp_path: Path,
) -> None:
    ensure_tls(tmp_path, [KAFKA], now=NOW)
    old_ca = _ca(tmp_path)
    files = ensure_tls(tmp_path, [KAFKA], now=NOW + timedelta(days=3650 - 10))
    assert files.changes[0].startswith("CA made again: expires")
    assert files.changes[1] == "kafka: certificate issued (not signed by the current CA)"
    assert _ca(tmp_path) != old_ca
    assert signed_by(_leaf(files.keystores["kafka"]), _ca(tmp_path))


def test_a_damaged_keystore_is_replaced(tmp_path: Path) -> None:
    files = ensure_tls(tmp_path, [KAFKA], now=NOW)
    files.keystores["kafka"].write_text("-----BEGIN PRIVATE KEY-----\ngarbage\n")
    again = ensure_tls(tmp_path, [KAFKA], now=NOW)
    assert again.changes == ("kafka: certificate issued (created)",)


def test_a_key_file_made_readable_by_others_is_made_private_again(tmp_path: Path) -> None:
    files = ensure_tls(tmp_path, [KAFKA], now=NOW)
    files.keystores["kafka"].chmod(0o644)
    (tmp_path / CA_KEY_FILE).chmod(0o644)
    ensure_tls(tmp_path, [KAFKA], now=NOW)
    assert _mode(files.keystores["kafka"]) == 0o600
    assert _mode(tmp_path / CA_KEY_FILE) == 0o600


def _user_ca(directory: Path, now: datetime, days: int) -> UserCa:
    cert, key = make_ca(now, timedelta(days=days))
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "my-ca.pem").write_bytes(cert_pem(cert))
    (directory / "my-ca-key.pem").write_bytes(key_pem(key))
    return UserCa(directory / "my-ca.pem", directory / "my-ca-key.pem")


def test_a_users_ca_signs_the_brokers_and_is_never_written(tmp_path: Path) -> None:
    ensure_tls(tmp_path / "tls", [KAFKA], now=NOW)  # an own CA first, then the user's
    user_ca = _user_ca(tmp_path / "mine", NOW, days=200)
    mine_before = user_ca.cert.read_bytes(), user_ca.key.read_bytes()
    files = ensure_tls(tmp_path / "tls", [KAFKA], user_ca=user_ca, now=NOW)
    assert not (tmp_path / "tls" / CA_KEY_FILE).exists()
    assert (tmp_path / "tls" / CA_CERT_FILE).read_bytes() == mine_before[0]
    assert (user_ca.cert.read_bytes(), user_ca.key.read_bytes()) == mine_before
    leaf = _leaf(files.keystores["kafka"])
    assert signed_by(leaf, _ca(tmp_path / "tls"))
    # Never valid past the CA: 200 days, not 397.
    ca_end = x509.load_pem_x509_certificate(mine_before[0]).not_valid_after_utc
    assert leaf.not_valid_after_utc == ca_end
    assert ensure_tls(tmp_path / "tls", [KAFKA], user_ca=user_ca, now=NOW).changes == ()


def test_an_expired_user_ca_is_an_error_with_a_hint(tmp_path: Path) -> None:
    user_ca = _user_ca(tmp_path, NOW - timedelta(days=20), days=10)
    with pytest.raises(TlsError, match="expired on") as info:
        ensure_tls(tmp_path / "tls", [KAFKA], user_ca=user_ca, now=NOW)
    assert "Hint:" in str(info.value)


def test_a_user_ca_key_that_belongs_to_another_ca_is_an_error(tmp_path: Path) -> None:
    user_ca = _user_ca(tmp_path, NOW, days=100)
    _, other_key = make_ca(NOW)
    user_ca.key.write_bytes(key_pem(other_key))
    with pytest.raises(TlsError, match="does not belong to"):
        ensure_tls(tmp_path / "tls", [KAFKA], user_ca=user_ca, now=NOW)


def test_a_missing_user_ca_file_is_an_error(tmp_path: Path) -> None:
    missing = UserCa(tmp_path / "none.pem", tmp_path / "none-key.pem")
    with pytest.raises(TlsError, match="missing or not a PEM certificate"):
        ensure_tls(tmp_path / "tls", [KAFKA], user_ca=missing, now=NOW)


def test_duplicate_broker_names_and_empty_host_lists_are_refused(tmp_path: Path) -> None:
    with pytest.raises(TlsError, match="unique"):
        ensure_tls(tmp_path, [KAFKA, KAFKA], now=NOW)
    with pytest.raises(TlsError, match="at least one host name"):
        ensure_tls(tmp_path, [BrokerIdentity("kafka", ())], now=NOW)


def test_reuse_decisions() -> None:
    ca, ca_key = make_ca(NOW)
    other_ca, _ = make_ca(NOW)
    cert, _ = make_broker_cert(KAFKA, ca, ca_key, NOW)
    assert broker_cert_problem(cert, hosts=KAFKA.hosts, ca=ca, now=NOW) is None
    # Host names compare case-insensitively and as addresses, in any order.
    same = ("KAFKA", "127.0.0.1", "localhost")
    assert broker_cert_problem(cert, hosts=same, ca=ca, now=NOW) is None
    assert broker_cert_problem(cert, hosts=KAFKA.hosts, ca=other_ca, now=NOW) == (
        "not signed by the current CA"
    )
    before = NOW - timedelta(hours=1)
    assert "not valid before" in (
        broker_cert_problem(cert, hosts=KAFKA.hosts, ca=ca, now=before) or ""
    )


def _serve_once(keystore: Path, ready: threading.Event, port: list[int]) -> None:
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(keystore)  # key and chain in one file, as Kafka reads it
    with socket.create_server(("127.0.0.1", 0)) as server:
        port.append(server.getsockname()[1])
        ready.set()
        for _ in range(2):
            connection, _ = server.accept()
            try:
                with context.wrap_socket(connection, server_side=True) as tls:
                    tls.sendall(b"ok")
            except (ssl.SSLError, OSError):
                pass


def test_a_tls_client_accepts_the_broker_under_its_names_and_refuses_any_other(
    tmp_path: Path,
) -> None:
    files = ensure_tls(tmp_path, [KAFKA])
    ready, port = threading.Event(), []
    server = threading.Thread(
        target=_serve_once, args=(files.keystores["kafka"], ready, port), daemon=True
    )
    server.start()
    assert ready.wait(10)
    client = ssl.create_default_context(cafile=str(files.ca_cert))
    with (
        socket.create_connection(("127.0.0.1", port[0]), timeout=10) as raw,
        client.wrap_socket(raw, server_hostname="localhost") as tls,
    ):
        assert tls.recv(2) == b"ok"
    with (
        socket.create_connection(("127.0.0.1", port[0]), timeout=10) as raw,
        pytest.raises(ssl.SSLCertVerificationError, match="Hostname mismatch"),
    ):
        client.wrap_socket(raw, server_hostname="wrong.example")
    server.join(10)


def test_the_ca_key_is_a_loadable_unencrypted_pem_key(tmp_path: Path) -> None:
    ensure_tls(tmp_path, [KAFKA], now=NOW)
    key = serialization.load_pem_private_key((tmp_path / CA_KEY_FILE).read_bytes(), None)
    assert key.public_key() == _ca(tmp_path).public_key()
