"""A secure stack's credentials on this machine, without Docker: the admin password, users'
passwords from the file or the environment, certificates, client settings, the files copied
into each broker container, and the plan of users and ACLs."""

from __future__ import annotations

import io
import tarfile
from pathlib import Path
from typing import Any

import pytest
from confluent_kafka.admin import AclOperation, AclPermissionType, ResourcePatternType, ResourceType

from infra.acls import CreateAcl, KeepAcl, binding_key, plan_acls, spec_keys, to_binding
from infra.config import Stack, build_stack
from infra.credentials import (
    ADMIN_PASSWORD_FILE,
    CredentialError,
    admin_client_config,
    admin_password,
    broker_identities,
    client_settings,
    ensure_tls_files,
    state_dir,
    user_password,
)
from infra.declared import declared_kinds, plan_declared_offline
from infra.secrets import broker_archive
from infra.users import CreateAdmin, CreateUser, UserResources

SASL: dict[str, Any] = {"protocol": "sasl_ssl"}


def make(
    tmp_path: Path, security: dict[str, Any], users: list[dict[str, Any]], **extra: Any
) -> Stack:
    stack = build_stack({"security": security, "users": users, **extra}, env={})
    path = tmp_path / "stack.toml"
    path.touch()
    return stack.with_source_file(path)


def _mode(path: Path) -> int:
    return path.stat().st_mode & 0o777


def test_the_admin_password_is_generated_once_kept_private_and_reused(tmp_path: Path) -> None:
    stack = make(tmp_path, SASL, [{"name": "app", "password": "x"}])
    first = admin_password(stack)
    path = state_dir(stack) / ADMIN_PASSWORD_FILE
    assert path == tmp_path / ".kafkarig" / "kafkarig" / ADMIN_PASSWORD_FILE
    assert _mode(path) == 0o600 and len(first) >= 32
    assert not set(first) & set(",[]= ")  # safe for kafka-configs and client configs
    path.chmod(0o644)
    assert admin_password(stack) == first
    assert _mode(path) == 0o600


def test_a_declared_admin_password_wins_and_nothing_is_generated(tmp_path: Path) -> None:
    stack = make(tmp_path, SASL, [{"name": "admin", "password": "root-pw"}])
    assert admin_password(stack) == "root-pw"
    assert not (state_dir(stack) / ADMIN_PASSWORD_FILE).exists()


def test_a_password_from_the_environment_is_read_when_needed(tmp_path: Path) -> None:
    stack = make(tmp_path, SASL, [{"name": "app", "password_env": "APP_PW"}])
    assert user_password(stack, "app", env={"APP_PW": "from-env"}) == "from-env"
    with pytest.raises(CredentialError, match="APP_PW, which is not set") as caught:
        user_password(stack, "app", env={})
    assert "export APP_PW=" in (caught.value.hint or "")


def test_an_unknown_user_names_the_users_there_are(tmp_path: Path) -> None:
    stack = make(tmp_path, SASL, [{"name": "app", "password": "x"}])
    with pytest.raises(CredentialError, match=r"no user 'bob' \(users: admin, app\)"):
        client_settings(stack, "bob")


def test_broker_certificates_name_the_advertised_host_the_container_and_localhost(
    tmp_path: Path,
) -> None:
    stack = make(tmp_path, SASL, [], cluster={"brokers": 2, "advertised_host": "kafka.test"})
    assert [(b.name, b.hosts) for b in broker_identities(stack)] == [
        ("kafka-1", ("kafka.test", "kafka-1", "localhost")),
        ("kafka-2", ("kafka.test", "kafka-2", "localhost")),
    ]


def test_host_and_container_settings_of_a_sasl_ssl_user(tmp_path: Path) -> None:
    stack = make(tmp_path, SASL, [{"name": "app", "password": "app-pw"}])
    host = client_settings(stack, "app")
    assert (host.bootstrap, host.protocol, host.mechanism, host.user, host.password) == (
        "localhost:9092",
        "sasl_ssl",
        "SCRAM-SHA-512",
        "app",
        "app-pw",
    )
    assert host.ca_path == tmp_path / ".kafkarig" / "kafkarig" / "tls" / "ca.pem"
    inside = client_settings(stack, inside=stack.brokers[0])
    assert (inside.user, inside.ca_path) == ("admin", Path("/etc/kafka/tls/ca.pem"))


def test_the_admins_client_config_is_empty_for_plaintext_and_logs_in_otherwise(
    tmp_path: Path,
) -> None:
    assert admin_client_config(make(tmp_path, {}, [])) == {}
    config = admin_client_config(make(tmp_path, SASL, []))
    assert config["sasl.username"] == "admin"
    assert config["ssl.endpoint.identification.algorithm"] == "https"
    assert "bootstrap.servers" not in config


def test_client_certificate_users_get_a_keystore_each_and_no_password(tmp_path: Path) -> None:
    stack = make(tmp_path, {"protocol": "ssl", "client_certificates": True}, [{"name": "app"}])
    tls = ensure_tls_files(stack)
    assert tls is not None and sorted(tls.clients) == ["admin", "app"]
    assert all(_mode(path) == 0o600 for path in tls.clients.values())
    settings = client_settings(stack, "app")
    assert settings.password is None and settings.client_keystore == tls.clients["app"]
    again = ensure_tls_files(stack)
    assert again is not None and again.changes == ()


