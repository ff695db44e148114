"""``examples/secure.toml`` brought up by kafkarig, in KRaft mode (Kafka 4.4,
StandardAuthorizer) and in ZooKeeper mode (Kafka 3.9, AclAuthorizer): who gets in, who is
denied what (each with the authorization error named), the smoke suite logged in as
``app`` (through the stack file, and through a client config from a folder with no stack
file), host-name checking, kcat and Kafka's own tools with the generated configs, and a
second ``up`` and ``plan`` that find every user and ACL as declared.

One stack per mode serves every test of the module (it takes ~30 s to come up).
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Final

import pytest
from confluent_kafka import Consumer, KafkaError, Producer
from python_on_whales import DockerClient

from harness import admin as admin_ops
from harness import kcat, kcat_library
from harness.reader import ReadError, read_tail
from infra import lifecycle
from infra.acls import KeepAcl
from infra.config import build_stack
from infra.credentials import ADMIN_PASSWORD_FILE, state_dir
from infra.users import KeepUser, UpdateUserPassword
from tests.integration.secure_stack import SEED_TOPIC, SecureStack, refusal, secure_stack

MODES: Final = ("kraft", "zookeeper")


@pytest.fixture(scope="module", params=MODES)
def secure(
    request: pytest.FixtureRequest,
    local_images: list[str],
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[SecureStack]:
    """examples/secure.toml, up (in ZooKeeper mode: the same file with mode = "zookeeper")."""
    mode = str(request.param)
    with secure_stack(
        "secure.toml",
        tmp_path_factory.mktemp(mode),
        lambda text: text.replace('mode = "kraft"', f'mode = "{mode}"'),
    ) as running:
        assert running.stack.cluster.mode == mode
        yield running


def test_a_client_without_credentials_gets_no_metadata(secure: SecureStack) -> None:
    ca = secure.config("app")["ssl.ca.location"]
    # TLS without SASL: the broker closes the connection after the handshake; plaintext:
    # at once. librdkafka says "all brokers are down" either way.
    for config in ({"security.protocol": "SSL", "ssl.ca.location": ca}, {}):
        errors = refusal(secure.bootstrap, config)
        assert KafkaError._ALL_BROKERS_DOWN in {e.code() for e in errors.seen}, errors.last()


def test_a_wrong_password_is_refused_as_an_authentication_failure(secure: SecureStack) -> None:
    errors = refusal(secure.bootstrap, secure.config("app", sasl_password="not-the-password"))
    assert KafkaError._AUTHENTICATION in {e.code() for e in errors.seen}, errors.last()
    assert any("invalid credentials" in e.str() for e in errors.seen), errors.last()


def _first_error_named(consumer: Consumer, wanted: int, timeout_s: float = 30) -> list[str]:
    """Poll until the error ``wanted`` comes; every error name seen until then."""
    seen: list[str] = []
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        message = consumer.poll(0.5)
        error = message.error() if message is not None else None
        if error is not None:
            seen.append(error.name())
            if error.code() == wanted:
                return seen
    raise AssertionError(f"no {KafkaError(wanted).name()} within {timeout_s} s; seen {seen}")


def test_stranger_is_denied_writing_reading_and_joining_a_group(secure: SecureStack) -> None:
    stranger = secure.config("stranger")
    client = {**stranger, "bootstrap.servers": secure.bootstrap}
    reports: list[KafkaError | None] = []
    # Not idempotent: an idempotent producer would fail first, fatally, asking for a
    # producer id (CLUSTER_AUTHORIZATION_FAILED).
    producer = Producer({**client, "enable.idempotence": False})
    producer.produce(SEED_TOPIC, b"{}", on_delivery=lambda error, _: reports.append(error))
    producer.flush(30)
    assert [r.name() if r else None for r in reports] == ["TOPIC_AUTHORIZATION_FAILED"]

    with pytest.raises(ReadError, match=r"\(TOPIC_AUTHORIZATION_FAILED\)"):
        read_tail(secure.bootstrap, SEED_TOPIC, max_records=1, group_id="app-x", config=stranger)
    joiner = Consumer({**client, "group.id": "app-stranger", "enable.auto.commit": False})
    joiner.subscribe([SEED_TOPIC])
    try:
        _first_error_named(joiner, KafkaError.GROUP_AUTHORIZATION_FAILED)
    finally:
        joiner.close()


def test_a_client_checking_host_names_refuses_a_name_not_in_the_certificate(
    secure: SecureStack,
) -> None:
    # The certificate names localhost and the container; 127.0.0.1 is the same broker.
    wrong_name = secure.bootstrap.replace("localhost", "127.0.0.1")
    errors = refusal(wrong_name, secure.config("app"))
    assert KafkaError._SSL in {e.code() for e in errors.seen}, errors.last()
    assert any("certificate verify failed" in e.str() for e in errors.seen), errors.last()


def _smoke(
    cwd: Path, *args: str, timeout_s: float = 600
) -> tuple[subprocess.CompletedProcess[str], str]:
    command = [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-q"]
    command += ["--pyargs", "harness.smoke", *args]
    started = time.monotonic()
    result = subprocess.run(command, cwd=cwd, capture_output=True, text=True, timeout=timeout_s)
    summary = result.stdout[result.stdout.find("kafkarig smoke summary") :]
    print(f"smoke suite over SASL_SSL: {time.monotonic() - started:.1f} s\n{summary}")
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-2000:]
    assert "LEFT BEHIND" not in summary
    return result, summary


def test_app_passes_the_smoke_suite_through_the_stack_file(
    secure: SecureStack, tmp_path: Path
) -> None:
    _, summary = _smoke(tmp_path, "--stack", str(secure.file))
    assert "client config: stack kafkarig-secure as user app (sasl_ssl)" in summary
    assert "kafkarig's own stack" in summary
    assert "ok   test_smoke::test_kcat_sees_exactly_what_was_produced" in summary
    assert "ok   test_smoke::test_seed_message_round_trips" in summary


def test_app_passes_the_smoke_suite_with_a_client_config_and_no_stack_file(
    secure: SecureStack, tmp_path: Path
) -> None:
    if secure.stack.cluster.mode != "kraft":
        pytest.skip("the client-config route is checked once, on examples/secure.toml itself")
    config = tmp_path / "app.properties"
    written = secure.kafkarig("client-config", "--user", "app", "--output", str(config))
    assert written.returncode == 0, written.stderr
    assert config.stat().st_mode & 0o777 == 0o600
    empty = tmp_path / "elsewhere"
    empty.mkdir()
    _, summary = _smoke(empty, "--bootstrap", "localhost:9092", "--client-config", str(config))
    assert "a cluster kafkarig did not start" in summary
    assert "ok   test_smoke::test_kcat_sees_exactly_what_was_produced" in summary


def test_kcat_with_the_generated_config_lists_the_topics(
    secure: SecureStack, tmp_path: Path
) -> None:
    config = tmp_path / "app.kcat"
    written = secure.kafkarig("client-config", "--user", "app", "--format", "kcat")
    assert written.returncode == 0, written.stderr
    config.write_text(written.stdout)
    # `kafkarig kcat` runs the system kcat, with a librdkafka that can log in with SCRAM to
    # Kafka 4.x when the system's cannot (Debian 12: 2.0.2). The file names the brokers.
    listed = subprocess.run(
        [sys.executable, "-m", "infra", "kcat", "-F", str(config), "-L", "-J"],
        capture_output=True,
        timeout=60,
    )
    assert listed.returncode == 0, listed.stderr.decode()
    assert {SEED_TOPIC, f"{SEED_TOPIC}-dlq"} <= set(kcat.parse_metadata(listed.stdout).topics)


def test_kafka_tools_in_the_container_log_in_with_the_admin_properties(
    docker: DockerClient, secure: SecureStack
) -> None:
    port = secure.stack.brokers[0].host_port
    tool = ["kafka-topics", "--list", "--bootstrap-server"]
    secured = [*tool, f"localhost:{port}", "--command-config", "/etc/kafka/admin.properties"]
    assert SEED_TOPIC in str(docker.execute("kafka", secured)).split()
    # The INTERNAL listener stays plaintext inside the compose network: no config needed.
    assert SEED_TOPIC in str(docker.execute("kafka", [*tool, "localhost:19092"])).split()


def test_secrets_on_the_host_are_private(secure: SecureStack) -> None:
    directory = state_dir(secure.stack, secure.root)
    private = [directory / ADMIN_PASSWORD_FILE, *(directory / "tls").glob("*key*.pem")]
    assert len(private) == 3  # the admin password, the CA key, the broker keystore
    assert {path.name: path.stat().st_mode & 0o777 for path in private} == {
        path.name: 0o600 for path in private
    }


def test_a_second_up_starts_nothing_and_finds_every_user_and_acl_as_declared(
    secure: SecureStack,
) -> None:
    again = lifecycle.up(secure.stack, secure.root)
    assert again.containers == []
    users, acls = again.plan.of_kind("user"), again.plan.of_kind("acl")
    assert [a.name for a in users] == ["admin", "app", "stranger"]
    assert all(isinstance(a, KeepUser) for a in users), [a.render() for a in users]
    assert len(acls) == len(secure.stack.acls)
    assert all(isinstance(a, KeepAcl) for a in acls), [a.render() for a in acls]


def test_a_changed_password_is_planned_and_updated_by_up(secure: SecureStack) -> None:
    data = secure.stack.model_dump(exclude_none=True)
    stranger = next(u for u in data["users"] if u["name"] == "stranger")
    stranger["password"] = f"changed-{uuid.uuid4().hex[:8]}"
    changed = build_stack(data, env={}).with_source_file(secure.file)
    try:
        planned = [a for a in lifecycle.plan(changed).of_kind("user") if a.name == "stranger"]
        assert [type(a) for a in planned] == [UpdateUserPassword]
        lifecycle.up(changed, secure.root)
        errors = refusal(secure.bootstrap, secure.config("stranger"))  # the old password
        assert KafkaError._AUTHENTICATION in {e.code() for e in errors.seen}, errors.last()
    finally:
        lifecycle.up(secure.stack, secure.root)
    assert not [a for a in lifecycle.plan(secure.stack).changes if a.kind == "user"]


def test_certificates_made_again_recreate_the_brokers_that_serve_the_old_ones(
    secure: SecureStack,
) -> None:
    if secure.stack.cluster.mode != "kraft":
        pytest.skip("renewal is the same in both modes; checked once")
    shutil.rmtree(state_dir(secure.stack, secure.root) / "tls")  # a lost CA: all made again
    report = lifecycle.up(secure.stack, secure.root)
    assert report.containers == ["recreated kafka (its certificates were made again)"]
    # A client trusting only the new CA gets in: the broker serves a certificate it signed.
    admin_ops.wait_for_cluster(secure.bootstrap, secure.config("app"), timeout_s=30)


def test_the_harness_kcat_logs_in_with_scram_whatever_the_systems_librdkafka(
    secure: SecureStack,
) -> None:
    system = kcat.find_kcat()
    metadata = kcat.list_metadata(secure.bootstrap, config=secure.config("app"))
    assert SEED_TOPIC in metadata.topics
    used = kcat_library.effective_librdkafka_version(system)
    print(f"{system}: links librdkafka {kcat_library.librdkafka_version(system)}, runs with {used}")
    if secure.stack.cluster.mode == "kraft":  # Kafka 4.x refuses older librdkafka's SCRAM
        assert used is not None and used >= kcat_library.SCRAM_FIXED_IN
