"""The kafkarig command line: ``kafkarig`` / ``python -m infra``."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from infra.errors import KafkarigError


def _cmd_image(args: argparse.Namespace) -> int:
    from infra import images

    if args.kafka_version:
        recipes = [images.kafka_recipe(version) for version in args.kafka_version]
        if args.zookeeper:
            recipes.append(images.zookeeper_recipe())
    else:
        recipes = images.default_recipes()
    results = images.build_images(recipes, force=args.force)
    for result in results:
        state = "built" if result.built else "cached"
        print(f"{result.tag:32} {state:7} {result.size_bytes / 1e6:7.0f} MB")
    return 0


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of every kafkarig command."""
    parser = argparse.ArgumentParser(prog="kafkarig", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)

    image = commands.add_parser(
        "image", help="build the local images (Kafka from Maven Central jars, Debian Java)"
    )
    image.add_argument(
        "--kafka-version",
        action="append",
        help="build this Kafka version (repeatable); default: the pinned 4.x and 3.9 images",
    )
    image.add_argument(
        "--zookeeper", action="store_true", help="with --kafka-version: build ZooKeeper too"
    )
    image.add_argument("--force", action="store_true", help="rebuild even when up to date")
    image.set_defaults(handler=_cmd_image)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run one command; a :class:`KafkarigError` is printed without a traceback, exit 1."""
    args = build_parser().parse_args(argv)
    try:
        return int(args.handler(args))
    except KafkarigError as error:
        print(f"kafkarig: error: {error.render()}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("kafkarig: interrupted", file=sys.stderr)
        return 130
