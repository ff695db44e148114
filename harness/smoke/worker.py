"""A consumer process for the fault-injection tests: killable, observable, one file of events.

Runs either kafkarig's :class:`~harness.consumer.RetryingConsumer` (``--mode kafkarig``) or
the seed's consumer loop (``--mode seed``: ``enable.auto.commit`` with offsets stored as
soon as a record is polled, the kafka-python default the seed relies on) against one topic,
and appends one line per event to ``--out``, flushed to the operating system before the
handler goes on (so a test can read it while the process runs, and finds every line after
a SIGKILL)::

    started <id>            the handler began work on record <id> (its key)
    done <id>               the handler finished record <id>
    retry <id> <attempt>    attempt <attempt> of <id> failed; a retry backoff begins
    dlq <id>                the DLQ copy of <id> was acknowledged
    crash <point>           the process SIGKILLs itself now (``--crash-at``)
    stopped <reason>        the loop returned (never written after a SIGKILL)

Failures are injected by record id: ``--fail-id ID --fail-times N`` makes the handler raise
:class:`~harness.errors.RetryableError` on the first N attempts at ID; ``--hang-on ID`` makes
it block forever after ``started ID`` (a process that dies "mid-processing");
``--transient-mod M`` fails once (per process) every id whose number is 3 modulo M, and
``--permanent-mod M`` fails every attempt at an id whose number is 7 modulo M (ids end in
``-<number>``). ``--crash-at POINT --crash-after N`` SIGKILLs the process at the Nth
:class:`~harness.checkpoints.Checkpoint` named POINT (``backoff``: halfway through that
backoff; ``commit``: while the commit is under way). SIGTERM and SIGINT stop the loop
gracefully with a final commit.

    python -m harness.smoke.worker --bootstrap localhost:9092 --topic t --group g \\
        --out events.txt --fail-id r2 --fail-times 1 --backoff-ms 60000
"""

from __future__ import annotations

import argparse
import json
import os
import random
import signal
import sys
import threading
import time
from collections import Counter
from collections.abc import Sequence
from pathlib import Path
from types import FrameType
from typing import IO, Any

from confluent_kafka import Consumer, KafkaError, Message

from harness.checkpoints import Checkpoint
from harness.client_config import load_client_config
from harness.consumer import SEED_CONSUMER_CONFIG, DlqOptions, RetryingConsumer
from harness.errors import RetryableError
from harness.retry import RetryPolicy

#: Events a worker writes, in the order of the module docstring.
EVENTS = ("started", "done", "retry", "dlq", "crash", "stopped")


class EventLog:
    """Appends event lines to a file, each handed to the OS before the call returns.

    A SIGKILL ends the process, not the machine: what ``write()`` handed to the kernel is
    in the file, so no fsync is needed (and at one per event it would bound the worker to
    the disk's pace).
    """

    def __init__(self, path: Path) -> None:
        self._file: IO[str] = path.open("a", encoding="utf-8")
        self._lock = threading.Lock()

    def write(self, event: str, *fields: object) -> None:
        """Append ``event field ...`` as one line, flushed to the operating system."""
        if event not in EVENTS:
            raise ValueError(f"unknown event {event!r}; expected one of {', '.join(EVENTS)}")
        line = " ".join([event, *(str(f) for f in fields)])
        with self._lock:
            self._file.write(line + "\n")
            self._file.flush()

    def close(self) -> None:
        """Close the file."""
        self._file.close()


class PermanentFailure(Exception):
    """The error of a record no retry helps (``--permanent-mod``)."""


class Injector:
    """The failures to inject into the handler, by record id."""

    def __init__(self, args: argparse.Namespace) -> None:
        self.fail_id: str | None = args.fail_id
        self.fail_times: int = args.fail_times
        self.hang_on: str | None = args.hang_on
        self.transient_mod: int | None = args.transient_mod
        self.permanent_mod: int | None = args.permanent_mod
        self._attempts: Counter[str] = Counter()
        self._forever = threading.Event()
        self.done = 0

    def work(self, record_id: str, events: EventLog) -> None:
        """Do the "work" on ``record_id``: log it, then fail or hang as configured."""
        events.write("started", record_id)
        self._attempts[record_id] += 1
        attempt = self._attempts[record_id]
        if record_id == self.hang_on:
            self._forever.wait()  # never set: only a signal that kills the process ends this
        if record_id == self.fail_id and attempt <= self.fail_times:
            raise RetryableError(f"injected failure {attempt} of {self.fail_times} for {record_id}")
        number = id_number(record_id)
        if self.permanent_mod and number % self.permanent_mod == 7 % self.permanent_mod:
            raise PermanentFailure(f"{record_id} always fails (attempt {attempt})")
        transient = self.transient_mod and number % self.transient_mod == 3 % self.transient_mod
        if transient and attempt == 1:
            raise RetryableError(f"{record_id} fails once")
        events.write("done", record_id)
        self.done += 1


