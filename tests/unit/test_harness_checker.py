"""The delivery checker on constructed histories: each anomaly is found, a clean one passes."""

from __future__ import annotations

import json

import pytest

from harness.accounting import account_records
from harness.checker import CheckReport, Read, Write, check_history
from harness.errors import DeliveryAccountingError


def history(keys: int = 3, per_key: int = 4) -> list[Write]:
    """Writes of ``keys`` keys, one partition per key, offsets in send order."""
    writes = []
    offsets = dict.fromkeys(range(keys), 0)
    for seq in range(per_key):
        for key in range(keys):
            writes.append(Write(f"k{key}", f"k{key}-{seq}", key, offsets[key], seq))
            offsets[key] += 1
    return writes


def read_back(writes: list[Write]) -> list[Read]:
    """Every write read back where its ack said, in offset order."""
    ordered = sorted(writes, key=lambda w: (w.partition, w.offset))
    return [Read(w.key, w.value, w.partition, w.offset) for w in ordered]


def anomalies(report: CheckReport) -> dict[str, int]:
    return {name: found.count for name, found in report.findings().items() if found}


def test_a_clean_history_passes_with_nothing_found() -> None:
    writes = history()
    report = check_history(writes, read_back(writes))
    assert report.ok
    assert anomalies(report) == {}
    assert (report.acked, report.read_records, report.redeliveries) == (12, 12, 0)


def test_a_lost_write_is_found_and_named() -> None:
    writes = history()
    reads = [r for r in read_back(writes) if r.value != "k1-2"]
    report = check_history(writes, reads)
    assert not report.ok
    assert anomalies(report) == {"lost": 1}
    assert report.lost.sample == ("k1-2",)


def test_a_duplicate_in_the_log_is_found_with_both_offsets() -> None:
    writes = history(keys=1, per_key=3)
    reads = [*read_back(writes), Read("k0", "k0-2", 0, 3)]  # a retry wrote it again
    report = check_history(writes, reads)
    assert anomalies(report) == {"duplicated": 1}
    assert report.duplicated.sample == ("k0-2 at p0@2, p0@3",)


def test_a_redelivery_at_the_same_offset_is_not_a_duplicate() -> None:
    writes = history()
    reads = read_back(writes)
    report = check_history(writes, reads + reads[:5])
    assert report.ok
    assert report.redeliveries == 5 and report.read_records == 12


def test_a_reorder_within_a_key_is_found() -> None:
    writes = [Write("k", "a", 0, 0, 0), Write("k", "b", 0, 2, 1), Write("k", "c", 0, 1, 2)]
    report = check_history(writes, read_back(writes))
    assert anomalies(report) == {"reordered": 1}
    assert report.reordered.sample[0] == "key k: c (sent #2) at p0@1 before b (sent #1) at p0@2"


def test_the_order_carried_by_a_read_wins_over_a_missing_write_order() -> None:
    reads = [Read("k", "x", 0, 0, seq=1), Read("k", "y", 0, 1, seq=0)]
    report = check_history([Write("k", "x", 0, 0), Write("k", "y", 0, 1)], reads)
    assert anomalies(report) == {"reordered": 1}


def test_interleaved_keys_on_one_partition_are_not_a_reorder() -> None:
    writes = [Write("a", "a0", 0, 0, 0), Write("b", "b0", 0, 1, 0), Write("a", "a1", 0, 2, 1)]
    assert check_history(writes, read_back(writes)).ok


def test_one_offset_holding_two_values_is_found() -> None:
    # An unclean election: the acked record at p0@3 was truncated and p0@3 now holds another.
    writes = history(keys=1, per_key=4)
    reads = [*read_back(writes)[:3], Read("k0", "new-0", 0, 3)]
    report = check_history(writes, reads, indeterminate=["new-0"])
    assert anomalies(report) == {"lost": 1, "offset with two values": 1}
    assert report.offset_conflicts.sample == ("p0@3 holds k0-3 (acked), new-0 (read)",)


def test_two_reads_that_disagree_about_an_offset_are_found() -> None:
    writes = [Write("k", "a", 0, 0, 0)]
    reads = [Read("k", "a", 0, 0), Read("k", "b", 0, 1), Read("k", "c", 0, 1)]
    report = check_history(writes, reads, indeterminate=["b", "c"])
    assert anomalies(report) == {"offset with two values": 1}
    assert report.offset_conflicts.sample == ("p0@1 holds b (read), c (read)",)


def test_a_value_read_at_another_offset_than_acked_is_found() -> None:
    writes = [Write("k", "a", 0, 0, 0), Write("k", "b", 0, 1, 1)]
    reads = [Read("k", "a", 0, 0), Read("k", "b", 0, 2)]
    report = check_history(writes, reads)
    assert anomalies(report) == {"value at two offsets": 1}
    assert report.moved.sample == ("b acked at p0@1, read at p0@2",)


def test_unacknowledged_reads_are_reported_but_do_not_fail() -> None:
    writes = history(keys=1, per_key=2)
    reads = [*read_back(writes), Read("k0", "maybe", 0, 2), Read("k0", "ghost", 0, 3)]
    report = check_history(writes, reads, indeterminate=["maybe"])
    assert report.ok
    assert anomalies(report) == {"unexpected": 1}
    assert report.unexpected.sample == ("ghost",)
    assert report.indeterminate == 1


def test_samples_are_short_and_the_render_says_how_many_more() -> None:
    writes = history(keys=1, per_key=50)
    report = check_history(writes, [])
    assert report.lost.count == 50 and len(report.lost.sample) == 5
    assert "lost: 50: " in report.render() and "(and 45 more)" in report.render()


def test_the_report_is_json_ready() -> None:
    writes = history()
    data = json.loads(json.dumps(check_history(writes, read_back(writes)[1:]).as_dict()))
    assert data["ok"] is False
    assert data["lost"] == {"count": 1, "sample": ["k0-0"]}
    assert data["offset_with_two_values"]["count"] == 0


def test_account_records_passes_a_clean_consumer_history_with_a_dlq() -> None:
    writes = history()
    reads = read_back(writes)
    processed, dead = reads[:-1], reads[-1:]
    result = account_records(writes, processed + processed[:2], dead)
    assert result.ids.dlq_unique == 1 and result.ids.duplicates == 2
    assert result.check.redeliveries == 2 and result.check.ok


def test_account_records_fails_on_an_offset_holding_two_values() -> None:
    writes = history(keys=1, per_key=2)
    reads = [Read("k0", "k0-0", 0, 0), Read("k0", "k0-1", 0, 0)]
    with pytest.raises(DeliveryAccountingError, match="offset with two values: 1: p0@0"):
        account_records(writes, reads)
