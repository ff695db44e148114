"""Local images: Apache Kafka and ZooKeeper from Maven Central jars on a Debian Java runtime.

For machines that cannot pull from an image registry. By concern:

- :mod:`infra.images.recipes`: what each image is made of (Maven coordinates, tools, tag);
- :mod:`infra.images.apt`: the Debian mirror, and the package versions it offers;
- :mod:`infra.images.base`: the base image ``kafkarig/jre`` (mmdebstrap, Java runtime, kcat);
- :mod:`infra.images.maven`: the jars, resolved by one Maven reactor for every image;
- :mod:`infra.images.context`: the build context and the hash of every input file;
- :mod:`infra.images.build`: the builds, base image and jars at once, then the images.
"""

from __future__ import annotations

from infra.images.base import BASE_IMAGE
from infra.images.build import (
    BuildResult,
    ImageState,
    base_image_state,
    build_image,
    build_images,
    cache_dir,
    image_state,
)
from infra.images.context import INPUTS_LABEL, inputs_hash
from infra.images.recipes import (
    KAFKA_TOOLS,
    ImageRecipe,
    MavenArtifact,
    default_recipes,
    kafka_recipe,
    zookeeper_recipe,
)
from infra.versions import KAFKA_VERSION, KAFKA_ZK_VERSION, ZOOKEEPER_VERSION

__all__ = [
    "BASE_IMAGE",
    "INPUTS_LABEL",
    "KAFKA_TOOLS",
    "KAFKA_VERSION",
    "KAFKA_ZK_VERSION",
    "ZOOKEEPER_VERSION",
    "BuildResult",
    "ImageRecipe",
    "ImageState",
    "MavenArtifact",
    "base_image_state",
    "build_image",
    "build_images",
    "cache_dir",
    "default_recipes",
    "image_state",
    "inputs_hash",
    "kafka_recipe",
    "zookeeper_recipe",
]
