"""A stack whose host listener is TLS with client certificates (``protocol = "ssl"``,
``client_certificates = true``): kafkarig issues each user a certificate, the broker maps
its ``CN`` to the principal, and the ACLs of examples/secure.toml hold for it."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from confluent_kafka import KafkaError, Producer

from harness import admin as admin_ops
from tests.integration.secure_stack import SEED_TOPIC, SecureStack, refusal, secure_stack


def _with_client_certificates(text: str) -> str:
    """examples/secure.toml with TLS client certificates instead of SCRAM logins."""
    lines = []
    for line in text.splitlines():
        if line.startswith(("mechanism = ", "password = ")):
            continue  # certificate users have no password
        lines.append(line)
        if line == 'protocol = "sasl_ssl"':
            lines[-1:] = ['protocol = "ssl"', "client_certificates = true"]
    edited = "\n".join(lines) + "\n"
    assert "client_certificates = true" in edited
    return edited.replace('project = "kafkarig-secure"', 'project = "kafkarig-mtls"')


@pytest.fixture(scope="module")
def mtls(
    local_images: list[str], tmp_path_factory: pytest.TempPathFactory
) -> Iterator[SecureStack]:
    """The stack, up."""
    with secure_stack(
        "secure.toml", tmp_path_factory.mktemp("mtls"), _with_client_certificates
    ) as running:
        yield running


def test_a_client_without_a_certificate_is_refused(mtls: SecureStack) -> None:
    config = mtls.config("app")
    for key in ("ssl.certificate.location", "ssl.key.location"):
        del config[key]
    errors = refusal(mtls.bootstrap, config)
    codes = {e.code() for e in errors.seen}
    assert codes & {KafkaError._SSL, KafkaError._ALL_BROKERS_DOWN, KafkaError._TRANSPORT}, codes


def test_each_user_sees_and_writes_only_what_its_acls_allow(mtls: SecureStack) -> None:
    app = admin_ops.admin_client(mtls.bootstrap, mtls.config("app"))
    stranger = admin_ops.admin_client(mtls.bootstrap, mtls.config("stranger"))
    assert SEED_TOPIC in app.list_topics(timeout=15).topics
    assert SEED_TOPIC not in stranger.list_topics(timeout=15).topics  # no DESCRIBE for it
    reports: list[KafkaError | None] = []
    producer = Producer(
        {
            **mtls.config("stranger"),
            "bootstrap.servers": mtls.bootstrap,
            "enable.idempotence": False,
        }
    )
    producer.produce(SEED_TOPIC, b"{}", on_delivery=lambda error, _: reports.append(error))
    producer.flush(30)
    assert [r.name() if r else None for r in reports] == ["TOPIC_AUTHORIZATION_FAILED"]
    allowed: list[KafkaError | None] = []
    producer = Producer({**mtls.config("app"), "bootstrap.servers": mtls.bootstrap})
    producer.produce(SEED_TOPIC, b"{}", on_delivery=lambda error, _: allowed.append(error))
    producer.flush(30)
    assert allowed == [None]


def test_up_verifies_every_certificate_user_by_logging_in(mtls: SecureStack) -> None:
    users = {a.name: a.describe() for a in mtls.up.plan.of_kind("user")}
    assert users == {
        "admin": "kafkarig's admin, a super user (its client certificate)",
        "app": "logs in with its client certificate",
        "stranger": "logs in with its client certificate",
    }
