"""``kafkarig kcat ARGS...``: kcat, run so that it can log in with SCRAM to Kafka 4.x.

A command plugin of the kafkarig CLI (entry point group ``kafkarig.commands``). It runs
the kcat :func:`harness.kcat.find_kcat` picks (``$KAFKARIG_KCAT``, else kcat on PATH) with
every argument unchanged; when that kcat links a librdkafka older than 2.6.1 (Debian 12's
2.0.2, whose SCRAM login Kafka 4.x refuses), it runs with the newer librdkafka inside the
confluent-kafka wheel instead. Typical use, with a config from ``kafkarig client-config``::

    kafkarig client-config --user app --format kcat --output app.kcat
    kafkarig kcat -F app.kcat -L
"""

from __future__ import annotations

import argparse
import os
import sys
from typing import Any

from harness.errors import HarnessError
from harness.kcat import find_kcat
from harness.kcat_library import kcat_environment


def run(args: argparse.Namespace) -> int:
    """Replace this process with kcat (its exit code is the command's)."""
    try:
        executable = find_kcat()
    except HarnessError as error:
        print(f"kafkarig: error: {error.render()}", file=sys.stderr)
        return 1
    arguments = list(args.kcat_args)
    if arguments[:1] == ["--"]:
        arguments = arguments[1:]
    env = kcat_environment(executable) or dict(os.environ)
    sys.stdout.flush()
    os.execve(executable, [executable, *arguments], env)
    return 0  # pragma: no cover - execve does not return


def register(subparsers: Any) -> None:
    """Add the ``kcat`` command to kafkarig's subcommands."""
    kcat = subparsers.add_parser(
        "kcat",
        help="run kcat with a librdkafka that can log in with SCRAM to Kafka 4.x",
        description="Run kcat with ARGS unchanged. A kcat whose librdkafka is older than "
        "2.6.1 (librdkafka issue #4895: Kafka 4.x refuses its SCRAM login) runs with the "
        "librdkafka inside the confluent-kafka wheel. $KAFKARIG_KCAT picks another kcat.",
        prefix_chars="+",  # every -option belongs to kcat, none to this command
        add_help=False,
    )
    kcat.add_argument("kcat_args", nargs=argparse.REMAINDER, metavar="ARGS")
    kcat.set_defaults(handler=run)
