"""Client config files: parsed as kcat -F reads them, with clear errors for what it would
misread."""

from __future__ import annotations

from pathlib import Path

import pytest

from harness.client_config import (
    ClientConfigError,
    load_client_config,
    parse_client_config,
    render_client_config,
)
from harness.errors import HarnessError

SECURE = """\
# kafkarig client config for user app
bootstrap.servers=localhost:9092

security.protocol=SASL_SSL
   sasl.mechanism=SCRAM-SHA-512
sasl.username=app
sasl.password=pa=ss#word
ssl.ca.location=/home/me/.kafkarig/kafkarig/tls/ca.pem
"""


def test_comments_blank_lines_and_surrounding_whitespace_are_skipped() -> None:
    config = parse_client_config(SECURE, "app.properties")
    assert config.properties == {
        "bootstrap.servers": "localhost:9092",
        "security.protocol": "SASL_SSL",
        "sasl.mechanism": "SCRAM-SHA-512",
        "sasl.username": "app",
        "sasl.password": "pa=ss#word",  # split at the first '='; '#' mid-line is a value
        "ssl.ca.location": "/home/me/.kafkarig/kafkarig/tls/ca.pem",
    }
    assert config.where("sasl.mechanism") == "app.properties:5"


def test_bootstrap_servers_are_given_apart_from_the_client_properties() -> None:
    config = parse_client_config(SECURE)
    assert config.bootstrap_servers == "localhost:9092"
    assert "bootstrap.servers" not in config.client_properties()
    legacy = parse_client_config("metadata.broker.list=a:1,b:2\n")
    assert legacy.bootstrap_servers == "a:1,b:2"
    assert legacy.client_properties() == {}
    assert parse_client_config("").bootstrap_servers is None


def test_java_escapes_of_colon_and_equals_are_undone_as_kcat_does() -> None:
    config = parse_client_config("bootstrap.servers=pkc-1.example\\:9092\nx.y=a\\=b\n")
    assert config.properties == {"bootstrap.servers": "pkc-1.example:9092", "x.y": "a=b"}


def test_a_line_without_equals_is_an_error_with_its_line_number() -> None:
    with pytest.raises(ClientConfigError) as info:
        parse_client_config("# ok\nsecurity.protocol SASL_SSL\n", "c.properties")
    assert isinstance(info.value, HarnessError)
    assert "c.properties:2: expected property=value" in str(info.value)
    assert "Hint:" in str(info.value)


def test_whitespace_around_equals_is_an_error_that_shows_the_fix() -> None:
    with pytest.raises(ClientConfigError) as info:
        parse_client_config("sasl.mechanism = SCRAM-SHA-512\n")
    message = str(info.value)
    assert ":1: whitespace around '='" in message
    assert "Write sasl.mechanism='SCRAM-SHA-512'" in message


def test_a_property_set_twice_names_both_lines() -> None:
    with pytest.raises(
        ClientConfigError, match=r":3: sasl.username is set again \(first set on line 1\)"
    ):
        parse_client_config("sasl.username=a\n\nsasl.username=b\n")


def test_every_bad_line_is_reported_at_once() -> None:
    with pytest.raises(ClientConfigError) as info:
        parse_client_config("=value\nok=1\nnot a property=x\n")
    message = str(info.value)
    assert ":1: expected property=value" in message
    assert ":3: 'not a property' is not a property name" in message


def test_a_line_longer_than_kcats_buffer_is_an_error() -> None:
    fine = "ssl.ca.location=/" + "a" * (511 - len("ssl.ca.location=/"))
    assert len(parse_client_config(fine).properties["ssl.ca.location"]) == 511 - 16
    with pytest.raises(ClientConfigError, match="512 bytes; kcat -F reads at most 511"):
        parse_client_config(fine + "b")


def test_a_secret_value_never_appears_in_an_error() -> None:
    with pytest.raises(ClientConfigError) as info:
        parse_client_config("sasl.password = hunter2\n")
    assert "hunter2" not in str(info.value)
    assert "sasl.password=***" in str(info.value)


def test_a_missing_file_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(ClientConfigError, match=r"client config file .*absent.properties does"):
        load_client_config(tmp_path / "absent.properties")


def test_a_file_is_read_with_its_path_in_line_references(tmp_path: Path) -> None:
    path = tmp_path / "client.properties"
    path.write_text("security.protocol=SSL\nbroken\n")
    with pytest.raises(ClientConfigError, match=rf"{path}:2: expected property=value"):
        load_client_config(path)


def test_rendered_properties_parse_back_unchanged() -> None:
    properties = {
        "security.protocol": "SASL_SSL",
        "sasl.password": "p@ss w=rd#1",
        "ssl.ca.location": "/tmp/ca.pem",
    }
    assert parse_client_config(render_client_config(properties)).properties == properties


@pytest.mark.parametrize(
    ("value", "why"),
    [
        ("two\nlines", "line break"),
        ("trailing ", "whitespace"),
        ("a\\:b", "backslash"),
    ],
)
def test_a_value_no_config_file_can_carry_is_refused(value: str, why: str) -> None:
    with pytest.raises(ClientConfigError, match=why) as info:
        render_client_config({"sasl.password": value})
    assert value not in str(info.value)
