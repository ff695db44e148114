"""Every pinned version and image tag kafkarig uses, in one place.

kafkarig never runs ``:latest``: a stack is reproducible only when every image is pinned.
Bump a version here and the config defaults, the rendered compose files and the local image
builder follow.
"""

from __future__ import annotations

from typing import Final

KAFKA_VERSION: Final = "4.4.0"
"""Default Apache Kafka version in KRaft mode (the default mode)."""

KAFKA_ZK_VERSION: Final = "3.9.2"
"""Default Apache Kafka version in ZooKeeper mode: 3.9 is the last line that has it."""

ZOOKEEPER_VERSION: Final = "3.8.4"
"""ZooKeeper version of the local ZooKeeper image (the one Kafka 3.9 ships with)."""

CONFLUENT_KRAFT_VERSION: Final = "8.0.0"
"""Default Confluent Platform version in KRaft mode (cp-kafka 8.x, Kafka 4.0)."""

CONFLUENT_ZK_VERSION: Final = "7.9.0"
"""Default Confluent Platform version in ZooKeeper mode (cp-kafka/cp-zookeeper 7.9, Kafka 3.9)."""

LOCAL_KAFKA_VERSIONS: Final = ("4.4.0", "3.9.2")
"""The Kafka versions the local image builder (``nox -s image``) can build."""
