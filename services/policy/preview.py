"""The preview: the change window replayed under the current and a candidate policy, and what would differ.

Pure: no I/O, no clock, no logging. replay.py decides each recorded change again under each policy (from the
facts it was decided on); preview_diff.py compares them, preview_sentences.py says which change of the candidate
explains what. Nothing is published or written: the report is all there is.
"""

from __future__ import annotations

from collections.abc import Sequence

from services.policy.preview_diff import REMOVING, Compared, differs, flow_changes, moves, sample, summary
from services.policy.preview_sentences import explanations
from services.policy.replay import replay
from services.policy.security import Security
from shared.catalogue import Catalogue
from shared.change_window import WindowEntry
from shared.events import Policy
from shared.preview import SAMPLE_SIZE, PreviewReport

MOVES_SHOWN = 50


def compare(
    entries: Sequence[WindowEntry], catalogue: Catalogue, current: Policy, candidate: Policy,
    fallback: Security | None = None,
) -> list[Compared]:  # fmt: skip
    return [
        Compared(entry, replay(entry, catalogue, current, fallback), replay(entry, catalogue, candidate, fallback))
        for entry in entries
    ]


def preview(
    entries: Sequence[WindowEntry], catalogue: Catalogue, current: Policy, candidate: Policy,
    fallback: Security | None = None, sample_size: int = SAMPLE_SIZE,
) -> PreviewReport:  # fmt: skip
    """The report of `candidate` against `current` over the window's entries (oldest first)."""
    compared = compare(entries, catalogue, current, candidate, fallback)
    differing = [one for one in compared if differs(one)]
    moved = [move for one in differing for move in moves(one)]
    return PreviewReport(
        current_version=current.version,
        window=summary(entries),
        differing=len(differing),
        flows=flow_changes(differing),
        entering=sum(1 for m in moved if m.candidate == "create"),
        leaving=sum(1 for m in moved if m.candidate in REMOVING and m.current not in REMOVING),
        not_entering=sum(1 for m in moved if m.current == "create"),
        not_leaving=sum(1 for m in moved if m.current in REMOVING and m.candidate not in REMOVING),
        moves=tuple(moved[:MOVES_SHOWN]),
        samples=tuple(sample(one) for one in differing[::-1][:sample_size]),  # the newest first
        explanations=explanations(compared, current, candidate),
    )
