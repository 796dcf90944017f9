"""Budget periods: UTC calendar days, weeks from Monday, months, and the lifetime (pure logic)."""

from datetime import UTC, datetime, timedelta, timezone

import pytest

from unigate.domain.budgets import check_period, period_at


@pytest.mark.parametrize(("period", "key", "start", "end"), [
    ("day", "d2026-12-31", "2026-12-31T00:00:00Z", "2027-01-01T00:00:00Z"),
    ("week", "w2026-12-28", "2026-12-28T00:00:00Z", "2027-01-04T00:00:00Z"),
    ("month", "m2026-12", "2026-12-01T00:00:00Z", "2027-01-01T00:00:00Z"),
])
def test_periods_are_utc_calendar_periods(period: str, key: str, start: str, end: str) -> None:
    moment = datetime(2026, 12, 31, 23, 59, 59, tzinfo=UTC)
    found = period_at(period, moment)
    assert found.start is not None
    assert (found.key, found.start.isoformat().replace("+00:00", "Z"), found.ends_at) == (key, start, end)
    following = period_at(period, datetime.fromisoformat(end.replace("Z", "+00:00")))
    assert following.key != key  # the next period starts exactly at the end of this one
    assert period_at(period, datetime.fromisoformat(end.replace("Z", "+00:00")) - timedelta(microseconds=1)).key == key


def test_a_local_time_counts_in_its_utc_period() -> None:
    tokyo = timezone(timedelta(hours=9))
    assert period_at("day", datetime(2026, 12, 2, 8, 0, tzinfo=tokyo)).key == "d2026-12-01"
    assert period_at("month", datetime(2026, 3, 1, 1, 0, tzinfo=tokyo)).key == "m2026-02"


def test_a_lifetime_budget_never_ends_and_unknown_periods_are_refused() -> None:
    life = period_at("lifetime", datetime(2026, 1, 1, tzinfo=UTC))
    assert (life.key, life.start, life.end, life.ends_at) == ("life", None, None, None)
    with pytest.raises(ValueError, match="lifetime, day, week, month"):
        check_period("year")
    with pytest.raises(ValueError, match="lifetime, day, week, month"):
        period_at("quarter", datetime(2026, 1, 1, tzinfo=UTC))
