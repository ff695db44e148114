"""The kafkarig command line: ``kafkarig`` / ``python -m infra``."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

from python_on_whales.exceptions import DockerException

from infra.config import STACK_FILE_NAME, Stack, load_stack
from infra.docker import docker_failure
from infra.errors import KafkarigError


def _cmd_image(args: argparse.Namespace) -> int:
    from infra import console, images

    console.set_verbose(args.verbose)
    if args.kafka_version:
        recipes = [images.kafka_recipe(version) for version in args.kafka_version]
        if args.zookeeper:
            recipes.append(images.zookeeper_recipe())
    else:
        recipes = images.default_recipes()
    results = images.build_images(
        recipes, force=args.force, refresh_base=args.refresh_base, base_image=args.base_image
    )
    for result in results:
        state = "built" if result.built else "cached"
        print(f"{result.tag:32} {state:7} {result.size_bytes / 1e6:7.0f} MB")
    return 0


def _load(args: argparse.Namespace) -> tuple[Stack, Path]:
    """The stack named by --stack, and the folder its .kafkarig/ output goes to."""
    path = Path(args.stack)
    return load_stack(path), path.resolve().parent


def _cmd_render(args: argparse.Namespace) -> int:
    from infra.render import write_compose

    stack, root = _load(args)
    compose_file = write_compose(stack, root)
    if args.print:
        print(compose_file.read_text(), end="")
    else:
        print(compose_file)
    return 0


def _cmd_up(args: argparse.Namespace) -> int:
    from infra import lifecycle

    stack, root = _load(args)
    report = lifecycle.up(stack, root, timeout_s=args.timeout)
    print(f"stack {report.project} is up in {report.elapsed_s:.1f}s")
    for state in report.services:
        print(f"  {state.container:12} {state.status} ({state.health or 'no healthcheck'})")
    print(f"  bootstrap servers: {report.bootstrap_servers}")
    for topic in report.topics:
        action = "created" if topic.created else "verified"
        print(
            f"  topic {topic.spec.name}: {topic.state.partitions} partition(s), "
            f"replication {topic.state.replication_factor}, {action}"
        )
    return 0


def _cmd_down(args: argparse.Namespace) -> int:
    from infra import lifecycle

    stack, root = _load(args)
    removed = lifecycle.down(stack, root, keep_data=args.keep_data)
    kept = " (volumes kept)" if args.keep_data else ""
    print(f"stack {stack.project} is down: {len(removed)} container(s) removed{kept}")
    return 0


def _cmd_status(args: argparse.Namespace) -> int:
    from infra import lifecycle

    stack, root = _load(args)
    report = lifecycle.status(stack, root)
    if not report.services:
        print(f"stack {report.project} is down (no containers); `nox -s up` starts it")
        return 3
    healthy = all(state.ok for state in report.services)
    print(f"stack {report.project}: {'up' if healthy else 'NOT HEALTHY'} ({report.compose_file})")
    for state in report.services:
        extra = f", exit code {state.exit_code}" if state.status == "exited" else ""
        print(f"  {state.container:12} {state.status} ({state.health or 'no healthcheck'}{extra})")
    print(f"  bootstrap servers: {report.bootstrap_servers}")
    if report.topics_error:
        print(f"  topics: unavailable ({report.topics_error})")
    for spec in stack.all_topics:
        topic = report.topics.get(spec.name)
        if topic is None:
            print(f"  topic {spec.name}: missing")
        else:
            print(
                f"  topic {spec.name}: {topic.partitions} partition(s), replication "
                f"{topic.replication_factor}, min ISR seen {topic.in_sync_replicas}"
            )
    return 0 if healthy else 1


def _add_stack_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--stack",
        default=STACK_FILE_NAME,
        metavar="FILE",
        help=f"the stack file (default: ./{STACK_FILE_NAME})",
    )


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
    image.add_argument(
        "--refresh-base",
        action="store_true",
        help="rebuild the base image from the Debian mirror's current packages (and the "
        "images on it)",
    )
    image.add_argument(
        "-v", "--verbose", action="store_true", help="print every line of every build command"
    )
    image.add_argument(
        "--base-image",
        metavar="IMAGE",
        help="an image on this machine with Java 17+ and bash to build on, instead of the "
        "kafkarig/jre made from Debian packages",
    )
    image.set_defaults(handler=_cmd_image)

    up = commands.add_parser("up", help="start the stack, wait for health, create topics")
    _add_stack_option(up)
    up.add_argument(
        "--timeout",
        type=float,
        metavar="SECONDS",
        help="health wait bound (default: from the healthcheck)",
    )
    up.set_defaults(handler=_cmd_up)

    down = commands.add_parser("down", help="remove the stack's containers, network, volumes")
    _add_stack_option(down)
    down.add_argument("--keep-data", action="store_true", help="keep the data volumes")
    down.set_defaults(handler=_cmd_down)

    status = commands.add_parser("status", help="brokers, health, bootstrap servers, topics")
    _add_stack_option(status)
    status.set_defaults(handler=_cmd_status)

    render = commands.add_parser("render", help="write the compose file, start nothing")
    _add_stack_option(render)
    render.add_argument("--print", action="store_true", help="print the file, not its path")
    render.set_defaults(handler=_cmd_render)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run one command; a :class:`KafkarigError` is printed without a traceback, exit 1."""
    args = build_parser().parse_args(argv)
    try:
        return int(args.handler(args))
    except KafkarigError as error:
        print(f"kafkarig: error: {error.render()}", file=sys.stderr)
        return 1
    except DockerException as error:
        # A Docker call that failed where kafkarig expected none to: say what ran and why.
        print(
            f"kafkarig: error: a Docker command failed.\n{docker_failure(error)}", file=sys.stderr
        )
        return 1
    except OSError as error:
        print(f"kafkarig: error: {error}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("kafkarig: interrupted", file=sys.stderr)
        return 130
