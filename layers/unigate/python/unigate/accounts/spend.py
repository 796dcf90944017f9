"""Spend reports (GET /v0/spend, `unigate spend`) and a key's own spend and budget (GET /v0/key).

Answered from the aggregates the settles write (unigate.stores.spend), never from the query log: a
report's cost depends on the buckets and the combinations of key, endpoint and tags in its range, not
on the number of requests. A request with several tags counts fully under each of them; one without
tags is grouped under `null`.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from unigate.domain.budgets import iso, period_at
from unigate.domain.errors import BadRequest
from unigate.domain.money import micros_to_credits
from unigate.domain.records import ApiKey, Caller
from unigate.stores import budgets as budget_store
from unigate.stores import keys as key_store
from unigate.stores import spend as store

GROUPINGS = ("key", "endpoint", "model", "tag")
GRANULARITIES = {"day": "d", "hour": "h"}
# The longest range of one report: a year and a bit by day, a month and a bit by hour (hour items expire
# after stores.spend.HOUR_RETENTION_DAYS).
MAX_BUCKETS = {"d": 400, "h": 24 * 35}
DEFAULT_DAYS = 30


def settle_items(caller_key: str, account_id: str, endpoint: str, tags: Sequence[str], cost_micros: int
                 ) -> tuple[dict[str, Any], ...]:
    """The aggregate items one settle carries (two: its hour's and its day's)."""
    return store.settle_items(account_id, caller_key, endpoint, tags, cost_micros, moment=datetime.now(UTC))


def _time(value: str | None, name: str) -> datetime | None:
    if value is None or value == "":
        return None
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise BadRequest(f"'{name}' must be an ISO 8601 time or date, e.g. 2026-11-22T07:00:00Z.", param=name) from None
    return (parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)).astimezone(UTC)


def _buckets(granularity: str, start: datetime, end: datetime) -> list[datetime]:
    step = timedelta(hours=1) if granularity == "h" else timedelta(days=1)
    moment = start.replace(minute=0, second=0, microsecond=0)
    if granularity == "d":
        moment = moment.replace(hour=0)
    found = []
    while moment <= end:
        found.append(moment)
        if moment > datetime.max.replace(tzinfo=UTC) - step:
            break  # the last hour or day there is
        moment += step
    return found


def _group_values(cell: dict[str, Any], group_by: str) -> list[str | None]:
    if group_by == "key":
        return [cell.get("key_id") or None]
    if group_by == "endpoint":
        return [cell.get("endpoint")]
    if group_by == "model":
        return [str(cell.get("endpoint", "")).split("@", 1)[0]]
    return list(cell.get("tags") or []) or [None]


def report(account_id: str, *, group_by: str = "key", start_time: str | None = None, end_time: str | None = None,
           granularity: str = "day", now: datetime | None = None) -> dict[str, Any]:
    """The account's spend in [start_time, end_time] (whole buckets), per group and per bucket."""
    if group_by not in GROUPINGS:
        raise BadRequest(f"'group_by' is one of {', '.join(GROUPINGS)}.", param="group_by")
    if granularity not in GRANULARITIES:
        raise BadRequest("'granularity' is day or hour.", param="granularity")
    g = GRANULARITIES[granularity]
    now = now or datetime.now(UTC)
    end = _time(end_time, "end_time") or now
    start = _time(start_time, "start_time") or end - timedelta(days=DEFAULT_DAYS)
    if start > end:
        raise BadRequest("'start_time' is after 'end_time'.", param="start_time")
    step = timedelta(hours=1) if g == "h" else timedelta(days=1)
    if (end - start) // step >= MAX_BUCKETS[g]:  # before listing them: a range of centuries is refused at once
        raise BadRequest(f"A report by {granularity} covers at most {MAX_BUCKETS[g]} {granularity}s; "
                         "narrow start_time and end_time or use a coarser granularity.", param="start_time")
    buckets = _buckets(g, start, end)
    names = [store.bucket(g, b) for b in buckets]
    cells = store.cells(account_id, g, names[0], names[-1])
    groups: dict[str | None, dict[str, Any]] = {}
    series: dict[str | None, dict[str, list[int]]] = defaultdict(lambda: defaultdict(lambda: [0, 0]))
    total = [0, 0]
    for cell in cells:
        cost, requests = int(cell.get("cost", 0)), int(cell.get("requests", 0))
        total[0] += cost
        total[1] += requests
        for value in _group_values(cell, group_by):
            point = series[value][cell["bucket"]]
            point[0] += cost
            point[1] += requests
    by_start = dict(zip(names, buckets, strict=True))
    for value, points in series.items():
        groups[value] = {
            group_by: value,
            "cost": micros_to_credits(sum(p[0] for p in points.values())),
            "requests": sum(p[1] for p in points.values()),
            "series": [{"time": iso(by_start[name]), "cost": micros_to_credits(points[name][0]),
                        "requests": points[name][1]} for name in names if name in points],
        }
    listed = sorted(groups.values(), key=lambda group: (-group["cost"], str(group[group_by])))
    if group_by == "key":
        _with_budgets(account_id, listed, now)
    return {"object": "spend", "group_by": group_by, "granularity": granularity,
            "start_time": iso(buckets[0]), "end_time": iso(end),
            "total": {"cost": micros_to_credits(total[0]), "requests": total[1]}, "groups": listed}


