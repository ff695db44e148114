"""Delivery accounting, as Kafka's own system tests do it.

Every fault test produces records with unique ids, records the ids the broker acknowledged,
and at the end hands three collections to :func:`account_deliveries`:

* ``acked``: ids from delivery reports (each once),
* ``processed``: ids the handler completed, *with* repeats (redeliveries are allowed),
* ``dlq``: ids found in the dead-letter topic, with repeats.

It asserts that ``acked`` is a subset of ``processed | dlq`` (nothing acknowledged was lost)
and that ``processed & dlq`` is empty (nothing both handled and dead-lettered), and counts
duplicates.
Ids seen but never acknowledged (e.g. a delivery that timed out but did land) are reported,
not failed, unless ``strict``.

:func:`account_records` does the same with positions (partition, offset) and hands the whole
history to the delivery checker (:mod:`harness.checker`), which also finds records the log
holds twice, per-key reordering and offsets holding two values; a record the consumer was
handed twice at the same position is a redelivery, allowed at-least-once.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Hashable, Iterable
from dataclasses import dataclass
from typing import Final

from harness.checker import CheckReport, Read, Write, check_history, find_lost, repeats
from harness.errors import DeliveryAccountingError

#: How many ids an error message lists before it says "... and N more".
MAX_LISTED_IDS: Final = 20


@dataclass(frozen=True)
class AccountingReport:
    """The outcome of :func:`account_deliveries` (only returned when the checks passed)."""

    acked: int
    processed_unique: int
    processed_total: int
    dlq_unique: int
    dlq_total: int
    duplicates: int
    unexpected: frozenset[Hashable]

    def summary(self) -> str:
        """One line for a test report."""
        return (
            f"acked={self.acked} processed={self.processed_unique} "
            f"(deliveries {self.processed_total}) dlq={self.dlq_unique} "
            f"(copies {self.dlq_total}) duplicates={self.duplicates} "
            f"unexpected={len(self.unexpected)}"
        )


def _listing(ids: Iterable[Hashable]) -> str:
    ordered = sorted(ids, key=lambda item: (type(item).__name__, repr(item)))
    shown = ", ".join(repr(item) for item in ordered[:MAX_LISTED_IDS])
    rest = len(ordered) - MAX_LISTED_IDS
    return shown + (f", ... and {rest} more" if rest > 0 else "")


def account_deliveries(
    acked: Iterable[Hashable],
    processed: Iterable[Hashable],
    dlq: Iterable[Hashable] = (),
    *,
    strict: bool = False,
) -> AccountingReport:
    """Check that every acknowledged id was processed or dead-lettered, and not both.

    ``duplicates`` is the number of extra deliveries: ``len(processed) - |set(processed)|``
    plus the same for ``dlq``. Raises :class:`~harness.errors.DeliveryAccountingError` (an
    ``AssertionError``) listing the missing and the double-booked ids; with ``strict``, ids
    processed or dead-lettered but never acknowledged fail the check too.
    """
    acked_set = set(acked)
    processed_counts = Counter(processed)
    dlq_counts = Counter(dlq)
    processed_set, dlq_set = set(processed_counts), set(dlq_counts)

    missing = find_lost(acked_set, processed_set | dlq_set)
    both = processed_set & dlq_set
    unexpected = (processed_set | dlq_set) - acked_set
    problems: list[str] = []
    if missing:
        problems.append(
            f"{len(missing)} of {len(acked_set)} acknowledged record(s) neither processed nor "
            f"dead-lettered (lost): {_listing(missing)}"
        )
    if both:
        problems.append(f"{len(both)} record(s) both processed and dead-lettered: {_listing(both)}")
    if strict and unexpected:
        problems.append(
            f"{len(unexpected)} record(s) seen but never acknowledged: {_listing(unexpected)}"
        )
    if problems:
        raise DeliveryAccountingError(
            "delivery accounting failed:\n  " + "\n  ".join(problems),
            hint="expected acked <= processed | dlq and processed & dlq == set(); "
            "a lost record means an offset was committed before its work was done",
        )
    processed_total = sum(processed_counts.values())
    dlq_total = sum(dlq_counts.values())
    return AccountingReport(
        acked=len(acked_set),
        processed_unique=len(processed_set),
        processed_total=processed_total,
        dlq_unique=len(dlq_set),
        dlq_total=dlq_total,
        duplicates=repeats(processed_counts.elements()) + repeats(dlq_counts.elements()),
        unexpected=frozenset(unexpected),
    )


@dataclass(frozen=True)
class RecordAccounting:
    """The outcome of :func:`account_records` (only returned when the checks passed)."""

    ids: AccountingReport
    check: CheckReport

    def summary(self) -> str:
        """One line for a test report: the id accounting, then the checker's counts."""
        return f"{self.ids.summary()} | {self.check.summary()}"


def account_records(
    acked: Iterable[Write],
    processed: Iterable[Read],
    dlq: Iterable[Read] = (),
    *,
    indeterminate: Iterable[str] = (),
) -> RecordAccounting:
    """Account by value id *and* by position: acked <= processed | dlq, processed & dlq
    empty, then the delivery checker over every record handled or dead-lettered.

    ``dlq`` records carry the *source* position (their ``dlq.original.*`` headers). Raises
    :class:`~harness.errors.DeliveryAccountingError` with the checker's samples when an
    acknowledged record was lost, the log holds one twice, a key was reordered, or an offset
    holds two values.
    """
    writes, handled, dead = list(acked), list(processed), list(dlq)
    ids = account_deliveries(
        [w.value for w in writes], [r.value for r in handled], [r.value for r in dead]
    )
    check = check_history(writes, handled + dead, indeterminate)
    if not check.ok:
        raise DeliveryAccountingError(
            "delivery check failed:\n  " + check.render().replace("\n", "\n  "),
            hint="an acknowledged record must be read back exactly once, at the offset its "
            "delivery report gave, in its key's send order",
        )
    return RecordAccounting(ids=ids, check=check)
