"""A Jepsen-style delivery checker: what the broker acknowledged against what was read back.

Pure (no Kafka, no Docker): it takes two histories of one topic and reports every anomaly
with a count and a short sample, as Jepsen's Kafka checker does.

* ``writes``: the acknowledged records, from delivery reports: key, value id (unique per
  record), partition, offset, and the record's position in its key's send order (``seq``).
* ``reads``: the records read back (key, value id, partition, offset, optionally ``seq``);
  the same record may be read more than once (a consumer group redelivers after a crash).
* ``indeterminate``: value ids whose delivery was never confirmed (timed out, failed): they
  may or may not be in the log, so neither their absence nor their presence is an anomaly.

Anomalies:

* **lost**: acknowledged, never read back.
* **duplicated**: one value read back at two or more offsets (the log holds it twice).
* **reordered**: a key whose values, in offset order, are not in the order they were sent.
* **offset with two values**: one partition offset that an ack or a read saw holding one
  value and another ack or read saw holding another (the log was rewritten).
* **value at two offsets**: a value acknowledged at one offset but read back only at others.
* **unexpected**: read back, but never acknowledged nor attempted (reported, not an error).

>>> report = check_history(writes=[Write("k", "v1", 0, 0, 0)], reads=[])
>>> report.lost.count
1
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Hashable, Iterable, Mapping
from dataclasses import dataclass, field
from itertools import pairwise
from typing import Any, Final

#: How many examples each finding keeps.
SAMPLE_SIZE: Final = 5


@dataclass(frozen=True)
class Write:
    """One acknowledged record: where the delivery report says it landed."""

    key: str
    value: str
    partition: int
    offset: int
    seq: int | None = None
    """Position of this record in its key's send order (0, 1, 2, ...)."""


@dataclass(frozen=True)
class Read:
    """One record read back from the log (or handed to a consumer's handler)."""

    key: str
    value: str
    partition: int
    offset: int
    seq: int | None = None
    """The send position the record itself carries, when known; else taken from its write."""


@dataclass(frozen=True)
class Finding:
    """One kind of anomaly: how many were found and a few of them, described."""

    count: int = 0
    sample: tuple[str, ...] = ()

    def __bool__(self) -> bool:
        return self.count > 0


def sample_of(items: Iterable[Hashable], size: int = SAMPLE_SIZE) -> tuple[str, ...]:
    """A stable, short sample: the first ``size`` items in sorted order, as text."""
    ordered = sorted(items, key=lambda item: (type(item).__name__, repr(item)))
    return tuple(item if isinstance(item, str) else repr(item) for item in ordered[:size])


def finding(items: Iterable[Hashable], size: int = SAMPLE_SIZE) -> Finding:
    """A :class:`Finding` of every item, with a sample of them."""
    listed = list(items)
    return Finding(count=len(listed), sample=sample_of(listed, size))


def find_lost(acked: Iterable[Hashable], seen: Iterable[Hashable]) -> set[Hashable]:
    """The acknowledged ids that were never seen."""
    return set(acked) - set(seen)


def repeats(ids: Iterable[Hashable]) -> int:
    """How many extra times ids occur: ``len(ids) - len(set(ids))``."""
    listed = list(ids)
    return len(listed) - len(set(listed))


@dataclass(frozen=True)
class CheckReport:
    """Everything :func:`check_history` found. ``ok`` when no acknowledged record was lost,
    duplicated, reordered or moved, and no offset holds two values."""

    acked: int
    read_records: int
    """Distinct (partition, offset) positions read back."""
    redeliveries: int
    """Reads of a position already read (at-least-once consumers do that; not an anomaly)."""
    indeterminate: int
    lost: Finding = field(default_factory=Finding)
    duplicated: Finding = field(default_factory=Finding)
    reordered: Finding = field(default_factory=Finding)
    offset_conflicts: Finding = field(default_factory=Finding)
    """One offset holding two values."""
    moved: Finding = field(default_factory=Finding)
    """A value acknowledged at one offset, read back at another."""
    unexpected: Finding = field(default_factory=Finding)

    @property
    def ok(self) -> bool:
        """No anomaly that breaks the delivery guarantee (``unexpected`` does not count)."""
        return not (
            self.lost or self.duplicated or self.reordered or self.offset_conflicts or self.moved
        )

    def findings(self) -> dict[str, Finding]:
        """Each anomaly by its name in reports."""
        return {
            "lost": self.lost,
            "duplicated": self.duplicated,
            "reordered": self.reordered,
            "offset with two values": self.offset_conflicts,
            "value at two offsets": self.moved,
            "unexpected": self.unexpected,
        }

    def summary(self) -> str:
        """One line: the counts."""
        counts = " ".join(
            f"{name.replace(' ', '-')}={found.count}" for name, found in self.findings().items()
        )
        return (
            f"acked={self.acked} read={self.read_records} redeliveries={self.redeliveries} "
            f"indeterminate={self.indeterminate} {counts}"
        )

    def render(self) -> str:
        """The summary, then a line with the sample of each anomaly found."""
        lines = [self.summary()]
        for name, found in self.findings().items():
            if found:
                more = (
                    f" (and {found.count - len(found.sample)} more)"
                    if found.count > len(found.sample)
                    else ""
                )
                lines.append(f"  {name}: {found.count}: " + "; ".join(found.sample) + more)
        return "\n".join(lines)

    def as_dict(self) -> dict[str, Any]:
        """The report as JSON-ready data."""
        return {
            "acked": self.acked,
            "read_records": self.read_records,
            "redeliveries": self.redeliveries,
            "indeterminate": self.indeterminate,
            "ok": self.ok,
            **{
                name.replace(" ", "_"): {"count": found.count, "sample": list(found.sample)}
                for name, found in self.findings().items()
            },
        }


