"""A secure broker built from kafkarig's TLS files and client configs, in KRaft mode
(Kafka 4.4, StandardAuthorizer) and ZooKeeper mode (Kafka 3.9, AclAuthorizer): who gets in,
who is denied what (with the authorization error named), and the harness, kcat and Kafka's
own tools working through generated client configs. The broker settings are in
:mod:`tests.integration.secure_broker`.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import pytest
from confluent_kafka import Consumer, KafkaError, KafkaException, Message, Producer
from python_on_whales import DockerClient

from harness import admin as admin_ops
from harness import kcat
from harness.admin import ClientErrors
from harness.consumer import RetryingConsumer
from harness.dlq_writer import DlqOptions
from harness.errors import KcatError
from harness.producer import JsonProducer
from harness.reader import ReadError, read_tail
from tests.integration.conftest import free_port
from tests.integration.secure_broker import (
    MODES,
    SEED_TOPIC,
    TLS_MOUNT,
    SecureBroker,
    kcat_with_scram_for_kafka_4,
    secure_broker,
)


@pytest.fixture(scope="module", params=MODES)
def broker(
    request: pytest.FixtureRequest,
    docker: DockerClient,
    local_images: list[str],
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[SecureBroker]:
    """The SASL_SSL broker with users admin, app (ACLs) and stranger (no ACLs)."""
    mode = str(request.param)
    with secure_broker(
        docker, mode, tmp_path_factory.mktemp(mode), uuid.uuid4().hex[:8], free_port()
    ) as running:
        yield running


@pytest.fixture(scope="module")
def scram_kcat(tmp_path_factory: pytest.TempPathFactory) -> str:
    """A kcat whose librdkafka can log in with SCRAM to Kafka 4.x."""
    return kcat_with_scram_for_kafka_4(tmp_path_factory.mktemp("kcat"))


def _refusal(config: Mapping[str, Any], bootstrap: str) -> ClientErrors:
    """Ask for metadata with ``config``, expect no answer, and return the client's errors."""
    errors = ClientErrors()
    settings = {**config, "socket.connection.setup.timeout.ms": 5000}
    admin = admin_ops.admin_client(bootstrap, settings, errors=errors)
    with pytest.raises(KafkaException):
        admin.list_topics(timeout=8)
    admin.poll(1)  # error_cb runs inside poll()
    return errors


def test_a_client_without_credentials_gets_no_metadata(broker: SecureBroker) -> None:
    ca = str(broker.tls.ca_cert)
    # TLS without SASL: the broker closes the connection at the first request after the
    # handshake; plaintext: it closes it at once (librdkafka: "all brokers are down").
    for config in ({"security.protocol": "SSL", "ssl.ca.location": ca}, {}):
        errors = _refusal(config, broker.bootstrap)
        assert KafkaError._ALL_BROKERS_DOWN in {e.code() for e in errors.seen}, errors.last()


def test_a_wrong_password_is_refused_as_an_authentication_failure(broker: SecureBroker) -> None:
    errors = _refusal(broker.config("app", "not-the-password"), broker.bootstrap)
    assert KafkaError._AUTHENTICATION in {e.code() for e in errors.seen}, errors.last()
    assert any("invalid credentials" in e.str() for e in errors.seen), errors.last()


def _first_error_named(consumer: Consumer, wanted: int, timeout_s: float = 20) -> list[str]:
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


def test_a_user_without_acls_is_denied_writing_reading_and_joining_a_group(
    broker: SecureBroker,
) -> None:
    stranger = broker.config("stranger")
    stranger_client = {**stranger, "bootstrap.servers": broker.bootstrap}
    reports: list[KafkaError | None] = []
    # Not idempotent: the stranger's idempotent producer would also fail fatally with
    # CLUSTER_AUTHORIZATION_FAILED when it asks for a producer id.
    producer = Producer({**stranger_client, "enable.idempotence": False})
    producer.produce(SEED_TOPIC, b"{}", on_delivery=lambda error, _: reports.append(error))
    producer.flush(30)
    assert [r.name() if r else None for r in reports] == ["TOPIC_AUTHORIZATION_FAILED"]

    # Reading: the harness's group-less reader (assigned partitions) is refused the topic.
    with pytest.raises(ReadError, match=r"\(TOPIC_AUTHORIZATION_FAILED\)"):
        read_tail(broker.bootstrap, SEED_TOPIC, max_records=1, group_id="app-x", config=stranger)
    joiner = Consumer({**stranger_client, "group.id": "app-stranger", "enable.auto.commit": False})
    joiner.subscribe([SEED_TOPIC])
    try:
        _first_error_named(joiner, KafkaError.GROUP_AUTHORIZATION_FAILED)
    finally:
        joiner.close()


