"""The crash-point matrix: SIGKILL the retrying consumer at named points and at random times.

One topic of 3 partitions holds ``--records`` records; the handler fails once on one record
in ten (transient) and always on one in a hundred (permanent: retried, then dead-lettered).
Worker processes (:mod:`harness.smoke.worker`) consume it one after another; each is
SIGKILLed, by itself at a named :class:`~harness.checkpoints.Checkpoint` (after a failed
handler call, during a backoff, before and after the DLQ write, after the store, during the
commit) or by this script at a random time, once it finished about ``records / kills``
records. A last worker finishes the topic. Then::

    lost        acknowledged records neither processed nor dead-lettered: must be 0
    DLQ         read with isolation.level=read_committed: exactly the permanent failures,
                each once (transactional DLQ mode)
    duplicates  records processed again after a kill, per kill
    takeover    how long a restarted worker took to handle its first record

    python -m tests.crash_matrix --bootstrap localhost:9092 --records 10000 --kills 24
"""

from __future__ import annotations

import argparse
import itertools
import random
import signal
import statistics
import subprocess
import sys
import time
import uuid
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Final

from confluent_kafka import OFFSET_BEGINNING, Consumer, TopicPartition
from confluent_kafka.admin import AdminClient, NewTopic

from harness.producer import JsonProducer

REPO_ROOT: Final = Path(__file__).resolve().parents[1]
#: The named points, then a kill from outside at a random time.
POINTS: Final = ("handler-failed", "backoff", "dlq-write", "dlq-written", "stored", "commit")
RANDOM: Final = "random"
TRANSIENT_MOD: Final = 10
PERMANENT_MOD: Final = 100


@dataclass
class Kill:
    """One worker's life: where it was killed, what it did, how soon it took over."""

    point: str
    events: Path
    killed: bool = False
    takeover_s: float | None = None

    def ids(self, event: str) -> list[str]:
        """Ids of every ``event`` line this worker wrote."""
        if not self.events.exists():
            return []
        lines = self.events.read_text(encoding="utf-8").splitlines()
        return [line.split(" ")[1] for line in lines if line.startswith(event + " ")]


@dataclass
class MatrixReport:
    """The outcome; :meth:`problems` lists what broke a guarantee."""

    records: int
    permanent: set[str]
    acked: set[str]
    processed: Counter[str]
    dlq: Counter[str]
    kills: list[Kill] = field(default_factory=list)
    duplicates_per_kill: list[int] = field(default_factory=list)
    exactly_once_dlq: bool = True

    @property
    def lost(self) -> set[str]:
        """Acknowledged, but neither processed nor dead-lettered."""
        return self.acked - set(self.processed) - set(self.dlq)

    def problems(self) -> list[str]:
        """Every broken guarantee, in words (empty when all held)."""
        found = []
        if self.lost:
            found.append(f"{len(self.lost)} record(s) lost: {sorted(self.lost)[:10]}")
        if set(self.dlq) != self.permanent:
            extra, missing = set(self.dlq) - self.permanent, self.permanent - set(self.dlq)
            found.append(f"DLQ is not the permanent failures: extra {extra}, missing {missing}")
        twice = {k: n for k, n in self.dlq.items() if n > 1}
        if self.exactly_once_dlq and twice:
            found.append(f"dead letters seen more than once (read_committed): {twice}")
        both = set(self.processed) & set(self.dlq)
        if both:
            found.append(f"processed and dead-lettered: {sorted(both)[:10]}")
        killed = sum(kill.killed for kill in self.kills)
        if killed < len(self.kills):
            found.append(f"only {killed} of {len(self.kills)} workers were killed")
        missed = [kill.point for kill in self.kills if kill.point.endswith("(not reached)")]
        if missed:
            found.append(f"{len(missed)} worker(s) never reached their crash point: {missed}")
        return found

    def summary(self) -> str:
        """The figures, as lines."""
        takeovers = [k.takeover_s for k in self.kills if k.takeover_s is not None]
        by_point = Counter(kill.point for kill in self.kills if kill.killed)
        dlq_copies = sum(self.dlq.values())
        mean = statistics.fmean(self.duplicates_per_kill or [0])
        lines = [
            f"records {self.records}, acked {len(self.acked)}, kills {len(self.kills)} "
            f"({', '.join(f'{p} {n}' for p, n in sorted(by_point.items()))})",
            f"lost {len(self.lost)}; processed {len(self.processed)} unique "
            f"({sum(self.processed.values())} deliveries); DLQ {len(self.dlq)} unique, "
            f"{dlq_copies} copies, permanent failures {len(self.permanent)}",
            f"processed duplicates: total {sum(self.duplicates_per_kill)}, per kill "
            f"{self.duplicates_per_kill} (mean {mean:.1f})",
        ]
        if takeovers:
            lines.append(
                f"takeover after a kill: median {statistics.median(takeovers):.2f} s, "
                f"max {max(takeovers):.2f} s"
            )
        return "\n".join(lines)


