"""The kafkarig command line: ``kafkarig`` / ``python -m infra``."""

from __future__ import annotations

import argparse
import importlib.metadata
import sys
from collections.abc import Sequence
from pathlib import Path

from python_on_whales.exceptions import DockerException

from infra.config import STACK_FILE_NAME, Stack, load_stack
from infra.docker import docker_failure
from infra.errors import ConfigError, KafkarigError
from infra.topic_plan import differences

#: Entry point group of command plugins: each is a ``register(subparsers)`` callable.
PLUGIN_GROUP = "kafkarig.commands"


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
    report = lifecycle.up(stack, root, timeout_s=args.timeout, verbose=args.verbose)
    print(f"stack {report.project} is up in {report.elapsed_s:.1f}s")
    if report.containers:
        print(f"  containers: {', '.join(report.containers)}")
    for state in report.services:
        print(f"  {state.container:12} {state.condition}")
    print(f"  bootstrap servers: {report.bootstrap_servers}")
    for topic in report.topics:
        action = "created" if topic.created else "updated" if topic.changed else "verified"
        changed = f" ({'; '.join(topic.changed)})" if topic.changed else ""
        print(
            f"  topic {topic.spec.name}: {topic.state.partitions} partition(s), "
            f"replication {topic.state.replication_factor}, {action}{changed}"
        )
    done = {"create": "created", "update": "updated", "keep": "verified", "remove": "removed"}
    for applied in report.plan.actions:
        if applied.kind in ("container", "topic"):
            continue  # reported above, with what the cluster shows now
        detail = "" if applied.verb == "keep" else f" ({applied.describe()})"
        print(f"  {applied.kind} {applied.name}: {done.get(applied.verb, applied.verb)}{detail}")
    for note in report.plan.notes:
        print(f"  note: {note}")
    return 0


def _cmd_plan(args: argparse.Namespace) -> int:
    from infra import lifecycle
    from infra.declared import declared_kinds

    stack, _ = _load(args)
    plan = lifecycle.plan(stack)
    print(f"plan for stack {stack.project} ({stack.source_file}):")
    print(plan.render(["container", *declared_kinds(stack)]))
    print(f"summary: {plan.summary()}")
    if plan.refusals:
        print(
            f"`kafkarig up` would refuse: {len(plan.refusals)} change(s) above cannot be made; "
            "it changes no topic until stack.toml is changed as said."
        )
        return 1
    print("`kafkarig up` applies it." if plan.changes else "`kafkarig up` would change nothing.")
    return 0


def _cmd_client_config(args: argparse.Namespace) -> int:
    from infra.client_config import render_client_config, write_private
    from infra.credentials import client_settings, ensure_tls_files, login_users

    stack, root = _load(args)
    security = stack.security
    user = args.user
    if not security.authenticates:
        if user is not None:
            raise ConfigError(
                f"stack {stack.project}'s host listener ({security.protocol}) has no users",
                hint="drop --user; [security] protocol and [[users]] declare who logs in",
            )
    elif user is None:
        user = security.smoke_user
        if user is None:
            raise ConfigError(
                f"which user? stack {stack.project} has {', '.join(login_users(stack))}",
                hint="name one with --user NAME",
            )
    ensure_tls_files(stack, root)  # the CA file the config names exists from now on
    text = render_client_config(client_settings(stack, user, root), args.format)
    if args.output is None:
        print(text, end="")
        return 0
    path = write_private(Path(args.output), text)
    who = f" for user {user}" if user else ""
    print(f"wrote {path} (mode 0600): {args.format} client config{who} of stack {stack.project}")
    return 0


def _cmd_down(args: argparse.Namespace) -> int:
    from infra import lifecycle

    if args.every_stack:
        report = lifecycle.down_every_stack(keep_data=args.keep_data)
        if not report.projects:
            print("no kafkarig stack on this Docker engine")
            return 0
        asked = ""
    elif args.project:
        report = lifecycle.down_project(args.project, keep_data=args.keep_data)
        asked = args.project
    else:
        try:
            stack, _ = _load(args)
        except ConfigError as error:
            raise ConfigError(
                error.message,
                hint=f"{error.hint}; `kafkarig ls` lists the stacks on this engine, and "
                "`kafkarig down --project NAME` removes one without its stack file",
            ) from error
        report = lifecycle.down(stack, keep_data=args.keep_data)
        asked = stack.project
    if not report.projects:
        print(f"stack {asked}: nothing of it is on this Docker engine")
        return 0
    for project in report.projects:
        also = "" if project == asked or not asked else " (started from the same stack file)"
        print(f"stack {project} is down{also}")
    kept = f", kept {len(report.kept_volumes)} volume(s)" if report.kept_volumes else ""
    print(
        f"  removed {len(report.containers)} container(s), {len(report.networks)} network(s), "
        f"{len(report.volumes)} volume(s){kept}"
    )
    return 0


def _cmd_ls(args: argparse.Namespace) -> int:
    from infra import lifecycle

    stacks = lifecycle.list_stacks()
    if not stacks:
        print("no kafkarig stack on this Docker engine")
        return 0
    rows = [("PROJECT", "STATE", "CONTAINERS", "STACK FILE")]
    for state in stacks:
        containers = ",".join(s.container for s in state.services) or "-"
        rows.append((state.project, state.summary, containers, state.stack_file or "-"))
    widths = [max(len(row[i]) for row in rows) for i in range(3)]
    for row in rows:
        print(
            "".join(f"{cell:{width}}  " for cell, width in zip(row, widths, strict=False)) + row[3]
        )
    return 0