def test_an_allowed_user_produces_and_consumes(broker: SecureBroker) -> None:
    app = broker.config("app")
    marker = uuid.uuid4().hex
    with JsonProducer(broker.bootstrap, config=app) as producer:
        producer.send(SEED_TOPIC, {"user_id": 1, "action": "login"}, key=marker)
        producer.flush()
    keys: list[bytes | None] = []

    def until_marker(value: Any, message: Message) -> None:
        keys.append(message.key())
        if message.key() == marker.encode():
            consumer.stop("the marker record arrived")

    with RetryingConsumer(
        broker.bootstrap, SEED_TOPIC, group_id=f"app-{marker[:8]}", config=app,
        dlq=DlqOptions(producer_config=app),
    ) as consumer:  # fmt: skip
        # The first group of a fresh cluster waits for __consumer_offsets to be created.
        consumer.run(until_marker, idle_timeout_s=60)
    assert marker.encode() in keys


def test_a_client_checking_host_names_refuses_the_broker_under_a_name_not_in_its_certificate(
    broker: SecureBroker,
) -> None:
    wrong_name = f"127.0.0.1:{broker.port}"  # the certificate names localhost and the container
    errors = _refusal(broker.config("app"), wrong_name)
    assert KafkaError._SSL in {e.code() for e in errors.seen}, errors.last()
    assert any("certificate verify failed" in e.str() for e in errors.seen), errors.last()


def _kcat_list(executable: str, config_file: Path) -> subprocess.CompletedProcess[bytes]:
    # The generated file names the bootstrap servers itself: no -b.
    return subprocess.run(
        [executable, "-F", str(config_file), "-L", "-J"], capture_output=True, timeout=30
    )


def test_kcat_with_the_generated_config_lists_the_topics(
    broker: SecureBroker, scram_kcat: str
) -> None:
    executable = scram_kcat if broker.mode == "kraft" else kcat.find_kcat()
    listed = _kcat_list(executable, broker.config_file("app", "kcat"))
    assert listed.returncode == 0, listed.stderr.decode()
    assert SEED_TOPIC in kcat.parse_metadata(listed.stdout).topics


def test_an_old_kcats_refused_scram_login_to_kafka_4_is_explained(broker: SecureBroker) -> None:
    system = kcat.find_kcat()
    version = kcat.librdkafka_version(system)
    old = version is not None and version < kcat.SCRAM_FIXED_IN
    if broker.mode != "kraft" or not old:
        pytest.skip(f"needs Kafka 4 and a kcat with librdkafka < 2.6.1 (here {version})")
    with pytest.raises(KcatError) as info:
        kcat.list_metadata(broker.bootstrap, config=broker.config("app"), kcat=system)
    assert "librdkafka issue #4895" in (info.value.hint or "")


def test_kafka_tools_in_the_container_work_with_the_generated_java_config(
    docker: DockerClient, broker: SecureBroker
) -> None:
    command = ["kafka-topics", "--bootstrap-server", broker.bootstrap, "--list"]
    command += ["--command-config", f"{TLS_MOUNT}/admin.properties"]
    assert SEED_TOPIC in str(docker.execute(broker.name, command)).split()


def test_the_smoke_suite_passes_over_sasl_ssl_with_a_client_config(
    broker: SecureBroker, scram_kcat: str, tmp_path: Path
) -> None:
    command = [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-q", "--pyargs"]
    command += ["harness.smoke.test_smoke", "harness.smoke.test_seed_snippets"]
    command += ["--bootstrap", broker.bootstrap, "--client-config", str(broker.config_file("app"))]
    started = time.monotonic()
    result = subprocess.run(
        command, cwd=tmp_path, capture_output=True, text=True, timeout=600,
        env={**os.environ, "KAFKARIG_KCAT": scram_kcat},
    )  # fmt: skip
    elapsed_s = time.monotonic() - started
    summary = result.stdout[result.stdout.find("kafkarig smoke summary") :]
    print(f"smoke suite over SASL_SSL ({broker.mode}): {elapsed_s:.1f} s\n{summary}")
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-2000:]
    assert "ok   test_smoke::test_kcat_sees_exactly_what_was_produced" in summary
    assert "ok   test_smoke::test_seed_message_round_trips" in summary
    assert "LEFT BEHIND" not in summary
