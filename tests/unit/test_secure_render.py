"""The compose template's secure mode: golden files per protocol and mode, the broker
settings of each protocol, and nothing secure in a plaintext stack.

Regenerate the golden files after an intended change with
``KAFKARIG_UPDATE_GOLDEN=1 pytest tests/unit/test_secure_render.py`` and review the diff.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from infra.config import (
    KRAFT_DEFAULT_PROPERTIES,
    LAUNCHER_VARIABLES,
    TEMPLATE_DEFAULT_PROPERTIES,
    TEMPLATE_OWNED_PROPERTIES,
    Stack,
    build_stack,
)
from infra.render import env_to_property, render_compose

GOLDEN_DIR = Path(__file__).resolve().parent / "golden" / "secure"
UPDATE_GOLDEN = os.environ.get("KAFKARIG_UPDATE_GOLDEN") == "1"
APP = {"name": "app", "password": "app-secret"}

SECURE_STACKS: dict[str, dict[str, Any]] = {
    "kraft-1-sasl-ssl": {"security": {"protocol": "sasl_ssl"}, "users": [APP]},
    "kraft-3-sasl-ssl-sha256": {
        "cluster": {"brokers": 3},
        "security": {"protocol": "sasl_ssl", "mechanism": "SCRAM-SHA-256", "admin_user": "root"},
        "users": [APP],
    },
    "zookeeper-1-sasl-ssl": {
        "cluster": {"mode": "zookeeper"},
        "security": {"protocol": "sasl_ssl"},
        "users": [APP],
    },
    "kraft-1-sasl-plaintext": {"security": {"protocol": "sasl_plaintext"}, "users": [APP]},
    "kraft-1-ssl": {"security": {"protocol": "ssl"}},
    "kraft-1-ssl-client-certificates": {
        "security": {"protocol": "ssl", "client_certificates": True},
        "users": [{"name": "app"}],
    },
}


def secure_stack(name: str) -> Stack:
    data = dict(SECURE_STACKS[name])
    data["cluster"] = {"flavor": "local", **data.get("cluster", {})}
    return build_stack(data, env={})


def environment(stack: Stack, service: str = "kafka") -> dict[str, str]:
    document = yaml.safe_load(render_compose(stack))
    return {key: str(value) for key, value in document["services"][service]["environment"].items()}


@pytest.mark.parametrize("name", sorted(SECURE_STACKS))
def test_rendered_compose_matches_the_golden_file(name: str) -> None:
    rendered = render_compose(secure_stack(name))
    golden = GOLDEN_DIR / f"{name}.yml"
    if UPDATE_GOLDEN:
        GOLDEN_DIR.mkdir(exist_ok=True)
        golden.write_text(rendered, encoding="utf-8")
    assert golden.exists(), (
        f"no golden file {golden}; run KAFKARIG_UPDATE_GOLDEN=1 pytest {__file__}"
    )
    assert rendered == golden.read_text(encoding="utf-8"), (
        f"{name} renders differently from {golden}; if intended, regenerate with "
        "KAFKARIG_UPDATE_GOLDEN=1 and review the diff"
    )


def test_every_golden_file_belongs_to_a_secure_stack() -> None:
    assert sorted(path.stem for path in GOLDEN_DIR.glob("*.yml")) == sorted(SECURE_STACKS)


@pytest.mark.integration
@pytest.mark.parametrize("name", sorted(SECURE_STACKS))
def test_golden_files_pass_docker_compose_config(name: str) -> None:
    if shutil.which("docker") is None:
        pytest.skip("docker CLI is not installed")
    result = subprocess.run(
        ["docker", "compose", "-f", str(GOLDEN_DIR / f"{name}.yml"), "config", "-q"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert result.stderr == ""  # no warnings (the mapping rule's '$' is escaped)


@pytest.mark.parametrize("name", sorted(SECURE_STACKS))
def test_every_rendered_property_is_one_kafkarig_owns_or_defaults(name: str) -> None:
    stack = secure_stack(name)
    allowed = set(TEMPLATE_OWNED_PROPERTIES) | set(TEMPLATE_DEFAULT_PROPERTIES)
    if stack.is_kraft:
        allowed |= set(KRAFT_DEFAULT_PROPERTIES)
    for broker in stack.brokers:
        variables = set(environment(stack, broker.service)) - LAUNCHER_VARIABLES
        properties = {env_to_property(v) for v in variables if v.startswith("KAFKA_")}
        assert properties <= allowed, properties - allowed


def test_sasl_ssl_in_kraft_mode_is_what_the_brokers_were_verified_with() -> None:
    env = environment(secure_stack("kraft-1-sasl-ssl"))
    expected = {
        "KAFKA_LISTENER_SECURITY_PROTOCOL_MAP": (
            "CONTROLLER:PLAINTEXT,INTERNAL:PLAINTEXT,HOST:SASL_SSL"
        ),
        "KAFKA_INTER_BROKER_LISTENER_NAME": "INTERNAL",
        "KAFKA_SASL_ENABLED_MECHANISMS": "SCRAM-SHA-512",
        "KAFKA_LISTENER_NAME_HOST_SCRAM___SHA___512_SASL_JAAS_CONFIG": (
            "org.apache.kafka.common.security.scram.ScramLoginModule required;"
        ),
        "KAFKA_SSL_KEYSTORE_TYPE": "PEM",
        "KAFKA_SSL_KEYSTORE_LOCATION": "/etc/kafka/tls/kafka.keystore.pem",
        "KAFKA_SSL_TRUSTSTORE_TYPE": "PEM",
        "KAFKA_SSL_TRUSTSTORE_LOCATION": "/etc/kafka/tls/ca.pem",
        "KAFKA_AUTHORIZER_CLASS_NAME": "org.apache.kafka.metadata.authorizer.StandardAuthorizer",
        "KAFKA_SUPER_USERS": "User:admin;User:ANONYMOUS",
        "KAFKA_ALLOW_EVERYONE_IF_NO_ACL_FOUND": "false",
    }
    assert {key: env[key] for key in expected} == expected
    assert not any(key.startswith("KAFKA_SSL_CLIENT") for key in env)


def test_zookeeper_mode_uses_the_acl_authorizer_and_has_no_controller_listener() -> None:
    env = environment(secure_stack("zookeeper-1-sasl-ssl"))
    assert env["KAFKA_AUTHORIZER_CLASS_NAME"] == "kafka.security.authorizer.AclAuthorizer"
    assert "CONTROLLER://" not in env["KAFKA_LISTENERS"]


def test_each_broker_reads_its_own_keystore_and_the_admin_is_its_super_user() -> None:
    stack = secure_stack("kraft-3-sasl-ssl-sha256")
    for broker in stack.brokers:
        env = environment(stack, broker.service)
        assert env["KAFKA_SSL_KEYSTORE_LOCATION"] == f"/etc/kafka/tls/{broker.service}.keystore.pem"
        assert env["KAFKA_SUPER_USERS"] == "User:root;User:ANONYMOUS"
        assert "KAFKA_LISTENER_NAME_HOST_SCRAM___SHA___256_SASL_JAAS_CONFIG" in env


def test_sasl_plaintext_has_no_tls_files() -> None:
    env = environment(secure_stack("kraft-1-sasl-plaintext"))
    assert env["KAFKA_LISTENER_SECURITY_PROTOCOL_MAP"].endswith("HOST:SASL_PLAINTEXT")
    assert not any(key.startswith("KAFKA_SSL_") for key in env)


def test_ssl_without_client_certificates_encrypts_but_authorizes_nothing() -> None:
    env = environment(secure_stack("kraft-1-ssl"))
    assert env["KAFKA_LISTENER_SECURITY_PROTOCOL_MAP"].endswith("HOST:SSL")
    assert "KAFKA_AUTHORIZER_CLASS_NAME" not in env and "KAFKA_SASL_ENABLED_MECHANISMS" not in env


def test_client_certificates_are_required_and_their_cn_is_the_principal() -> None:
    env = environment(secure_stack("kraft-1-ssl-client-certificates"))
    assert env["KAFKA_SSL_CLIENT_AUTH"] == "required"
    # '$' is doubled in the file: compose would read "$1" as a variable of its own.
    assert env["KAFKA_SSL_PRINCIPAL_MAPPING_RULES"] == "RULE:^CN=([^,]+)$$/$$1/,DEFAULT"
    assert "KAFKA_AUTHORIZER_CLASS_NAME" in env


def test_a_plaintext_stack_renders_nothing_secure() -> None:
    env = environment(build_stack({"cluster": {"flavor": "local"}}, env={}))
    assert env["KAFKA_LISTENER_SECURITY_PROTOCOL_MAP"].endswith("HOST:PLAINTEXT")
    assert not any(
        key.startswith(("KAFKA_SSL_", "KAFKA_SASL_", "KAFKA_SUPER", "KAFKA_AUTHORIZER"))
        for key in env
    )


def test_a_security_property_in_broker_config_names_the_key_that_sets_it() -> None:
    from infra.errors import ConfigError

    with pytest.raises(ConfigError, match=r"set by \[security\] protocol"):
        build_stack({"cluster": {"broker_config": {"authorizer.class.name": "x"}}}, env={})