def _cmd_status(args: argparse.Namespace) -> int:
    from infra import lifecycle

    stack, _ = _load(args)
    report = lifecycle.status(stack)
    if not report.services:
        print(f"stack {report.project} is down (no containers); `kafkarig up` starts it")
        return 3
    healthy = all(state.ok for state in report.services)
    drift = report.plan.changes
    declared = (
        "as declared in stack.toml"
        if not drift
        else "not as stack.toml declares it (`kafkarig up` applies it)"
    )
    print(f"stack {report.project}: {report.state.summary}, {declared}")
    for state in report.services:
        print(f"  {state.container:12} {state.condition}")
    for action in drift:
        print(f"  {action.name}: {action.describe()}")
    print(f"  bootstrap servers: {report.bootstrap_servers}")
    if report.topics_error:
        print(f"  topics: unavailable ({report.topics_error})")
    for spec in stack.all_topics:
        topic = report.topics.get(spec.name)
        if topic is None:
            print(f"  topic {spec.name}: missing")
            continue
        found = differences(spec, topic)
        print(
            f"  topic {spec.name}: {topic.partitions} partition(s), replication "
            f"{topic.replication_factor}, min ISR seen {topic.in_sync_replicas}"
            + (f"; differs: {'; '.join(found)} (`kafkarig plan`)" if found else "")
        )
    return 0 if healthy else 1


def _cmd_doctor(args: argparse.Namespace) -> int:
    from infra.doctor import report, run_checks

    path = Path(args.stack)
    stack = load_stack(path) if path.exists() or args.stack != STACK_FILE_NAME else None
    text, code = report(run_checks(stack))
    print(text)
    return code


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

    up = commands.add_parser(
        "up",
        help="start the stack (building local images it needs), wait for health, apply the "
        "topic plan",
        description="Start the stack and make its topics as declared. Containers already "
        "up as declared are left alone; the topic plan (`kafkarig plan`) is applied only "
        "when nothing in it is refused.",
    )
    _add_stack_option(up)
    up.add_argument(
        "--timeout",
        type=float,
        metavar="SECONDS",
        help="health wait bound (default: from the healthcheck)",
    )
    up.add_argument(
        "-v", "--verbose", action="store_true", help="show compose's output while starting"
    )
    up.set_defaults(handler=_cmd_up)

    plan = commands.add_parser(
        "plan",
        help="show what `up` would do to the containers and topics, change nothing",
        description="Compare stack.toml with what runs: containers to create or recreate, "
        "topics to create, partitions to add, configs to change, and what up refuses "
        "(fewer partitions, another replication factor, a value the broker rejects) with "
        "why and what to do instead. Exit code 1 when up would refuse.",
    )
    _add_stack_option(plan)
    plan.set_defaults(handler=_cmd_plan)

    down = commands.add_parser(
        "down",
        help="remove the stack's containers, network, volumes",
        description="Remove a kafkarig stack, found by its Docker labels: the project of "
        "--stack FILE and any stack started from that same file under another project name, "
        "or the project named with --project (no stack file needed), or with --all every "
        "kafkarig stack on this engine (containers without kafkarig's labels are never touched).",
    )
    target = down.add_mutually_exclusive_group()
    target.add_argument(
        "--stack",
        default=STACK_FILE_NAME,
        metavar="FILE",
        help=f"the stack file (default: ./{STACK_FILE_NAME})",
    )
    target.add_argument(
        "--project",
        metavar="NAME",
        help="remove the kafkarig stack of this compose project (see `kafkarig ls`)",
    )
    target.add_argument(
        "--all",
        dest="every_stack",
        action="store_true",
        help="remove every kafkarig stack on this Docker engine (see `kafkarig ls`)",
    )
    down.add_argument("--keep-data", action="store_true", help="keep the data volumes")
    down.set_defaults(handler=_cmd_down)

    status = commands.add_parser(
        "status", help="containers, health, whether they are as declared, topics"
    )
    _add_stack_option(status)
    status.set_defaults(handler=_cmd_status)

    ls = commands.add_parser("ls", help="list the kafkarig stacks on this Docker engine")
    ls.set_defaults(handler=_cmd_ls)

    doctor = commands.add_parser(
        "doctor", help="check this machine for what the stack needs, one line per check"
    )
    _add_stack_option(doctor)
    doctor.set_defaults(handler=_cmd_doctor)

    client_config = commands.add_parser(
        "client-config",
        help="print (or write, 0600) the client config a user needs to reach the stack",
        description="The properties a client needs for the stack's host listener: bootstrap "
        "servers, protocol, the user's SASL login or client certificate, and the CA. "
        "librdkafka is what confluent-kafka, the harness's --client-config and `kcat -F` "
        "read; kcat is the same without the host-name verification line kcat drops; java "
        "is for the Java client and Kafka's tools (--command-config).",
    )
    _add_stack_option(client_config)
    client_config.add_argument(
        "--user",
        metavar="NAME",
        help="the user to log in as (default: [security] smoke_user)",
    )
    client_config.add_argument(
        "--format", choices=("librdkafka", "kcat", "java"), default="librdkafka"
    )
    client_config.add_argument(
        "--output", metavar="FILE", help="write it to FILE (mode 0600) instead of printing it"
    )
    client_config.set_defaults(handler=_cmd_client_config)

    render = commands.add_parser("render", help="write the compose file, start nothing")
    _add_stack_option(render)
    render.add_argument("--print", action="store_true", help="print the file, not its path")
    render.set_defaults(handler=_cmd_render)
    # Commands from other packages (e.g. harness's `dlq`): infra never imports them itself.
    for plugin in importlib.metadata.entry_points(group=PLUGIN_GROUP):
        try:
            plugin.load()(commands)
        except Exception as error:  # a broken plugin must not take the built-in commands down
            print(f"kafkarig: warning: plugin {plugin.name!r} not loaded: {error}", file=sys.stderr)
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