def _archive(stack: Stack, tmp_path: Path) -> dict[str, tarfile.TarInfo | bytes]:
    tls = ensure_tls_files(stack)
    data = broker_archive(stack, stack.brokers[0], tls, tmp_path)
    found: dict[str, tarfile.TarInfo | bytes] = {}
    with tarfile.open(fileobj=io.BytesIO(data)) as archive:
        for member in archive.getmembers():
            found[member.name] = member
            file = archive.extractfile(member)
            if file is not None:
                found[member.name + ":content"] = file.read()
    return found


def test_each_broker_gets_its_files_owned_by_uid_1000_with_private_keys(tmp_path: Path) -> None:
    stack = make(tmp_path, SASL, [{"name": "app", "password": "x"}])
    found = _archive(stack, tmp_path)
    members = {name: m for name, m in found.items() if isinstance(m, tarfile.TarInfo)}
    assert {name: (m.uid, m.gid, m.mode) for name, m in members.items()} == {
        "kafka/tls": (1000, 1000, 0o700),
        "kafka/tls/ca.pem": (1000, 1000, 0o644),
        "kafka/tls/kafka.keystore.pem": (1000, 1000, 0o600),
        "kafka/admin.properties": (1000, 1000, 0o600),
        "kafka/admin-scram.properties": (1000, 1000, 0o600),
    }
    properties = found["kafka/admin.properties:content"]
    assert isinstance(properties, bytes)
    assert b"bootstrap.servers=localhost:9092\n" in properties
    assert b"ssl.truststore.location=/etc/kafka/tls/ca.pem\n" in properties
    assert b'username="admin"' in properties
    scram = found["kafka/admin-scram.properties:content"]
    expected = f"SCRAM-SHA-512=iterations=8192,password={admin_password(stack)}\n"
    assert scram == expected.encode()


def test_a_sasl_plaintext_broker_gets_no_tls_files(tmp_path: Path) -> None:
    stack = make(tmp_path, {"protocol": "sasl_plaintext"}, [{"name": "app", "password": "x"}])
    names = {name for name in _archive(stack, tmp_path) if not name.endswith(":content")}
    assert names == {"kafka/admin.properties", "kafka/admin-scram.properties"}


# --------------------------------------------------------------------------- plans


def test_a_secure_stack_plans_users_and_acls_before_topics(tmp_path: Path) -> None:
    stack = make(
        tmp_path,
        SASL,
        [{"name": "app", "password": "x"}, {"name": "stranger", "password": "y"}],
        acls=[{"principal": "User:app", "resource": "topic", "name": "t", "operations": ["read"]}],
        topics=[{"name": "t"}],
    )
    assert declared_kinds(stack) == ["user", "acl", "topic"]
    plan = plan_declared_offline(stack)
    assert [(a.kind, a.name, type(a)) for a in plan.actions] == [
        ("user", "admin", CreateAdmin),
        ("user", "app", CreateUser),
        ("user", "stranger", CreateUser),
        ("acl", "User:app", CreateAcl),
        ("topic", "t", type(plan.actions[-1])),
    ]
    assert "kafkarig's admin, a super user (its password in " in plan.actions[0].describe()
    assert declared_kinds(make(tmp_path, {}, [])) == ["topic"]
    assert UserResources(stack).plan_offline().actions[1].describe() == "SCRAM-SHA-512 credential"


def _acl_stack(tmp_path: Path) -> Stack:
    return make(
        tmp_path,
        SASL,
        [{"name": "app", "password": "x"}],
        acls=[
            {"principal": "User:app", "resource": "topic", "name": "t",
             "operations": ["read", "write"]},
            {"principal": "User:app", "resource": "group", "name": "app-", "pattern": "prefixed",
             "operations": ["read"]},
        ],
    )  # fmt: skip


def test_the_acl_plan_creates_only_missing_bindings_and_notes_undeclared_ones(
    tmp_path: Path,
) -> None:
    specs = _acl_stack(tmp_path).acls
    read = spec_keys(specs[0])[0]
    undeclared = ("topic", "other", "literal", "User:app", "*", "describe", "allow")
    existing = {read, *spec_keys(specs[1]), undeclared}
    plan = plan_acls(specs, existing)
    first, second = plan.actions
    assert isinstance(first, CreateAcl) and [key[5] for key in first.missing] == ["write"]
    assert first.describe() == "allow write on topic t"
    assert isinstance(second, KeepAcl)
    assert second.describe() == "allow read on group app- (prefixed), as declared"
    assert len(plan.notes) == 1 and "up leaves it alone" in plan.notes[0]
    assert "allow describe on topic other (literal)" in plan.notes[0]


def test_an_acl_key_round_trips_through_the_admin_clients_binding(tmp_path: Path) -> None:
    for spec in _acl_stack(tmp_path).acls:
        for key in spec_keys(spec):
            assert binding_key(to_binding(key)) == key
    binding = to_binding(spec_keys(_acl_stack(tmp_path).acls[1])[0])
    assert (binding.restype, binding.resource_pattern_type) == (
        ResourceType.GROUP,
        ResourcePatternType.PREFIXED,
    )
    assert (binding.operation, binding.permission_type) == (
        AclOperation.READ,
        AclPermissionType.ALLOW,
    )
    cluster = make(
        tmp_path,
        SASL,
        [{"name": "app", "password": "x"}],
        acls=[{"principal": "User:app", "resource": "cluster", "operations": ["idempotent_write"]}],
    ).acls[0]
    assert to_binding(spec_keys(cluster)[0]).restype == ResourceType.BROKER  # Kafka's CLUSTER
