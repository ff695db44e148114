"""What ``up`` checks before it starts anything: images (building the local ones when they
are missing), host ports, and the fixed container names."""

from __future__ import annotations

import errno
import socket

from python_on_whales import DockerClient
from python_on_whales.exceptions import DockerException

from infra import images
from infra.config import Stack
from infra.config.compose import COMPOSE_PROJECT_LABEL
from infra.console import step
from infra.errors import StackError


def local_recipes(stack: Stack, missing: list[str]) -> list[images.ImageRecipe]:
    """The local image recipes that build the ``missing`` images of a local-flavor stack.

    An image named explicitly in stack.toml (``kafka_image``, ``zookeeper_image``) is not
    kafkarig's to build: it must exist already.
    """
    recipes = []
    for image in missing:
        recipe = None
        if image == stack.kafka_image and stack.cluster.kafka_image is None:
            recipe = images.kafka_recipe(stack.cluster.kafka_version)
        elif image == stack.zookeeper_image and stack.cluster.zookeeper_image is None:
            recipe = images.zookeeper_recipe()
        if recipe is None or recipe.tag != image:
            raise StackError(
                f"the local image {image} is not built, and it is not one kafkarig builds.",
                hint="build or load it yourself, or drop kafka_image / zookeeper_image from "
                "stack.toml so that kafkarig builds its own (`nox -s image` builds the local "
                "Kafka and ZooKeeper images from Maven Central jars).",
            )
        recipes.append(recipe)
    return recipes


def ensure_images(client: DockerClient, stack: Stack) -> None:
    """Every image is present: local images are built now when missing, the official ones
    pulled."""
    missing = [image for image in stack.images if not client.image.exists(image)]
    if not missing:
        return
    if stack.cluster.flavor == "local":
        recipes = local_recipes(stack, missing)
        step(
            f"the local image(s) {', '.join(missing)} are not built yet; building them now "
            "(as `kafkarig image` does; later runs reuse them)"
        )
        images.build_images(recipes)
        return
    for image in missing:
        step(f"pulling {image}")
        try:
            client.image.pull(image, quiet=True)
        except DockerException as error:
            raise StackError(
                f"cannot pull {image}: {(error.stderr or '').strip()[-400:]}",
                hint="on a machine without access to an image registry, build the local "
                'images with `nox -s image` and use them: flavor = "local" in stack.toml, '
                "or KAFKARIG_FLAVOR=local nox -s up.",
            ) from error


def port_in_use(host: str, port: int) -> bool:
    """Whether something listens on ``host:port``; StackError when it cannot be bound at all."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError as error:
            if error.errno == errno.EADDRINUSE:
                return True
            raise StackError(
                f"cannot publish port {port} on {host}: {error.strerror} (errno {error.errno}).",
                hint="[cluster] host must be an address of this machine: 127.0.0.1 (default), "
                "0.0.0.0 for every interface, or one of `ip -brief address`.",
            ) from error
    return False


def check_ports(client: DockerClient, stack: Stack, ours: set[str]) -> None:
    """Every host port is free, or already published by this very stack (``ours``: the
    names of its running containers)."""
    taken = []
    for broker in stack.brokers:
        if broker.service in ours or not port_in_use(stack.cluster.host, broker.host_port):
            continue
        owner = "another process"
        for container in client.container.list(filters=[("publish", str(broker.host_port))]):
            owner = f"container {container.name}"
        taken.append(
            f"{stack.cluster.host}:{broker.host_port} (broker {broker.service}) is used by {owner}"
        )
    if taken:
        raise StackError(
            "host ports are in use:\n  " + "\n  ".join(taken),
            hint="stop what uses them (`docker ps`, `ss -ltnp`), or set another [cluster] port "
            "in stack.toml.",
        )


def check_container_names(client: DockerClient, stack: Stack) -> None:
    """No container of another project (or of none) holds one of the stack's names.

    The names are fixed (``kafka``, ``zookeeper``, ``kafka-N``) so that the seed's
    ``docker exec kafka ...`` works; two stacks with the same names cannot run at once.
    """
    clashes = []
    for name in stack.services:
        if not client.container.exists(name):
            continue
        labels = client.container.inspect(name).config.labels or {}
        owner = labels.get(COMPOSE_PROJECT_LABEL)
        if owner != stack.project:
            clashes.append(
                f"{name} (compose project {owner})" if owner else f"{name} (not from compose)"
            )
    if clashes:
        raise StackError(
            "container names of this stack are taken: " + ", ".join(clashes) + ".",
            hint="stop the other stack first (`kafkarig ls` lists the kafkarig stacks, "
            "`kafkarig down --project NAME` or `nox -s down -- --stack ITS_FILE` stops one; "
            "`docker rm -f NAME` for a stray container); kafkarig names containers like the "
            "seed (kafka, zookeeper) so that `docker exec kafka ...` works.",
        )