def _number(record_id: str) -> int:
    return int(record_id.rsplit("-", 1)[1])


def _produce(bootstrap: str, topic: str, ids: list[str]) -> set[str]:
    with JsonProducer(bootstrap, config={"queue.buffering.max.messages": 1_000_000}) as producer:
        for record_id in ids:
            producer.send(topic, {"id": record_id}, key=record_id)
        producer.flush()
        return {ack.key_text for ack in producer.acked if ack.key_text is not None}


def read_committed_keys(bootstrap: str, topic: str, partitions: int) -> Counter[str]:
    """Keys of every committed record of ``topic`` (``isolation.level=read_committed``)."""
    reader = Consumer(
        {
            "bootstrap.servers": bootstrap,
            "group.id": f"crash-reader-{uuid.uuid4().hex[:8]}",
            "isolation.level": "read_committed",
            "enable.auto.commit": False,
            "enable.partition.eof": True,
        }
    )
    try:
        reader.assign([TopicPartition(topic, p, OFFSET_BEGINNING) for p in range(partitions)])
        keys: Counter[str] = Counter()
        at_end: set[int] = set()
        deadline = time.monotonic() + 60
        while len(at_end) < partitions and time.monotonic() < deadline:
            message = reader.poll(0.5)
            if message is None:
                continue
            if message.error() is not None:
                at_end.add(message.partition() or 0)
                continue
            key = message.key()
            if key is not None:
                keys[key.decode()] += 1
        if len(at_end) < partitions:
            raise RuntimeError(f"{topic}: read_committed reader did not reach the end in 60 s")
        return keys
    finally:
        reader.close()


def _spawn(
    bootstrap: str, topic: str, group: str, kill: Kill, options: list[str]
) -> subprocess.Popen[bytes]:
    command = [
        sys.executable,
        "-m",
        "harness.smoke.worker",
        *("--bootstrap", bootstrap, "--topic", topic, "--group", group, "--out", str(kill.events)),
        *("--transient-mod", str(TRANSIENT_MOD), "--permanent-mod", str(PERMANENT_MOD)),
        *options,
    ]
    log = kill.events.with_suffix(".log").open("wb")
    return subprocess.Popen(command, cwd=REPO_ROOT, stdout=log, stderr=subprocess.STDOUT)


def _first_done_within(
    kill: Kill, process: subprocess.Popen[bytes], started: float, limit_s: float
) -> None:
    while time.monotonic() - started < limit_s and process.poll() is None:
        if kill.ids("done") or kill.ids("dlq"):
            kill.takeover_s = time.monotonic() - started
            return
        time.sleep(0.02)


def _died_or_idle(kill: Kill, process: subprocess.Popen[bytes], *, idle_s: float) -> bool:
    """Wait until the worker dies (``True``) or writes no event for ``idle_s`` (``False``)."""
    size, quiet_since = -1, time.monotonic()
    while process.poll() is None:
        now_size = kill.events.stat().st_size if kill.events.exists() else 0
        if now_size != size:
            size, quiet_since = now_size, time.monotonic()
        elif time.monotonic() - quiet_since > idle_s:
            return False
        time.sleep(0.1)
    return True


