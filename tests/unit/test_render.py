"""Rendering stack.toml into docker-compose: golden files per topology x flavor, structural
facts of the rendered YAML, and the KAFKA_* environment variable mapping.

Regenerate the golden files after an intended change with
``KAFKARIG_UPDATE_GOLDEN=1 pytest tests/unit/test_render.py`` and review the diff.
"""

from __future__ import annotations

import os
import random
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import jinja2
import pytest
import yaml

from infra.config import (
    KRAFT_DEFAULT_PROPERTIES,
    LAUNCHER_VARIABLES,
    TEMPLATE_DEFAULT_PROPERTIES,
    TEMPLATE_OWNED_PROPERTIES,
    Stack,
    load_stack,
)
from infra.render import (
    compose_context,
    env_to_property,
    property_to_env,
    render_compose,
    service_hashes,
    write_compose,
    yaml_string,
)
from infra.templates import COMPOSE_TEMPLATE, templates_dir

from .conftest import StackFactory

GOLDEN_DIR = Path(__file__).resolve().parent / "golden"
UPDATE_GOLDEN = os.environ.get("KAFKARIG_UPDATE_GOLDEN") == "1"

# name -> [cluster] keys. Every topology x flavor the images support, plus one stack that
# exercises every optional key.
GOLDEN_STACKS: dict[str, dict[str, Any]] = {
    "kraft-1-apache": {"flavor": "apache"},
    "kraft-1-confluent": {"flavor": "confluent"},
    "kraft-1-local": {"flavor": "local"},
    "kraft-3-apache": {"flavor": "apache", "brokers": 3},
    "kraft-3-confluent": {"flavor": "confluent", "brokers": 3},
    "kraft-3-local": {"flavor": "local", "brokers": 3},
    "zookeeper-1-confluent": {"flavor": "confluent", "mode": "zookeeper"},
    "zookeeper-1-local": {"flavor": "local", "mode": "zookeeper"},
    "zookeeper-3-local": {"flavor": "local", "mode": "zookeeper", "brokers": 3},
    "kraft-2-local-custom": {
        "flavor": "local",
        "brokers": 2,
        "kafka_version": "3.9.2",
        "host": "0.0.0.0",
        "advertised_host": "kafka.example.com",
        "port": 29092,
        "heap": "1g",
        "broker_config": {
            "log.retention.hours": 24,
            "num.network.threads": 4,
            "log.cleaner.enable": True,
            "sasl.jaas.config": 'x required user="$USER";',
        },
    },
}


@pytest.fixture(autouse=True)
def _no_flavor_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("KAFKARIG_FLAVOR", raising=False)


def golden_stack(make_stack: StackFactory, name: str) -> Stack:
    project = "orders" if name.endswith("-custom") else None
    return make_stack(project=project, **GOLDEN_STACKS[name])


def parse(text: str) -> dict[str, Any]:
    document = yaml.safe_load(text)
    assert isinstance(document, dict)
    return document


# --------------------------------------------------------------------------- golden files


@pytest.mark.parametrize("name", sorted(GOLDEN_STACKS))
def test_rendered_compose_matches_the_golden_file(make_stack: StackFactory, name: str) -> None:
    rendered = render_compose(golden_stack(make_stack, name))
    golden = GOLDEN_DIR / f"{name}.yml"

    if UPDATE_GOLDEN:
        golden.write_text(rendered, encoding="utf-8")
    assert golden.exists(), (
        f"no golden file {golden}; run KAFKARIG_UPDATE_GOLDEN=1 pytest {__file__}"
    )
    assert rendered == golden.read_text(encoding="utf-8"), (
        f"{name} renders differently from {golden}; if intended, regenerate with "
        "KAFKARIG_UPDATE_GOLDEN=1 and review the diff"
    )


def test_every_golden_file_belongs_to_a_golden_stack() -> None:
    assert sorted(path.stem for path in GOLDEN_DIR.glob("*.yml")) == sorted(GOLDEN_STACKS)