def _with_budgets(account_id: str, groups: list[dict[str, Any]], now: datetime) -> None:
    """Every key of the account gets its line (those without spend in the range too), each with its name and,
    when it has a budget, the budget's current period: budget, spent, held and remaining."""
    keys = {k.key_id: k for k in key_store.list_for_account(account_id)}
    seen = {group["key"] for group in groups}
    groups.extend({"key": key_id, "cost": 0.0, "requests": 0, "series": []} for key_id in keys if key_id not in seen)
    budgeted = [k for k in keys.values() if k.budget_micros is not None]
    usages = budget_store.usages(account_id, [(k.key_id, period_at(k.budget_period, now).key) for k in budgeted])
    for group in groups:
        key = keys.get(group["key"])
        if key is not None:
            group["name"] = key.name
            group["budget"] = budget_view(key, usages.get((key.key_id, period_at(key.budget_period, now).key)), now)


def budget_view(key: ApiKey | Caller, usage: dict[str, Any] | None, now: datetime) -> dict[str, Any] | None:
    if key.budget_micros is None:
        return None
    period = period_at(key.budget_period, now)
    used = usage or budget_store.usage_of({})
    return {
        "budget": micros_to_credits(key.budget_micros), "period": key.budget_period,
        "period_start": iso(period.start) if period.start else None, "period_end": period.ends_at,
        "spent": micros_to_credits(used["spent"]), "held": micros_to_credits(used["used"] - used["spent"]),
        "remaining": micros_to_credits(max(key.budget_micros - used["used"], 0)),
    }


def key_info(caller: Caller, now: datetime | None = None) -> dict[str, Any]:
    """The calling key's own limits, budget (its current period) and spend today and this month, as
    OpenRouter's GET /key and LiteLLM's /key/info answer a key holder. The settings are the authorizer's
    cached ones, as the requests see them."""
    now = now or datetime.now(UTC)
    usage = (budget_store.usage(caller.account_id, caller.key_id, period_at(caller.budget_period, now).key)
             if caller.budget_micros is not None else None)
    month = now.replace(day=1, hour=0, minute=0, second=0, microsecond=0)
    cells = store.cells(caller.account_id, "d", store.bucket("d", month), store.bucket("d", now))
    mine = [c for c in cells if c.get("key_id") == caller.key_id]
    today = store.bucket("d", now)
    return {
        "object": "key", "key_id": caller.key_id, "allowed_models": list(caller.allowed_models),
        "rpm": caller.rpm, "tpm": caller.tpm, "budget": budget_view(caller, usage, now),
        "spend": {
            "today": micros_to_credits(sum(int(c.get("cost", 0)) for c in mine if c["bucket"] == today)),
            "this_month": micros_to_credits(sum(int(c.get("cost", 0)) for c in mine)),
            "requests_this_month": sum(int(c.get("requests", 0)) for c in mine),
        },
    }