def id_number(record_id: str) -> int:
    """The number an id ends with (``crash-ab12-317`` -> 317; -1 without one)."""
    tail = record_id.rsplit("-", 1)[-1]
    return int(tail) if tail.isdigit() else -1


class Crasher:
    """SIGKILLs this process at the ``after``-th checkpoint named ``point`` (``--crash-at``)
    that comes once the handler finished ``armed_after`` records."""

    def __init__(self, args: argparse.Namespace, injector: Injector, events: EventLog) -> None:
        self.point = Checkpoint(args.crash_at) if args.crash_at else None
        self.after: int = args.crash_after
        self.armed_after: int = args.crash_after_records
        self.backoff_ms: float = args.backoff_ms
        self.injector = injector
        self.events = events
        self.seen = 0

    def __call__(self, point: Checkpoint, message: Message | None) -> None:
        if point is not self.point or self.injector.done < self.armed_after:
            return
        self.seen += 1
        if self.seen < self.after:
            return
        if point is Checkpoint.BACKOFF:  # the loop goes on waiting; die halfway through it
            self._kill_later(self.backoff_ms / 2000)
        elif point is Checkpoint.COMMIT:  # the commit request is about to leave; die in it
            self._kill_later(random.uniform(0, 0.003))
        else:
            self._kill()

    def _kill_later(self, delay_s: float) -> None:
        threading.Timer(delay_s, self._kill).start()

    def _kill(self) -> None:
        self.events.write("crash", self.point.value if self.point else "?")
        os.kill(os.getpid(), signal.SIGKILL)


def record_id(message: Message) -> str:
    """A record's id: its key as UTF-8 (the tests key every record by its unique id)."""
    key = message.key()
    return "<no-key>" if key is None else key.decode("utf-8", "replace")


def client_properties(args: argparse.Namespace) -> dict[str, str]:
    """The ``--client-config`` file's properties (security settings), or none."""
    if args.client_config is None:
        return {}
    return dict(load_client_config(args.client_config).properties)


def consumer_config(args: argparse.Namespace) -> dict[str, Any]:
    """Group membership settings shared by both modes: fast failure detection and rejoin.

    Under ``group.protocol=consumer`` the session timeout and heartbeat are the broker's.
    """
    config: dict[str, Any] = {
        **client_properties(args),
        "group.id": args.group,
        "auto.commit.interval.ms": args.auto_commit_interval_ms,
    }
    if args.group_protocol == "consumer":
        config["group.protocol"] = "consumer"
    else:
        config["session.timeout.ms"] = args.session_timeout_ms
        config["heartbeat.interval.ms"] = args.heartbeat_ms
    if args.instance_id:
        # Static membership: a restarted process with the same id takes over the dead
        # member's partitions at once instead of after session.timeout.ms.
        config["group.instance.id"] = args.instance_id
    return config


def run_kafkarig(
    args: argparse.Namespace, events: EventLog, injector: Injector, crasher: Crasher
) -> str:
    """kafkarig's loop: RetryingConsumer with the given retry policy; returns why it stopped."""
    policy = RetryPolicy(
        max_attempts=args.max_attempts,
        initial_backoff_ms=args.backoff_ms,
        max_backoff_ms=args.backoff_ms,
        multiplier=1.0,
        jitter=0.0,
    )
    config = consumer_config(args)
    if args.commit == "manual":
        config["enable.auto.commit"] = False
    dlq = DlqOptions(
        producer_config=client_properties(args),
        transactional=args.dlq_mode == "transactional",
        transactional_id=args.transactional_id if args.dlq_mode == "transactional" else None,
    )
    with RetryingConsumer(args.bootstrap, args.topic, policy=policy, dlq=dlq, config=config) as (
        consumer
    ):
        consumer.install_signal_handlers()
        stats = consumer.run(
            lambda value, message: injector.work(record_id(message), events),
            max_messages=args.max_messages,
            idle_timeout_s=args.idle_timeout_s,
            on_retry=lambda message, attempt, backoff_ms, error: events.write(
                "retry", record_id(message), attempt
            ),
            on_dead_letter=lambda message, error, attempts: events.write("dlq", record_id(message)),
            on_checkpoint=crasher,
        )
    return stats.stop_reason


