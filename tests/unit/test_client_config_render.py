"""``kafkarig client-config`` output: librdkafka, kcat and Java properties for a stack."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest

from harness.client_config import parse_client_config
from infra.client_config import (
    ClientConfigError,
    ClientSettings,
    render_client_config,
    write_private,
)

CA = Path("/stack/.kafkarig/kafkarig/tls/ca.pem")
APP = ClientSettings(
    bootstrap="localhost:9092",
    protocol="sasl_ssl",
    mechanism="SCRAM-SHA-512",
    user="app",
    password="app-secret",
    ca_path=CA,
)


def _properties(text: str) -> dict[str, str]:
    return dict(parse_client_config(text).properties)


def test_librdkafka_format_is_what_the_harness_and_kcat_read() -> None:
    text = render_client_config(APP, "librdkafka")
    assert text.startswith("# kafkarig client config for user app")
    assert _properties(text) == {
        "bootstrap.servers": "localhost:9092",
        "security.protocol": "SASL_SSL",
        "sasl.mechanism": "SCRAM-SHA-512",
        "sasl.username": "app",
        "sasl.password": "app-secret",
        "ssl.ca.location": str(CA),
        "ssl.endpoint.identification.algorithm": "https",
    }


def test_kcat_format_leaves_out_the_line_kcat_drops() -> None:
    properties = _properties(render_client_config(APP, "kcat"))
    assert "ssl.endpoint.identification.algorithm" not in properties
    assert properties["sasl.password"] == "app-secret"


def test_java_format_has_a_jaas_login_and_a_pem_truststore() -> None:
    lines = render_client_config(APP, "java").splitlines()
    assert lines[1:] == [
        "bootstrap.servers=localhost:9092",
        "security.protocol=SASL_SSL",
        "sasl.mechanism=SCRAM-SHA-512",
        "sasl.jaas.config=org.apache.kafka.common.security.scram.ScramLoginModule required "
        'username="app" password="app-secret";',
        "ssl.truststore.type=PEM",
        f"ssl.truststore.location={CA}",
    ]


def test_java_format_escapes_for_jaas_and_for_java_properties() -> None:
    tricky = ClientSettings("localhost:9092", "sasl_plaintext", "PLAIN", "app", 'a"b\\c ü€')
    (jaas,) = [line for line in render_client_config(tricky, "java").splitlines() if "jaas" in line]
    # JAAS: \ -> \\ and " -> \"; then java.util.Properties: \ -> \\ and non-ASCII -> \uXXXX.
    assert jaas == (
        "sasl.jaas.config=org.apache.kafka.common.security.plain.PlainLoginModule required "
        'username="app" password="a\\\\"b\\\\\\\\c \\u00fc\\u20ac";'
    )


def test_plaintext_has_only_the_address_and_protocol() -> None:
    plain = ClientSettings("localhost:9092")
    assert _properties(render_client_config(plain, "librdkafka")) == {
        "bootstrap.servers": "localhost:9092",
        "security.protocol": "PLAINTEXT",
    }


def test_tls_with_a_client_certificate() -> None:
    keystore = Path("/tls/app.keystore.pem")
    mtls = ClientSettings("localhost:9093", "ssl", ca_path=CA, client_keystore=keystore)
    properties = _properties(render_client_config(mtls, "librdkafka"))
    assert properties["ssl.certificate.location"] == properties["ssl.key.location"] == str(keystore)
    java = render_client_config(mtls, "java")
    assert f"ssl.keystore.location={keystore}" in java and "ssl.keystore.type=PEM" in java


@pytest.mark.parametrize(
    ("settings", "message"),
    [
        (ClientSettings("localhost:9092", "tls"), "unknown protocol 'tls'"),
        (ClientSettings("localhost:9092", "sasl_ssl", "SCRAM-SHA-1", "a", "b"), "mechanism"),
        (ClientSettings("localhost:9092", "sasl_ssl", "PLAIN", None, "b"), "needs a user"),
        (ClientSettings("localhost:9092", "plaintext", ca_path=CA), "has no TLS"),
        (ClientSettings("", "plaintext"), "no bootstrap"),
    ],
)
def test_settings_no_client_could_use_are_refused(settings: ClientSettings, message: str) -> None:
    with pytest.raises(ClientConfigError, match=message):
        render_client_config(settings, "librdkafka")


def test_an_unknown_format_names_the_known_ones() -> None:
    with pytest.raises(ClientConfigError, match="librdkafka, kcat, java"):
        render_client_config(APP, "yaml")


def test_a_password_a_librdkafka_file_cannot_carry_is_refused_without_showing_it() -> None:
    bad = ClientSettings("localhost:9092", "sasl_ssl", "PLAIN", "app", "ends with space ")
    with pytest.raises(ClientConfigError) as info:
        render_client_config(bad, "librdkafka")
    assert "ends with space" not in str(info.value)
    assert "java" in render_client_config(bad, "java").splitlines()[0].lower()


def test_the_file_is_written_for_its_owner_only(tmp_path: Path) -> None:
    path = write_private(tmp_path / "app.properties", render_client_config(APP, "librdkafka"))
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert _properties(path.read_text())["sasl.username"] == "app"
