"""The attachments field value and the plan that turns one side's files into the wanted ones (shared.attachments)."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from shared.attachments import (
    AttachmentPlan,
    AttachmentValueError,
    canonical,
    digest,
    entry,
    oversized,
    plan,
    steps,
    validated,
)
from shared.item_state import ANNOUNCED_STEPS, Echo, holds

A = entry("a.txt", "text/plain", 1, digest(b"a"))
B = entry("b.pdf", "application/pdf", 2, digest(b"bb"))
B2 = entry("b.pdf", "application/pdf", 2, digest(b"BB"))  # same name and size, other content


def test_canonical_sorts_fills_the_type_and_says_none_for_no_file() -> None:
    assert canonical([B, A]) == [A, B]
    assert canonical([]) is None and canonical(None) is None
    assert canonical([{"name": "x", "content_type": None, "size": 0, "sha256": "0" * 64}]) == [
        {"name": "x", "content_type": "application/octet-stream", "size": 0, "sha256": "0" * 64}
    ]


@pytest.mark.parametrize(
    ("value", "words"),
    [
        ("a.txt", "must be a list"),
        ([{"name": "a"}], "exactly"),
        ([{**A, "size": -1}], "no valid size"),
        ([{**A, "size": True}], "no valid size"),
        ([{**A, "sha256": "abc"}], "no valid sha256"),
        ([{**A, "extra": 1}], "exactly"),
    ],
)
def test_validated_refuses_what_is_not_a_file_list(value: Any, words: str) -> None:
    with pytest.raises(AttachmentValueError, match=words):
        validated(value)


def test_validated_accepts_none_and_entries() -> None:
    assert validated(None) is None
    assert validated([B, A]) == [A, B]


@pytest.mark.parametrize(
    ("current", "wanted", "expected"),
    [
        ([], [A], AttachmentPlan((A,), ())),
        ([("1", A)], [A], AttachmentPlan((), ())),
        ([("1", A)], None, AttachmentPlan((), ("1",))),
        ([("1", A), ("2", B)], [B], AttachmentPlan((), ("1",))),
        ([("1", B)], [B2], AttachmentPlan((B2,), ("1",))),  # same name and size, other bytes: replaced
        ([("1", A), ("2", A)], [A], AttachmentPlan((), ("2",))),  # an extra copy goes
        ([("1", A)], [A, A], AttachmentPlan((A,), ())),  # a second copy is added
    ],
)
def test_plan(current: list[tuple[str, dict[str, Any]]], wanted: list[dict[str, Any]] | None,
              expected: AttachmentPlan) -> None:  # fmt: skip
    assert plan(current, wanted) == expected


FILES = st.sampled_from([A, B, B2])


@given(st.lists(FILES, max_size=5), st.lists(FILES, max_size=5))
def test_carrying_out_the_plan_holds_exactly_the_wanted_files(held: list[dict[str, Any]],
                                                              wanted: list[dict[str, Any]]) -> None:  # fmt: skip
    current = [(str(i), f) for i, f in enumerate(held)]
    planned = plan(current, wanted)
    after = [f for i, f in current if i not in planned.remove] + list(planned.add)
    assert canonical(after) == canonical(wanted)
    passed = steps(current, planned)
    assert len(passed) == len(planned.add) + len(planned.remove)
    assert not passed or passed[-1] == canonical(wanted)


def test_oversized_names_the_files_over_the_cap() -> None:
    assert oversized([A, B], 1) == [B]
    assert oversized(None, 1) == []


def test_a_capture_recognises_every_step_of_an_announced_file_write() -> None:
    echo = Echo("v1", {}, None, {"attachments": [A, B], ANNOUNCED_STEPS: {"attachments": [[A], [A, B]]}})
    assert holds(echo, "attachments", [A], "v2")  # read half-way
    assert holds(echo, "attachments", [A, B], "v3")
    assert not holds(echo, "attachments", [B], "v2")  # a person's own change