def run_seed(
    args: argparse.Namespace, events: EventLog, injector: Injector, crasher: Crasher
) -> str:
    """The seed's loop: poll, decode, handle; offsets auto-stored on poll and auto-committed.

    This is what kafka-python's ``KafkaConsumer(enable_auto_commit=True)`` iteration does:
    a record counts as consumed once it was handed to the application, before its work.
    """
    stop = threading.Event()
    reason = ["idle"]

    def on_signal(signum: int, frame: FrameType | None) -> None:
        reason[0] = f"signal {signal.Signals(signum).name}"
        stop.set()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    consumer = Consumer(
        {**SEED_CONSUMER_CONFIG, **consumer_config(args), "bootstrap.servers": args.bootstrap}
    )
    consumer.subscribe([args.topic])
    handled = 0
    last_record_at = time.monotonic()
    try:
        while not stop.is_set():
            if args.max_messages is not None and handled >= args.max_messages:
                reason[0] = f"max_messages={args.max_messages} reached"
                break
            message = consumer.poll(0.1)
            if message is None:
                idle_s = time.monotonic() - last_record_at
                if args.idle_timeout_s is not None and idle_s >= args.idle_timeout_s:
                    reason[0] = f"idle for {args.idle_timeout_s} s"
                    break
                continue
            error = message.error()
            if error is not None:
                if error.fatal():
                    raise SystemExit(f"consumer hit a fatal error: {error.str()}")
                if error.code() != KafkaError._PARTITION_EOF:
                    print(f"worker: consumer error: {error.str()}", file=sys.stderr)
                continue
            last_record_at = time.monotonic()
            raw = message.value()
            json.loads(raw if raw is not None else b"null")  # the seed's value_deserializer
            injector.work(record_id(message), events)
            handled += 1
    finally:
        consumer.close()
    return reason[0]


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    """The command line; see the module docstring."""
    parser = argparse.ArgumentParser(
        prog="python -m harness.smoke.worker",
        description="Consume one topic and log every handler event to a file.",
    )
    parser.add_argument("--bootstrap", required=True, help="bootstrap servers")
    parser.add_argument(
        "--client-config", type=Path, help="librdkafka properties file (security settings)"
    )
    parser.add_argument("--topic", required=True, help="topic to consume")
    parser.add_argument("--group", required=True, help="consumer group id")
    parser.add_argument("--out", required=True, type=Path, help="event file to append to")
    parser.add_argument(
        "--mode",
        choices=("kafkarig", "seed"),
        default="kafkarig",
        help="kafkarig's RetryingConsumer, or the seed's auto-commit loop",
    )
    parser.add_argument("--fail-id", help="record id whose first attempts fail")
    parser.add_argument("--fail-times", type=int, default=0, help="how many attempts fail")
    parser.add_argument("--hang-on", help="record id whose handler blocks forever")
    parser.add_argument("--backoff-ms", type=float, default=20.0, help="retry backoff, fixed")
    parser.add_argument("--max-attempts", type=int, default=3, help="attempts before the DLQ")
    parser.add_argument("--transient-mod", type=int, help="ids n with n %% M == 3 fail once")
    parser.add_argument("--permanent-mod", type=int, help="ids n with n %% M == 7 always fail")
    parser.add_argument(
        "--crash-at", choices=[point.value for point in Checkpoint], help="SIGKILL at this point"
    )
    parser.add_argument("--crash-after", type=int, default=1, help="at its Nth occurrence")
    parser.add_argument(
        "--crash-after-records", type=int, default=0, help="counting once N records are done"
    )
    parser.add_argument("--instance-id", help="group.instance.id (static membership)")
    parser.add_argument("--group-protocol", choices=("classic", "consumer"), default="classic")
    parser.add_argument(
        "--commit", choices=("auto", "manual"), default="auto", help="auto-commit, or per batch"
    )
    parser.add_argument(
        "--dlq-mode", choices=("at-least-once", "transactional"), default="at-least-once"
    )
    parser.add_argument("--transactional-id", help="transactional.id of the DLQ producer")
    parser.add_argument("--session-timeout-ms", type=int, default=6000)
    parser.add_argument("--heartbeat-ms", type=int, default=1000)
    parser.add_argument("--auto-commit-interval-ms", type=int, default=200)
    parser.add_argument("--max-messages", type=int, help="stop after this many records")
    parser.add_argument("--idle-timeout-s", type=float, help="stop after this long without one")
    args = parser.parse_args(argv)
    if args.fail_times < 0:
        parser.error(f"--fail-times must be >= 0, got {args.fail_times}")
    if args.fail_times and not args.fail_id:
        parser.error("--fail-times needs --fail-id")
    return args


def main(argv: Sequence[str] | None = None) -> int:
    """Run the worker until it is stopped, killed, idle or done; 0 on a graceful stop."""
    args = parse_args(argv)
    events = EventLog(args.out)
    injector = Injector(args)
    crasher = Crasher(args, injector, events)
    try:
        run = run_seed if args.mode == "seed" else run_kafkarig
        events.write("stopped", run(args, events, injector, crasher))
    finally:
        events.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