Position = tuple[int, int]


def _where(position: Position) -> str:
    return f"p{position[0]}@{position[1]}"


def check_history(
    writes: Iterable[Write],
    reads: Iterable[Read],
    indeterminate: Iterable[str] = (),
) -> CheckReport:
    """Compare acknowledged writes with the records read back (see the module docstring)."""
    acked: dict[str, Write] = {}
    for write in writes:
        acked.setdefault(write.value, write)
    unsure = set(indeterminate) - set(acked)

    # Every distinct position read, the values seen there, and the positions of each value.
    read_values_at: dict[Position, set[str]] = defaultdict(set)
    read_positions_of: dict[str, set[Position]] = defaultdict(set)
    first_read: dict[tuple[Position, str], Read] = {}
    read_count = 0
    for read in reads:
        read_count += 1
        position = (read.partition, read.offset)
        read_values_at[position].add(read.value)
        read_positions_of[read.value].add(position)
        first_read.setdefault((position, read.value), read)
    redeliveries = read_count - len(first_read)

    lost = [value for value in acked if value not in read_positions_of]
    duplicated = [
        f"{value} at " + ", ".join(_where(p) for p in sorted(positions))
        for value, positions in read_positions_of.items()
        if len(positions) > 1
    ]
    moved = [
        f"{value} acked at {_where((write.partition, write.offset))}, read at "
        + ", ".join(_where(p) for p in sorted(read_positions_of[value]))
        for value, write in acked.items()
        if value in read_positions_of
        and (write.partition, write.offset) not in read_positions_of[value]
    ]

    values_at: dict[Position, dict[str, str]] = defaultdict(dict)
    for position, values in read_values_at.items():
        for value in values:
            values_at[position][value] = "read"
    for value, write in acked.items():
        position = (write.partition, write.offset)
        values_at[position][value] = "acked+read" if value in values_at[position] else "acked"
    conflicts = [
        f"{_where(position)} holds "
        + ", ".join(f"{value} ({how})" for value, how in sorted(seen.items()))
        for position, seen in values_at.items()
        if len(seen) > 1
    ]

    unexpected = [
        value for value in read_positions_of if value not in acked and value not in unsure
    ]
    return CheckReport(
        acked=len(acked),
        read_records=len(read_values_at),
        redeliveries=redeliveries,
        indeterminate=len(unsure),
        lost=finding(lost),
        duplicated=finding(duplicated),
        reordered=finding(_reorders(first_read.values(), acked)),
        offset_conflicts=finding(conflicts),
        moved=finding(moved),
        unexpected=finding(unexpected),
    )


def _reorders(reads: Iterable[Read], acked: Mapping[str, Write]) -> list[str]:
    """Per key and partition, each pair of neighbours (in offset order, first copy of each
    value) whose send order is reversed."""
    first_offset: dict[str, Read] = {}
    for read in reads:
        seen = first_offset.get(read.value)
        if seen is None or (read.partition, read.offset) < (seen.partition, seen.offset):
            first_offset[read.value] = read
    by_key: dict[tuple[str, int], list[tuple[int, int, str]]] = defaultdict(list)
    for value, read in first_offset.items():
        seq = read.seq if read.seq is not None else getattr(acked.get(value), "seq", None)
        if seq is not None:
            by_key[(read.key, read.partition)].append((read.offset, seq, value))
    found = []
    for (key, partition), entries in sorted(by_key.items()):
        entries.sort()
        for (offset_a, seq_a, value_a), (offset_b, seq_b, value_b) in pairwise(entries):
            if seq_b < seq_a:
                found.append(
                    f"key {key}: {value_a} (sent #{seq_a}) at p{partition}@{offset_a} before "
                    f"{value_b} (sent #{seq_b}) at p{partition}@{offset_b}"
                )
    return found
