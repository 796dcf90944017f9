"""Per-key budgets: the periods a budget may run over and the period a moment falls in (no I/O).

A budget is a spend limit in micro-credits for the lifetime of a key or per UTC calendar period (day,
week from Monday, month). Each period is its own stored item, named by the period (`d2026-12-02`,
`w2026-11-30` for the week starting that Monday, `m2026-12`, `life`), so a new period starts by itself when
the first request of it names a new item: there is no reset to schedule or miss.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

PERIODS = ("lifetime", "day", "week", "month")
# The alert thresholds, as percents of a budget (the EMF metric KeyBudgetThreshold and its log line).
ALERT_PERCENTS = (80, 100)


@dataclass(frozen=True)
class Period:
    """One period of a budget: its item's name and its bounds (none for a lifetime budget)."""

    key: str
    start: datetime | None
    end: datetime | None

    @property
    def ends_at(self) -> str | None:
        return iso(self.end) if self.end is not None else None


@dataclass(frozen=True)
class BudgetHold:
    """The budget share of a hold: the key, the period the hold was taken in (its settle charges that one,
    even after a rollover) and the limit that was checked."""

    key_id: str
    period: str
    limit_micros: int
    ends_at: str | None = None


def iso(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


def check_period(period: str) -> str:
    if period not in PERIODS:
        raise ValueError(f"the budget period is one of {', '.join(PERIODS)}")
    return period


def period_at(period: str, now: datetime) -> Period:
    """The period of kind `period` that `now` (aware, any zone) falls in, in UTC."""
    now = now.astimezone(UTC)
    day = datetime(now.year, now.month, now.day, tzinfo=UTC)
    if period == "day":
        return Period(f"d{day:%Y-%m-%d}", day, day + timedelta(days=1))
    if period == "week":
        monday = day - timedelta(days=day.weekday())
        return Period(f"w{monday:%Y-%m-%d}", monday, monday + timedelta(days=7))
    if period == "month":
        first = day.replace(day=1)
        following = first.replace(year=first.year + 1, month=1) if first.month == 12 else first.replace(
            month=first.month + 1)
        return Period(f"m{first:%Y-%m}", first, following)
    check_period(period)
    return Period("life", None, None)