def run_matrix(
    bootstrap: str,
    *,
    records: int,
    kills: int,
    workdir: Path,
    protocol: str = "classic",
    dlq_mode: str = "transactional",
    commit: str = "manual",
    backoff_ms: float = 20,
    seed: int | None = None,
    log: bool = True,
) -> MatrixReport:
    """Run the matrix on a fresh topic of ``bootstrap`` and return what it found."""
    rng = random.Random(seed)
    run = uuid.uuid4().hex[:8]
    topic, group, member = f"crash-{run}", f"crash-{run}", f"crash-member-{run}"
    admin = AdminClient({"bootstrap.servers": bootstrap})
    for future in admin.create_topics(
        [NewTopic(topic, 3, 1), NewTopic(f"{topic}-dlq", 3, 1)]
    ).values():
        future.result(timeout=30)
    try:
        ids = [f"crash-{run}-{n}" for n in range(records)]
        acked = _produce(bootstrap, topic, ids)
        permanent = {i for i in ids if _number(i) % PERMANENT_MOD == 7}
        common = [
            *("--group-protocol", protocol, "--commit", commit, "--dlq-mode", dlq_mode),
            *("--backoff-ms", str(backoff_ms), "--transactional-id", f"crash-tx-{run}"),
        ]
        if protocol == "classic":  # a restart takes the dead member's partitions at once
            common += ["--instance-id", member]
        # With auto-commit, librdkafka commits on its own thread: no commit point to kill at.
        points = [p for p in POINTS if commit == "manual" or p != "commit"]
        schedule = list(itertools.islice(itertools.cycle([*points, RANDOM]), kills))
        rng.shuffle(schedule)
        per_worker = max(1, records // (2 * kills))  # half the records are left for the end
        report = MatrixReport(records, permanent, acked, Counter(), Counter())
        report.exactly_once_dlq = dlq_mode == "transactional"
        for index, point in enumerate(schedule):
            kill = Kill(point, workdir / f"worker-{index:02d}.events")
            arm = str(int(per_worker * rng.uniform(0.5, 1.5)))
            options = [] if point == RANDOM else ["--crash-at", point, "--crash-after-records", arm]
            started = time.monotonic()
            process = _spawn(bootstrap, topic, group, kill, [*common, *options])
            _first_done_within(kill, process, started, 60)
            if point == RANDOM:
                target = int(arm)
                while len(kill.ids("done")) < target and process.poll() is None:
                    time.sleep(0.01)
                process.send_signal(signal.SIGKILL)
            if not _died_or_idle(kill, process, idle_s=15):
                process.kill()  # it never reached its point: nothing left to work on
                process.wait()
                kill.point += " (not reached)"
            kill.killed = process.returncode == -signal.SIGKILL
            report.kills.append(kill)
            if log:
                print(
                    f"kill {index + 1}/{kills} at {point}: {len(kill.ids('done'))} done, "
                    f"takeover {kill.takeover_s}",
                    flush=True,
                )
        last = Kill("none (finishes)", workdir / "worker-last.events")
        process = _spawn(bootstrap, topic, group, last, [*common, "--idle-timeout-s", "15"])
        process.wait(timeout=600)
        workers = [*report.kills, last]
        processed_by = [Counter(worker.ids("done")) for worker in workers]
        for counts in processed_by:
            report.processed.update(counts)
        for index in range(len(report.kills)):
            later = set().union(*(set(c) for c in processed_by[index + 1 :]))
            report.duplicates_per_kill.append(len(set(processed_by[index]) & later))
        report.dlq = read_committed_keys(bootstrap, f"{topic}-dlq", 3)
        return report
    finally:
        admin.delete_topics([topic, f"{topic}-dlq"])


def main() -> int:
    """Run the matrix and print its figures; exit 1 when a guarantee broke."""
    parser = argparse.ArgumentParser(prog="python -m tests.crash_matrix", description=__doc__)
    parser.add_argument("--bootstrap", default="localhost:9092")
    parser.add_argument("--records", type=int, default=10_000)
    parser.add_argument("--kills", type=int, default=24)
    parser.add_argument("--protocol", choices=("classic", "consumer"), default="classic")
    parser.add_argument(
        "--dlq-mode", choices=("transactional", "at-least-once"), default="transactional"
    )
    parser.add_argument("--commit", choices=("manual", "auto"), default="manual")
    parser.add_argument("--seed", type=int)
    parser.add_argument(
        "--workdir", type=Path, help="where worker event files go (default: a temp dir)"
    )
    args = parser.parse_args()
    workdir = args.workdir or Path(subprocess.check_output(["mktemp", "-d"], text=True).strip())
    workdir.mkdir(parents=True, exist_ok=True)
    started = time.monotonic()
    report = run_matrix(
        args.bootstrap,
        records=args.records,
        kills=args.kills,
        workdir=workdir,
        protocol=args.protocol,
        dlq_mode=args.dlq_mode,
        commit=args.commit,
        seed=args.seed,
    )
    print(
        f"crash matrix ({args.protocol} protocol, {args.dlq_mode} DLQ, {args.commit} commit, "
        f"{time.monotonic() - started:.0f} s, events in {workdir}):"
    )
    print(report.summary())
    problems = report.problems()
    for problem in problems:
        print(f"FAILED: {problem}")
    print("result: " + ("FAILED" if problems else "every guarantee held"))
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
