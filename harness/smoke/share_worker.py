"""A share-group consumer process for crash scenarios: the twin of :mod:`harness.smoke.worker`.

Runs :class:`~harness.share_consumer.ShareGroupConsumer` on one topic and writes the same
event lines (``started``, ``done``, ``retry``, ``dlq``, ``stopped``) with the same failure
injection (``--fail-id/--fail-times``, ``--hang-on``), so a test can SIGKILL it mid-record and
read what it did. Acknowledgements are confirmed after every record; the delivery count
limit is the group's, read from the broker.

    python -m harness.smoke.share_worker --bootstrap localhost:9092 --topic t --group g \\
        --out events.txt --hang-on r2
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

from harness.share_consumer import ShareGroupConsumer
from harness.smoke.worker import EventLog, Injector, record_id


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    """The command line; see the module docstring."""
    parser = argparse.ArgumentParser(
        prog="python -m harness.smoke.share_worker",
        description="Consume one topic in a share group and log every handler event.",
    )
    parser.add_argument("--bootstrap", required=True, help="bootstrap servers")
    parser.add_argument("--topic", required=True, help="topic to consume")
    parser.add_argument("--group", required=True, help="share group id")
    parser.add_argument("--out", required=True, type=Path, help="event file to append to")
    parser.add_argument("--fail-id", help="record id whose first attempts fail")
    parser.add_argument("--fail-times", type=int, default=0, help="how many attempts fail")
    parser.add_argument("--hang-on", help="record id whose handler blocks forever")
    parser.add_argument("--max-messages", type=int, help="stop after this many records")
    parser.add_argument("--idle-timeout-s", type=float, help="stop after this long without one")
    # The worker's Injector also knows id-based failure rules; the share route uses none.
    parser.set_defaults(transient_mod=None, permanent_mod=None)
    args = parser.parse_args(argv)
    if args.fail_times and not args.fail_id:
        parser.error("--fail-times needs --fail-id")
    return args


def main(argv: Sequence[str] | None = None) -> int:
    """Run until stopped (SIGTERM/SIGINT), killed, idle or done; 0 on a graceful stop."""
    args = parse_args(argv)
    events = EventLog(args.out)
    injector = Injector(args)
    try:
        with ShareGroupConsumer(args.bootstrap, args.topic, group_id=args.group) as consumer:
            consumer.install_signal_handlers()
            stats = consumer.run(
                lambda value, message: injector.work(record_id(message), events),
                max_messages=args.max_messages,
                idle_timeout_s=args.idle_timeout_s,
                on_retry=lambda message, count, backoff_ms, error: events.write(
                    "retry", record_id(message), count
                ),
                on_dead_letter=lambda message, error, count: events.write(
                    "dlq", record_id(message)
                ),
            )
        events.write("stopped", stats.stop_reason.replace(" ", "_"))
    finally:
        events.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
