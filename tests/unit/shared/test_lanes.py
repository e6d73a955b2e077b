"""Lanes per key in offset order, and the commit point after a batch with failures (shared.lanes)."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from shared.lanes import commit_offset, lanes


def test_lanes_keep_each_keys_order_and_first_appearance() -> None:
    records = [(0, "a"), (1, "b"), (2, "a"), (3, "c"), (4, "b"), (5, "a")]
    assert lanes(records, key=lambda r: r[1]) == [[(0, "a"), (2, "a"), (5, "a")], [(1, "b"), (4, "b")], [(3, "c")]]


def test_no_records_no_lanes() -> None:
    assert lanes([], key=lambda r: r) == []


def test_everything_done_commits_past_the_last_record() -> None:
    assert commit_offset([10, 11, 12], []) == 13


def test_a_failure_commits_only_what_precedes_it() -> None:
    assert commit_offset([10, 11, 12, 13], [12]) == 12
    assert commit_offset([10, 11, 12, 13], [13, 11]) == 11


def test_a_failure_on_the_first_record_commits_nothing() -> None:
    assert commit_offset([10, 11, 12], [10]) is None
    assert commit_offset([], []) is None


@given(st.lists(st.tuples(st.integers(0, 5), st.booleans()), max_size=40))
def test_commit_never_passes_an_unfinished_record(batch: list[tuple[int, bool]]) -> None:
    offsets = list(range(100, 100 + len(batch)))
    unfinished = [o for o, (_, failed) in zip(offsets, batch, strict=True) if failed]
    upto = commit_offset(offsets, unfinished)
    committed = [o for o in offsets if upto is not None and o < upto]
    assert not set(committed) & set(unfinished)
    assert committed == [o for o in offsets if o < min(unfinished, default=offsets[-1] + 1 if offsets else 0)]
    grouped = lanes(list(zip(offsets, batch, strict=True)), key=lambda r: r[1][0])
    assert sorted(o for lane in grouped for o, _ in lane) == offsets
    assert all([o for o, _ in lane] == sorted(o for o, _ in lane) for lane in grouped)
