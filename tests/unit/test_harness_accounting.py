"""Delivery accounting: acked within processed | dlq, processed & dlq empty, duplicates."""

from __future__ import annotations

import pytest

from harness.accounting import account_deliveries
from harness.errors import DeliveryAccountingError, HarnessError


def test_everything_processed_once_passes_with_no_duplicates() -> None:
    report = account_deliveries(acked=range(10), processed=range(10))
    assert report.acked == 10
    assert report.processed_unique == 10
    assert report.duplicates == 0
    assert report.unexpected == frozenset()


def test_redeliveries_are_counted_as_duplicates_not_failures() -> None:
    report = account_deliveries(
        acked=["a", "b", "c", "d"], processed=["a", "b", "b", "c", "b"], dlq=["d", "d"]
    )
    assert report.processed_total == 5 and report.processed_unique == 3
    assert report.dlq_total == 2 and report.dlq_unique == 1
    assert report.duplicates == 2 + 1


def test_a_lost_record_fails_and_is_named() -> None:
    with pytest.raises(DeliveryAccountingError) as info:
        account_deliveries(acked=["id-1", "id-2", "id-3"], processed=["id-1"], dlq=["id-3"])
    message = str(info.value)
    assert "1 of 3 acknowledged record(s)" in message
    assert "'id-2'" in message
    assert "'id-1'" not in message.split("lost")[1]


def test_a_record_both_processed_and_dead_lettered_fails() -> None:
    with pytest.raises(DeliveryAccountingError, match="both processed and dead-lettered: 7"):
        account_deliveries(acked=[7, 8], processed=[7, 8], dlq=[7])


def test_the_failure_is_an_assertion_error_and_a_harness_error() -> None:
    with pytest.raises(AssertionError) as info:
        account_deliveries(acked=[1], processed=[])
    assert isinstance(info.value, HarnessError)
    assert "Hint:" in str(info.value)


def test_long_lists_of_missing_ids_are_abbreviated() -> None:
    with pytest.raises(DeliveryAccountingError) as info:
        account_deliveries(acked=range(100), processed=[])
    message = str(info.value)
    assert "100 of 100" in message
    assert "... and 80 more" in message


def test_unacknowledged_ids_are_reported_and_fail_only_when_strict() -> None:
    report = account_deliveries(acked=[1, 2], processed=[1, 2, 99])
    assert report.unexpected == frozenset({99})
    assert "unexpected=1" in report.summary()
    with pytest.raises(DeliveryAccountingError, match="never acknowledged: 99"):
        account_deliveries(acked=[1, 2], processed=[1, 2, 99], strict=True)


def test_mixed_id_types_can_still_be_listed() -> None:
    with pytest.raises(DeliveryAccountingError) as info:
        account_deliveries(acked=[1, "1", (1, 2)], processed=[])
    assert "'1'" in str(info.value) and "(1, 2)" in str(info.value)
