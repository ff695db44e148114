"""``[security]``, ``[[users]]`` and ``[[acls]]``: every rule, alone and across sections, and
the messages a user reads (where, what, allowed, hint, did you mean)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from infra.config import Stack, build_stack, load_stack
from infra.errors import ConfigError

REPO_ROOT = Path(__file__).resolve().parents[2]
SASL = {"protocol": "sasl_ssl"}
APP = {"name": "app", "password": "app-secret"}


def stack(
    security: dict[str, Any] | None = None,
    users: list[dict[str, Any]] | None = None,
    acls: list[dict[str, Any]] | None = None,
) -> Stack:
    data: dict[str, Any] = {"security": security or {}, "users": users or [], "acls": acls or []}
    return build_stack(data, env={})


def invalid(
    security: dict[str, Any] | None = None,
    users: list[dict[str, Any]] | None = None,
    acls: list[dict[str, Any]] | None = None,
) -> str:
    with pytest.raises(ConfigError) as caught:
        stack(security, users, acls)
    return str(caught.value)


def acl(**keys: Any) -> dict[str, Any]:
    return {
        "principal": "User:app",
        "resource": "topic",
        "name": "t",
        "operations": ["read"],
    } | keys


# --------------------------------------------------------------------------- the examples


def test_the_shipped_stack_stays_plaintext_so_the_seed_commands_work_verbatim() -> None:
    shipped = load_stack(REPO_ROOT / "stack.toml", env={})
    assert shipped.security.protocol == "plaintext"
    assert not shipped.security.enabled and not shipped.users and not shipped.acls


@pytest.mark.parametrize("name", ["secure.toml", "secure-three-brokers.toml"])
def test_the_secure_examples_are_sasl_ssl_with_app_and_stranger(name: str) -> None:
    example = load_stack(REPO_ROOT / "examples" / name, env={})
    assert example.security.kafka_protocol == "SASL_SSL"
    assert example.security.sasl_mechanism == "SCRAM-SHA-512"
    assert [user.name for user in example.users] == ["app", "stranger"]
    assert {acl.user for acl in example.acls} == {"app"}
    assert example.security.smoke_user == "app"
    assert [t.name for t in example.all_topics] == ["user-events", "user-events-dlq"]
    assert example.bootstrap_servers.startswith("localhost:9092")


# --------------------------------------------------------------------------- [security]


def test_defaults_are_a_plaintext_host_listener_and_an_admin_named_admin() -> None:
    security = stack().security
    assert (security.protocol, security.admin_user, security.smoke_user) == (
        "plaintext",
        "admin",
        None,
    )
    assert security.sasl_mechanism is None and not security.authenticates


def test_sasl_defaults_to_scram_sha_512() -> None:
    assert stack(SASL, [APP]).security.sasl_mechanism == "SCRAM-SHA-512"
    sha256 = stack({**SASL, "mechanism": "SCRAM-SHA-256"}, [APP]).security
    assert sha256.sasl_mechanism == "SCRAM-SHA-256"


def test_a_protocol_in_kafkas_upper_case_suggests_the_lower_case_key() -> None:
    message = invalid({"protocol": "SASL_SSL"})
    assert '[security] protocol: "SASL_SSL" is not a protocol' in message
    assert "did you mean 'sasl_ssl'?" in message


def test_a_misspelt_protocol_suggests_the_near_miss() -> None:
    assert "did you mean 'sasl_ssl'?" in invalid({"protocol": "sasl_sll"})


def test_plain_is_refused_because_its_passwords_would_live_in_the_broker_config() -> None:
    message = invalid({**SASL, "mechanism": "PLAIN"})
    assert '[security] mechanism: "PLAIN" is not supported' in message
    assert "SCRAM-SHA-512" in message


def test_a_mechanism_in_lower_case_suggests_kafkas_spelling() -> None:
    assert "did you mean 'SCRAM-SHA-256'?" in invalid({**SASL, "mechanism": "scram-sha-256"})


def test_a_mechanism_without_sasl_is_an_error() -> None:
    message = invalid({"protocol": "ssl", "mechanism": "SCRAM-SHA-512"})
    assert '[security] mechanism: mechanism is set but protocol "ssl" has no SASL login' in message


def test_client_certificates_need_the_ssl_protocol() -> None:
    message = invalid({**SASL, "client_certificates": True}, [APP])
    assert 'client_certificates = true needs protocol "ssl"' in message


def test_a_users_ca_needs_its_certificate_and_its_key() -> None:
    message = invalid({**SASL, "ca_cert": "ca.pem"}, [APP])
    assert "[security] ca_key: ca_cert is set without ca_key" in message


def test_a_users_ca_needs_tls() -> None:
    message = invalid({"protocol": "sasl_plaintext", "ca_cert": "a", "ca_key": "b"}, [APP])
    assert 'ca_cert is set but protocol "sasl_plaintext" has no TLS' in message


# --------------------------------------------------------------------------- [[users]]


def test_users_on_a_plaintext_listener_are_an_error_with_a_hint() -> None:
    message = invalid(users=[APP])
    assert '[[users]]: [[users]] are declared, but [security] protocol = "plaintext"' in message
    assert 'protocol = "sasl_ssl"' in message


def test_users_on_ssl_without_client_certificates_are_an_error() -> None:
    message = invalid({"protocol": "ssl"}, [{"name": "app"}])
    assert "every host client is anonymous" in message
    assert "client_certificates = true" in message


def test_a_scram_user_needs_a_password_or_its_variable() -> None:
    message = invalid(SASL, [{"name": "app"}])
    assert "[[users]] #1 (app): no password: a SCRAM-SHA-512 user needs password or " in message


def test_password_and_password_env_are_one_or_the_other() -> None:
    message = invalid(SASL, [{"name": "app", "password": "x", "password_env": "APP_PW"}])
    assert "[[users]] #1 (app) password_env: both password and password_env are set" in message


def test_password_env_names_a_variable_not_a_value() -> None:
    message = invalid(SASL, [{"name": "app", "password_env": "s3cret pass"}])
    assert "is not an environment variable name" in message


@pytest.mark.parametrize("password", ["", " lead", "trail ", "line\nbreak", "tab\there"])
def test_a_password_a_client_config_file_cannot_carry_is_refused(password: str) -> None:
    message = invalid(SASL, [{"name": "app", "password": password}])
    assert "[[users]] #1 (app) password:" in message


def test_certificate_users_have_no_password() -> None:
    message = invalid({"protocol": "ssl", "client_certificates": True}, [APP])
    assert "users of an ssl stack log in with the client certificate" in message


def test_a_user_is_declared_once() -> None:
    message = invalid(SASL, [APP, APP])
    assert '[[users]] #2 (app) name: user "app" is already declared by [[users]] #1' in message


@pytest.mark.parametrize("name", ["", "a b", "-x", "ümlaut", "x" * 65, "a,b"])
def test_user_names_follow_kafkarigs_rule(name: str) -> None:
    assert "is not a valid user name" in invalid(SASL, [{"name": name, "password": "x"}])


def test_the_admin_may_be_declared_and_then_needs_no_password() -> None:
    declared = stack(SASL, [{"name": "admin"}, APP])
    assert [u.name for u in declared.users] == ["admin", "app"]


def test_the_admins_password_cannot_hold_what_kafka_configs_splits_at() -> None:
    message = invalid(SASL, [{"name": "admin", "password": "a,b[c]"}])
    assert "[[users]] #1 (admin) password: the password of kafkarig's admin user has" in message


def test_the_smoke_user_must_be_declared() -> None:
    message = invalid({**SASL, "smoke_user": "apq"}, [APP])
    assert '[security] smoke_user: smoke_user "apq" is not a declared user' in message
    assert "did you mean 'app'?" in message


def test_the_smoke_user_needs_logins() -> None:
    assert 'smoke_user is set but protocol "plaintext" has no logins' in invalid(
        {"smoke_user": "app"}
    )


# --------------------------------------------------------------------------- [[acls]]


def test_an_acl_entry_becomes_one_binding_per_operation() -> None:
    entry = stack(SASL, [APP], [acl(operations=["read", "write"], pattern="prefixed")]).acls[0]
    assert (entry.user, entry.resource_name, entry.pattern, entry.permission, entry.host) == (
        "app",
        "t",
        "prefixed",
        "allow",
        "*",
    )


def test_acls_on_a_plaintext_listener_are_an_error() -> None:
    assert "[[acls]] are declared, but [security] protocol" in invalid(acls=[acl()])


def test_a_bare_user_name_as_principal_suggests_the_user_prefix() -> None:
    message = invalid(SASL, [APP], [acl(principal="app")])
    assert '[[acls]] #1 (t) principal: "app" is not a principal' in message
    assert "did you mean 'User:app'?" in message


def test_a_principal_must_be_a_declared_user() -> None:
    message = invalid(SASL, [APP], [acl(principal="User:ap")])
    assert "\"User:ap\" is not a declared user (declared: 'app'); did you mean 'app'?" in message


def test_every_user_is_a_principal_too() -> None:
    assert stack(SASL, [APP], [acl(principal="User:*")]).acls[0].user == "*"


def test_an_acl_for_the_super_user_admin_is_pointless_and_refused() -> None:
    assert "kafkarig's admin user, a super user" in invalid(
        SASL, [APP], [acl(principal="User:admin")]
    )


def test_an_operation_is_checked_against_its_resource_type_with_a_near_miss() -> None:
    message = invalid(SASL, [APP], [acl(operations=["read", "wrtie"])])
    assert '[[acls]] #1 (t) operations.1: "wrtie" is not an operation on a topic' in message
    assert "did you mean 'write'?" in message
    group = invalid(SASL, [APP], [acl(resource="group", operations=["write"])])
    assert '"write" is not an operation on a group' in group


def test_a_misspelt_resource_type_suggests_the_near_miss() -> None:
    assert "did you mean 'topic'?" in invalid(SASL, [APP], [acl(resource="topc")])


def test_an_acl_needs_operations_and_a_name() -> None:
    assert "no operations; an ACL allows or denies at least one" in invalid(
        SASL, [APP], [acl(operations=[])]
    )
    assert "a group ACL needs the group's name" in invalid(
        SASL, [APP], [acl(resource="group", name="")]
    )


def test_the_cluster_resource_has_one_name_and_no_prefix() -> None:
    cluster = stack(SASL, [APP], [acl(resource="cluster", name="", operations=["describe"])])
    assert cluster.acls[0].resource_name == "kafka-cluster"
    assert "is not the cluster's name" in invalid(
        SASL, [APP], [acl(resource="cluster", name="prod", operations=["describe"])]
    )


def test_a_prefixed_star_is_refused_with_what_was_meant() -> None:
    message = invalid(SASL, [APP], [acl(name="*", pattern="prefixed")])
    assert 'for every resource write name = "*" with pattern = "literal"' in message


def test_the_same_acl_twice_is_refused() -> None:
    message = invalid(SASL, [APP], [acl(), acl(operations=["read", "write"])])
    assert 'allow read on topic "t" for User:app is already declared by [[acls]] #1' in message


def test_unknown_keys_in_the_new_sections_suggest_the_near_miss() -> None:
    assert "unknown key 'protocl' in [security]; did you mean 'protocol'?" in invalid(
        {"protocl": "x"}
    )
    assert "unknown key 'pasword' in [[users]] #1 (app); did you mean 'password'?" in invalid(
        SASL, [{"name": "app", "pasword": "x"}]
    )
    assert "unknown key 'operation' in [[acls]] #1 (t); did you mean 'operations'?" in invalid(
        SASL, [APP], [{"principal": "User:app", "resource": "topic", "name": "t", "operation": []}]
    )
