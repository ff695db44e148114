"""``kafkarig dlq show TOPIC``: print dead letters with their context, whoever wrote them.

A plugin of the kafkarig command line (entry point group ``kafkarig.commands``): the CLI
lives in ``infra``, which never imports ``harness``, so it discovers :func:`register` through
the package metadata. The read is bounded and leaves no trace: partitions are *assigned*
(no group is joined, nothing is committed), read from their start up to the high watermark
seen when the command began, and at most ``--max`` records are shown.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
import uuid
from collections.abc import Iterator, Sequence
from dataclasses import asdict
from typing import Any, Final, TextIO

from confluent_kafka import Consumer, KafkaException, Message, TopicPartition

from harness.dlq_dialects import DeadLetterContext, read_dead_letter
from harness.errors import ConfigurationError, DlqHeaderError, HarnessError

DEFAULT_BOOTSTRAP: Final = "localhost:9092"
DEFAULT_MAX_RECORDS: Final = 50


def register(subparsers: Any) -> None:
    """Add the ``dlq`` command (``dlq show TOPIC``) to kafkarig's subcommands."""
    dlq = subparsers.add_parser("dlq", help="inspect dead-letter topics (any DLQ dialect)")
    actions = dlq.add_subparsers(dest="dlq_command", required=True)
    show = actions.add_parser(
        "show",
        help="print dead letters with their context (bounded read, no commit)",
        description="Print the dead letters of TOPIC with the context their writer added "
        "(kafkarig dlq.*, share-group __dlq.errors.*, Kafka Streams __streams.errors.*, Spring "
        "kafka_dlt-*, Kafka Connect __connect.errors.*). Partitions are assigned, never joined "
        "as a group, and nothing is committed; the read stops at the end the topic had when "
        "the command began, or after --max records.",
    )
    show.add_argument("topic", metavar="TOPIC", help="the dead-letter topic")
    show.add_argument(
        "--bootstrap",
        default=DEFAULT_BOOTSTRAP,
        metavar="HOST:PORT[,...]",
        help=f"bootstrap servers (default {DEFAULT_BOOTSTRAP}, the default stack)",
    )
    show.add_argument(
        "--max",
        type=int,
        default=DEFAULT_MAX_RECORDS,
        dest="max_records",
        metavar="N",
        help=f"show at most N records (default {DEFAULT_MAX_RECORDS})",
    )
    show.add_argument(
        "--timeout",
        type=float,
        default=20.0,
        dest="timeout_s",
        metavar="SECONDS",
        help="give up reading after this long (default 20)",
    )
    show.add_argument(
        "-X",
        "--property",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="a librdkafka client property, e.g. -X security.protocol=SSL (repeatable)",
    )
    show.add_argument("--json", action="store_true", help="one JSON object per record")
    show.set_defaults(handler=_cmd_show)


def _cmd_show(args: argparse.Namespace) -> int:
    try:
        properties = parse_properties(args.property)
        shown = 0
        for message in read_topic(
            args.bootstrap,
            args.topic,
            max_records=args.max_records,
            timeout_s=args.timeout_s,
            config=properties,
        ):
            print_record(message, sys.stdout, as_json=args.json)
            shown += 1
        if not args.json:
            print(f"{shown} record(s) shown from {args.topic}", file=sys.stderr)
        return 0
    except HarnessError as error:
        print(f"kafkarig: error: {error.render()}", file=sys.stderr)
        return 1


def parse_properties(items: Sequence[str]) -> dict[str, str]:
    """``["a=1", "b=2"]`` as a dict; an item without ``=`` is a clear error."""
    properties = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise ConfigurationError(
                f"-X {item!r} is not KEY=VALUE", hint="e.g. -X security.protocol=SSL"
            )
        properties[key] = value
    return properties


