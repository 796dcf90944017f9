"""Per-key budgets (service layer): the budget share of a hold, the refusal, and the 80% / 100% alerts.

The limit and the period kind travel in the authorizer's cached context (as the rate limits do), so a
request on a budgeted key reads nothing more to be admitted: the hold's transaction checks the period's
item. The stores make the reservation atomic (unigate.stores.budgets).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from unigate.domain.budgets import ALERT_PERCENTS, BudgetHold, period_at
from unigate.domain.errors import KeyBudgetExceeded
from unigate.domain.money import format_credits
from unigate.domain.records import Caller
from unigate.infra.observability import count, get_logger
from unigate.stores import budgets as store


def for_caller(caller: Caller, now: datetime | None = None) -> BudgetHold | None:
    """The budget a hold for this caller also reserves from, in the period of `now`; None without one."""
    if caller.budget_micros is None:
        return None
    period = period_at(caller.budget_period, now or datetime.now(UTC))
    return BudgetHold(caller.key_id, period.key, caller.budget_micros, period.ends_at)


def _renewal(budget: BudgetHold) -> str:
    if budget.ends_at is None:
        return "It is a lifetime budget: an operator can raise it (unigate keys budget)."
    return f"It renews at {budget.ends_at}."


def refuse(account_id: str, budget: BudgetHold, amount_micros: int, item: dict[str, Any] | None) -> KeyBudgetExceeded:
    """The 402 for a hold the key's budget cannot cover (`item`: the period's item as the refused
    transaction found it; None when the request is larger than the whole budget and nothing was read).
    The first refusal of a period is its 100% alert: the key is out of budget for its requests."""
    count("KeyBudgetRejections")
    limit = f"This API key's budget of {format_credits(budget.limit_micros)} credits{_per(budget)}"
    cost = f"the worst-case cost of this request ({format_credits(amount_micros)} credits)"
    if item is None:
        return KeyBudgetExceeded(f"{limit} is smaller than {cost}; lower max_tokens, or ask an operator to raise "
                                 "the budget.")
    used = store.usage_of(item)
    if item and 100 not in used["alerted"] and store.mark_alerted(account_id, budget.key_id, budget.period, 100):
        _alert(account_id, budget, 100, used["spent"])
    in_flight = used["used"] - used["spent"]
    return KeyBudgetExceeded(
        f"{limit} cannot cover {cost}: {format_credits(used['spent'])} spent"
        + (f" and {format_credits(in_flight)} held by requests in flight" if in_flight > 0 else "")
        + f" in the current period. {_renewal(budget)}")


def _per(budget: BudgetHold) -> str:
    kind = budget.period[:1]
    return {"d": " per day", "w": " per week", "m": " per month"}.get(kind, "")


def after_settle(account_id: str, budget: BudgetHold, charged_micros: int) -> None:
    """Reports the thresholds this settle's charge brought the period's spend to, once each per period.
    Costs one read per charged request on a budgeted key, and a write only at a crossing."""
    if charged_micros <= 0 or budget.limit_micros <= 0:
        return
    used = store.usage(account_id, budget.key_id, budget.period, consistent=True)
    for percent in ALERT_PERCENTS:
        if (used["spent"] * 100 >= percent * budget.limit_micros and percent not in used["alerted"]
                and store.mark_alerted(account_id, budget.key_id, budget.period, percent)):
            _alert(account_id, budget, percent, used["spent"])


def _alert(account_id: str, budget: BudgetHold, percent: int, spent: int) -> None:
    count("KeyBudgetThreshold", Percent=str(percent))
    # One line, with the key's public id only (never the key or its hash).
    get_logger().warning(f"an API key reached {percent}% of its budget", extra={
        "account_id": account_id, "key_id": budget.key_id, "period": budget.period, "percent": percent,
        "budget": format_credits(budget.limit_micros), "spent": format_credits(spent)})
