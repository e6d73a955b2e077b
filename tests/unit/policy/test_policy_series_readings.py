"""When a recurring series is over (services.policy.readings.series_ended), for the delete rules: a row per branch."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from services.policy.readings import series_ended

NOW = datetime(2026, 6, 1, 12, 0, tzinfo=UTC)
WEEKLY = {"recurrencepatterntype": 1, "interval": 1, "daysofweekmask": 2, "patternstartdate": "2026-05-04",
          "patternendtype": 1, "starttime": "2026-05-04T09:00:00Z", "endtime": "2026-05-04T09:30:00Z"}  # fmt: skip


@pytest.mark.parametrize(
    ("pattern", "ended"),
    [
        (WEEKLY, False),  # no end date: never over
        ({**WEEKLY, "patternendtype": 3, "patternenddate": "2026-05-31"}, True),
        ({**WEEKLY, "patternendtype": 3, "patternenddate": "2026-06-01"}, False),  # its last day is today
        ({**WEEKLY, "patternendtype": 2, "occurrences": 3}, True),  # bound: three weeks from May 4
        ({**WEEKLY, "patternendtype": 2, "occurrences": 5}, False),
        ({**WEEKLY, "recurrencepatterntype": 3, "interval": 2, "dayofmonth": 1, "monthofyear": 1}, None),  # unholdable
        (None, None),  # unknown
        ("weekly", None),
    ],
)
def test_series_ended(pattern: Any, ended: bool | None) -> None:
    assert series_ended(pattern, NOW) is ended