@pytest.mark.integration
@pytest.mark.parametrize("name", sorted(GOLDEN_STACKS))
def test_golden_files_pass_docker_compose_config(name: str) -> None:
    if shutil.which("docker") is None:
        pytest.skip("docker CLI is not installed")
    golden = GOLDEN_DIR / f"{name}.yml"

    result = subprocess.run(
        ["docker", "compose", "-f", str(golden), "config", "-q"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )

    assert result.returncode == 0, result.stderr
    assert result.stderr == ""  # no warnings either (e.g. an unescaped '$')


# --------------------------------------------------------------------------- structure


@pytest.mark.parametrize("name", sorted(GOLDEN_STACKS))
def test_services_are_sorted_and_named_after_their_container(
    make_stack: StackFactory, name: str
) -> None:
    stack = golden_stack(make_stack, name)
    services = parse(render_compose(stack))["services"]

    assert list(services) == sorted(services) == stack.services
    for service_name, service in services.items():
        assert service["container_name"] == service_name
        assert service["hostname"] == service_name
        assert service["restart"] == "no"
        assert service["networks"] == [stack.project]
        assert ":latest" not in service["image"]
        assert "healthcheck" in service


@pytest.mark.parametrize("name", sorted(GOLDEN_STACKS))
def test_every_environment_value_is_a_string(make_stack: StackFactory, name: str) -> None:
    services = parse(render_compose(golden_stack(make_stack, name)))["services"]

    for service in services.values():
        assert all(isinstance(value, str) for value in service["environment"].values())


def test_the_default_stack_has_the_seeds_kafka_container_on_port_9092(
    make_stack: StackFactory,
) -> None:
    document = parse(render_compose(make_stack(flavor="local")))

    assert document["name"] == "kafkarig"
    [(name, kafka)] = document["services"].items()
    assert name == "kafka"
    assert kafka["container_name"] == "kafka"
    assert kafka["ports"] == ["127.0.0.1:9092:9092"]
    environment = kafka["environment"]
    assert environment["KAFKA_ADVERTISED_LISTENERS"] == (
        "INTERNAL://kafka:19092,HOST://localhost:9092"
    )
    assert environment["KAFKA_CONTROLLER_QUORUM_VOTERS"] == "1@kafka:19093"


def test_kraft_brokers_are_combined_nodes_of_one_quorum(make_stack: StackFactory) -> None:
    stack = make_stack(brokers=3, flavor="confluent")
    services = parse(render_compose(stack))["services"]

    for broker in stack.brokers:
        environment = services[broker.service]["environment"]
        assert environment["KAFKA_NODE_ID"] == str(broker.node_id)
        assert environment["KAFKA_PROCESS_ROLES"] == "broker,controller"
        assert environment["KAFKA_CONTROLLER_QUORUM_VOTERS"] == (
            "1@kafka-1:19093,2@kafka-2:19093,3@kafka-3:19093"
        )
        assert environment["KAFKA_CONTROLLER_LISTENER_NAMES"] == "CONTROLLER"
        assert environment["CLUSTER_ID"] == stack.cluster_id
        assert environment["KAFKA_LISTENERS"] == (
            f"INTERNAL://0.0.0.0:19092,HOST://0.0.0.0:{broker.host_port},CONTROLLER://0.0.0.0:19093"
        )
        assert environment["KAFKA_ADVERTISED_LISTENERS"] == (
            f"INTERNAL://{broker.service}:19092,HOST://localhost:{broker.host_port}"
        )
        assert environment["KAFKA_OFFSETS_TOPIC_REPLICATION_FACTOR"] == "3"
        assert environment["KAFKA_TRANSACTION_STATE_LOG_MIN_ISR"] == "2"
        assert "KAFKA_ZOOKEEPER_CONNECT" not in environment
        assert "depends_on" not in services[broker.service]


def test_zookeeper_brokers_wait_for_a_healthy_zookeeper(make_stack: StackFactory) -> None:
    stack = make_stack(mode="zookeeper", flavor="local", brokers=3)
    services = parse(render_compose(stack))["services"]

    for broker in stack.brokers:
        service = services[broker.service]
        environment = service["environment"]
        assert service["depends_on"] == {"zookeeper": {"condition": "service_healthy"}}
        assert environment["KAFKA_BROKER_ID"] == str(broker.node_id)
        assert environment["KAFKA_ZOOKEEPER_CONNECT"] == "zookeeper:2181"
        assert environment["KAFKA_LISTENERS"] == (
            f"INTERNAL://0.0.0.0:19092,HOST://0.0.0.0:{broker.host_port}"
        )
        for kraft_only in ("KAFKA_NODE_ID", "KAFKA_PROCESS_ROLES", "CLUSTER_ID"):
            assert kraft_only not in environment
    zookeeper = services["zookeeper"]
    assert zookeeper["image"] == "kafkarig/zookeeper:3.8.4"
    assert zookeeper["environment"] == {
        "ZOOKEEPER_CLIENT_PORT": "2181",
        "ZOOKEEPER_TICK_TIME": "2000",
        "KAFKA_HEAP_OPTS": "-Xmx256m -Xms256m",
    }
    assert "ports" not in zookeeper
    assert zookeeper["volumes"] == [
        "zookeeper-data:/var/lib/zookeeper/data",
        "zookeeper-log:/var/lib/zookeeper/log",
        "./tools:/opt/kafkarig/bin:ro",
    ]


def test_ports_are_published_on_the_host_interface_with_the_same_container_port(
    make_stack: StackFactory,
) -> None:
    services = parse(render_compose(make_stack(brokers=3, port=29092, host="::1")))["services"]

    assert [service["ports"] for service in services.values()] == [
        ["[::1]:29092:29092"],
        ["[::1]:29093:29093"],
        ["[::1]:29094:29094"],
    ]


def test_every_broker_keeps_its_data_in_a_declared_named_volume(make_stack: StackFactory) -> None:
    stack = make_stack(brokers=3)
    document = parse(render_compose(stack))

    for broker in stack.brokers:
        assert document["services"][broker.service]["volumes"] == [
            f"{broker.volume}:/var/lib/kafka/data",
            "./tools:/opt/kafkarig/bin:ro",
        ]
        assert document["services"][broker.service]["environment"]["KAFKA_LOG_DIRS"] == (
            "/var/lib/kafka/data"
        )
    assert list(document["volumes"]) == stack.volumes == sorted(document["volumes"])
    assert document["networks"] == {
        stack.project: {"driver": "bridge", "labels": {"dev.kafkarig.project": stack.project}}
    }


def test_broker_settings_become_environment_variables(make_stack: StackFactory) -> None:
    stack = make_stack(heap="1g", broker_config={"log.retention.hours": 24, "a_b-c.d": "x"})
    environment = parse(render_compose(stack))["services"]["kafka"]["environment"]

    assert environment["KAFKA_HEAP_OPTS"] == "-Xmx1g -Xms1g"
    assert environment["KAFKA_LOG_RETENTION_HOURS"] == "24"
    assert environment["KAFKA_A__B___C_D"] == "x"
    assert environment["KAFKA_AUTO_CREATE_TOPICS_ENABLE"] == "false"
    assert environment["KAFKA_GROUP_INITIAL_REBALANCE_DELAY_MS"] == "0"


def test_dollar_signs_are_escaped_for_compose(make_stack: StackFactory) -> None:
    stack = make_stack(broker_config={"sasl.jaas.config": 'user="$USER"'})
    environment = parse(render_compose(stack))["services"]["kafka"]["environment"]

    assert environment["KAFKA_SASL_JAAS_CONFIG"] == 'user="$$USER"'


def test_healthchecks_are_rendered_as_exec_arrays(make_stack: StackFactory) -> None:
    services = parse(render_compose(make_stack(mode="zookeeper", flavor="confluent")))["services"]

    assert services["kafka"]["healthcheck"] == {
        "test": ["CMD", "bash", "/opt/kafkarig/bin/kafkarig-probe", "kafka", "127.0.0.1:19092"],
        "interval": "2s",
        "timeout": "5s",
        "retries": 60,
    }
    assert services["zookeeper"]["healthcheck"]["test"] == [
        "CMD",
        "bash",
        "/opt/kafkarig/bin/kafkarig-probe",
        "zookeeper",
        "127.0.0.1:2181",
    ]


def test_the_file_says_it_is_generated(make_stack: StackFactory) -> None:
    first_line = render_compose(make_stack()).splitlines()[0]

    assert first_line.startswith("# Generated by kafkarig from stack.toml: do not edit")


def test_rendering_is_deterministic(make_stack: StackFactory) -> None:
    assert render_compose(make_stack(brokers=3)) == render_compose(make_stack(brokers=3))


def test_the_template_refuses_missing_context(make_stack: StackFactory) -> None:
    environment = jinja2.Environment(
        loader=jinja2.FileSystemLoader(templates_dir()), undefined=jinja2.StrictUndefined
    )
    environment.filters["yaml_string"] = yaml_string
    context = compose_context(make_stack())
    del context["cluster_id"]

    with pytest.raises(jinja2.UndefinedError, match="cluster_id"):
        environment.get_template(COMPOSE_TEMPLATE).render(context)


def test_write_compose_writes_into_the_projects_state_dir(
    make_stack: StackFactory, tmp_path: Path
) -> None:
    stack = make_stack(project="orders")

    path = write_compose(stack, tmp_path)

    assert path == tmp_path / ".kafkarig" / "orders" / "docker-compose.yml"
    assert path.read_text(encoding="utf-8") == render_compose(stack)
    # No temporary file left behind; the tools directory mounted into the containers.
    assert sorted(path.parent.iterdir()) == [path, path.parent / "tools"]


def test_write_compose_replaces_an_older_file(make_stack: StackFactory, tmp_path: Path) -> None:
    write_compose(make_stack(brokers=1), tmp_path)

    path = write_compose(make_stack(brokers=3), tmp_path)

    assert "kafka-3" in path.read_text(encoding="utf-8")


# --------------------------------------------------------------------------- env var mapping


@pytest.mark.parametrize(
    ("name", "variable"),
    [
        ("log.retention.hours", "KAFKA_LOG_RETENTION_HOURS"),
        ("auto.create.topics.enable", "KAFKA_AUTO_CREATE_TOPICS_ENABLE"),
        ("num_threads", "KAFKA_NUM__THREADS"),
        ("ssl.endpoint-identification", "KAFKA_SSL_ENDPOINT___IDENTIFICATION"),
        ("a_b-c.d", "KAFKA_A__B___C_D"),
        ("x", "KAFKA_X"),
    ],
)
def test_property_to_env_follows_the_official_images_contract(name: str, variable: str) -> None:
    assert property_to_env(name) == variable
    assert env_to_property(variable) == name


def test_env_to_property_reads_the_design_examples() -> None:
    assert env_to_property("KAFKA_FOO___BAR__BAZ_QUX") == "foo-bar_baz.qux"
    assert env_to_property("KAFKA_OFFSETS_TOPIC_REPLICATION_FACTOR") == (
        "offsets.topic.replication.factor"
    )


def test_env_to_property_needs_the_kafka_prefix() -> None:
    with pytest.raises(ValueError, match="KAFKA_"):
        env_to_property("CLUSTER_ID")


def test_property_names_round_trip_through_env_vars() -> None:
    rng = random.Random(20240607)
    words = ["log", "retention", "ms", "a", "x1", "2", "sasl", "jaas"]
    for _ in range(500):
        parts = [rng.choice(words)]
        for _ in range(rng.randint(0, 5)):
            parts += [rng.choice("._-"), rng.choice(words)]
        name = "".join(parts)

        assert env_to_property(property_to_env(name)) == name, name


def test_every_template_set_variable_maps_to_its_property(make_stack: StackFactory) -> None:
    environment = parse(render_compose(make_stack()))["services"]["kafka"]["environment"]

    properties = {
        env_to_property(variable)
        for variable in environment
        if variable.startswith("KAFKA_") and variable != "KAFKA_HEAP_OPTS"
    }

    assert {"node.id", "process.roles", "listeners", "advertised.listeners", "log.dirs"} <= (
        properties
    )


# --------------------------------------------------------------------------- compose knowledge


def test_the_template_sets_exactly_the_properties_kafkarig_owns_or_defaults() -> None:
    source = (templates_dir() / COMPOSE_TEMPLATE).read_text(encoding="utf-8")
    written = set(re.findall(r"^\s+(KAFKA_[A-Z0-9_]+):", source, flags=re.MULTILINE))

    properties = {env_to_property(variable) for variable in written - LAUNCHER_VARIABLES}

    assert properties == set(TEMPLATE_OWNED_PROPERTIES), (
        "the template's KAFKA_* keys and TEMPLATE_OWNED_PROPERTIES in infra/config/compose.py "
        "must name the same properties"
    )
    assert not properties & set(TEMPLATE_DEFAULT_PROPERTIES), "defaults come from the context"


@pytest.mark.parametrize("name", sorted(GOLDEN_STACKS))
def test_every_rendered_broker_property_is_owned_defaulted_or_the_users(
    make_stack: StackFactory, name: str
) -> None:
    stack = golden_stack(make_stack, name)
    services = parse(render_compose(stack))["services"]
    allowed = (
        set(TEMPLATE_OWNED_PROPERTIES)
        | set(TEMPLATE_DEFAULT_PROPERTIES)
        | set(KRAFT_DEFAULT_PROPERTIES if stack.is_kraft else {})
        | set(stack.cluster.broker_config)
    )

    for broker in stack.brokers:
        variables = set(services[broker.service]["environment"])
        properties = {
            env_to_property(v) for v in variables - LAUNCHER_VARIABLES if v.startswith("KAFKA_")
        }
        assert properties <= allowed
        assert set(TEMPLATE_DEFAULT_PROPERTIES) <= properties
        if stack.is_kraft:
            assert set(KRAFT_DEFAULT_PROPERTIES) <= properties


def test_auto_creation_may_be_turned_on_in_broker_config(make_stack: StackFactory) -> None:
    stack = make_stack(
        broker_config={"auto.create.topics.enable": True, "num.partitions": 3},
    )
    text = render_compose(stack)
    environment = parse(text)["services"]["kafka"]["environment"]

    assert environment["KAFKA_AUTO_CREATE_TOPICS_ENABLE"] == "true"
    assert environment["KAFKA_NUM_PARTITIONS"] == "3"
    assert text.count("KAFKA_AUTO_CREATE_TOPICS_ENABLE") == 1


# --------------------------------------------------------------------------- labels


def test_every_container_and_the_network_are_labelled_with_the_project(
    make_stack: StackFactory,
) -> None:
    stack = make_stack(project="orders", mode="zookeeper", flavor="local", brokers=2)
    document = parse(render_compose(stack))

    for service in document["services"].values():
        assert service["labels"]["dev.kafkarig.project"] == "orders"
    assert document["networks"]["orders"]["labels"] == {"dev.kafkarig.project": "orders"}
    # compose would ask before recreating a volume whose labels changed: volumes have none.
    assert all(volume == {} for volume in document["volumes"].values())


def test_a_stack_read_from_a_file_labels_everything_with_that_file(tmp_path: Path) -> None:
    path = tmp_path / "team.toml"
    path.write_text('[stack]\nproject = "team"\n[cluster]\nflavor = "local"\n')
    document = parse(render_compose(load_stack(path, env={})))

    assert document["services"]["kafka"]["labels"]["dev.kafkarig.stack-file"] == str(path)
    assert document["networks"]["team"]["labels"]["dev.kafkarig.stack-file"] == str(path)


def test_each_container_carries_the_hash_of_its_rendered_service(make_stack: StackFactory) -> None:
    stack = make_stack(mode="zookeeper", flavor="local", brokers=2)
    services = parse(render_compose(stack))["services"]
    hashes = service_hashes(stack)

    assert set(hashes) == set(stack.services)
    for name, service in services.items():
        assert service["labels"]["dev.kafkarig.config-hash"] == hashes[name]
    assert len(set(hashes.values())) == 3


def test_a_broker_setting_changes_the_brokers_hashes_only(make_stack: StackFactory) -> None:
    before = service_hashes(make_stack(mode="zookeeper", flavor="local", brokers=2))
    after = service_hashes(
        make_stack(
            mode="zookeeper", flavor="local", brokers=2, broker_config={"log.retention.hours": 1}
        )
    )

    assert after["zookeeper"] == before["zookeeper"]
    assert after["kafka-1"] != before["kafka-1"]
    assert after["kafka-2"] != before["kafka-2"]


def test_the_templates_are_found_as_package_data() -> None:
    import importlib.resources

    assert templates_dir() == Path(str(importlib.resources.files("kafkarig_templates")))
    assert (templates_dir() / "image").is_dir()