def read_topic(
    bootstrap: str,
    topic: str,
    *,
    max_records: int,
    timeout_s: float,
    config: dict[str, str] | None = None,
) -> Iterator[Message]:
    """The records of ``topic`` from the start up to today's end, at most ``max_records``.

    Assign-based: no group is joined and nothing is committed.
    """
    if max_records < 1:
        raise ConfigurationError(f"--max must be >= 1, got {max_records}")
    consumer = Consumer(
        {
            **(config or {}),
            "bootstrap.servers": bootstrap,
            "group.id": f"kafkarig-dlq-show-{uuid.uuid4().hex[:8]}",  # never joined
            "enable.auto.commit": False,
            "enable.partition.eof": False,
        }
    )
    try:
        ends = _snapshot(consumer, bootstrap, topic, timeout_s)
        todo = {partition for partition, (low, high) in ends.items() if high > low}
        consumer.assign([TopicPartition(topic, p, ends[p][0]) for p in sorted(todo)])
        deadline = time.monotonic() + timeout_s
        shown = 0
        while todo and shown < max_records:
            if time.monotonic() >= deadline:
                raise ConfigurationError(
                    f"read {shown} record(s) of {topic!r} in {timeout_s} s; partitions "
                    f"{sorted(todo)} did not reach their end",
                    hint="raise --timeout",
                )
            message = consumer.poll(0.2)
            if message is None:
                continue
            error = message.error()
            if error is not None:
                if error.fatal():
                    raise ConfigurationError(f"cannot read {topic!r}: {error.str()}")
                continue
            partition, offset = message.partition(), message.offset()
            assert partition is not None and offset is not None
            if offset >= ends[partition][1] - 1:
                todo.discard(partition)
            if offset < ends[partition][1]:
                shown += 1
                yield message
    finally:
        consumer.close()


def _snapshot(
    consumer: Consumer, bootstrap: str, topic: str, timeout_s: float
) -> dict[int, tuple[int, int]]:
    try:
        metadata = consumer.list_topics(topic, timeout=timeout_s)
        found = metadata.topics.get(topic)
        if found is None or found.error is not None:
            raise ConfigurationError(
                f"topic {topic!r} does not exist on {bootstrap}",
                hint="list topics with: kafka-topics --list --bootstrap-server " + bootstrap,
            )
        return {
            partition: consumer.get_watermark_offsets(
                TopicPartition(topic, partition), timeout=timeout_s
            )
            for partition in sorted(found.partitions)
        }
    except KafkaException as exc:
        raise ConfigurationError(
            f"cannot reach {bootstrap}: {exc.args[0].str()}",
            hint="is the cluster up? pass --bootstrap HOST:PORT",
        ) from exc


def describe(message: Message) -> dict[str, Any]:
    """A dead letter as plain data: where it is, its key, and its DLQ context (or why none)."""
    key = message.key()
    record: dict[str, Any] = {
        "dlq": f"{message.topic()}[{message.partition()}]@{message.offset()}",
        "key": None if key is None else key.decode("utf-8", "replace"),
    }
    try:
        context: DeadLetterContext | None = read_dead_letter(message.headers())
    except DlqHeaderError as error:
        record["problem"] = error.message
        context = None
    if context is not None:
        data = asdict(context)
        data["failed_at"] = None if context.failed_at is None else context.failed_at.isoformat()
        data["details"] = dict(context.details)
        data["other_headers"] = [name for name, _ in context.other_headers]
        record.update(data)
    return record


def print_record(message: Message, out: TextIO, *, as_json: bool = False) -> None:
    """Print one dead letter: a JSON line, or a short block for people."""
    record = describe(message)
    if as_json:
        out.write(json.dumps(record, sort_keys=True) + "\n")
        return
    out.write(f"{record['dlq']}  key={record['key']}\n")
    if "problem" in record:
        out.write(f"  {record['problem']}\n")
        return
    source = record["source_topic"] or "?"
    where = f"{source}[{_unknown(record['source_partition'])}]@{_unknown(record['source_offset'])}"
    out.write(f"  dialect  {record['dialect']}\n  source   {where}\n")
    for label, name in (("group", "group"), ("attempts", "attempts"), ("failed", "failed_at")):
        if record[name] is not None:
            out.write(f"  {label:8} {record[name]}\n")
    error = ": ".join(part for part in (record["error_class"], record["error_message"]) if part)
    if error:
        out.write(f"  error    {error}\n")
    for name, value in record["details"].items():
        out.write(f"  {name:8} {value}\n")


def _unknown(value: object) -> str:
    return "?" if value is None else str(value)
