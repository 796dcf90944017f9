"""Credits in: top-up plans applied on a schedule, and one-off top-ups (operators, payment webhooks).

Exactly-once lives in the data layer. Every top-up is a ledger entry whose id says what it is for,
written with attribute_not_exists in the same transaction as the balance change:
  one-off          topup#<idempotency key>
  periodic grant   topup#<plan>#<period>              (once per period, however often the run is delivered)
  auto-recharge    recharge#<plan>#<period>#<n>        (n = 1..max_per_period)
so duplicate or concurrent deliveries of one scheduled run, and a re-run after a crash half way, apply
each plan at most once per account, plan and period; a replay of a one-off top-up returns the original
entry and the same key with another amount is refused. (Powertools idempotency would add a table and
a second source of truth for what the ledger already decides, so it is not used here.)
"""

from __future__ import annotations

import secrets
from datetime import UTC, datetime
from typing import Any

from unigate.domain.errors import BadRequest, Conflict, NotFound
from unigate.domain.money import AmountError, credits_to_micros, format_credits
from unigate.domain.records import EntryKind, LedgerEntry
from unigate.stores import accounts as account_store
from unigate.stores import plans as plan_store

PERIODS = ("day", "week", "month")
KINDS = ("periodic", "auto_recharge")


def period_label(period: str, at: datetime) -> str:
    if period == "day":
        return at.strftime("%Y-%m-%d")
    if period == "week":
        year, week, _ = at.isocalendar()
        return f"{year}-W{week:02d}"
    return at.strftime("%Y-%m")


def _micros(value: Any, field: str) -> int:
    try:
        return credits_to_micros(str(value) if isinstance(value, float) else value)
    except AmountError as exc:
        raise BadRequest(f"'{field}': {exc}", param=field) from None


def create_plan(account_id: str, *, kind: str, period: str, amount: Any = None, threshold: Any = None,
                target: Any = None, max_per_period: int = 1) -> dict[str, Any]:
    if account_store.get_account(account_id) is None:
        raise NotFound(f"Account {account_id} not found.")
    if kind not in KINDS:
        raise BadRequest(f"'kind' must be one of {', '.join(KINDS)}.", param="kind")
    if period not in PERIODS:
        raise BadRequest(f"'period' must be one of {', '.join(PERIODS)}.", param="period")
    plan: dict[str, Any] = {"kind": kind, "period": period, "created_at": account_store.now_iso()}
    if kind == "periodic":
        plan["amount"] = _micros(amount, "amount")
    else:
        plan["threshold"] = _micros(threshold, "threshold")
        plan["target"] = _micros(target, "target")
        if plan["target"] <= plan["threshold"]:
            raise BadRequest("'target' must be above 'threshold'.", param="target")
        if not isinstance(max_per_period, int) or not 1 <= max_per_period <= 100:
            raise BadRequest("'max_per_period' must be 1 to 100.", param="max_per_period")
        plan["max_per_period"] = max_per_period
    plan_id = "plan_" + secrets.token_hex(6)
    plan_store.put(account_id, plan_id, plan)
    return plan_view({"plan_id": plan_id, "account_id": account_id, **plan})


def plan_view(plan: dict[str, Any]) -> dict[str, Any]:
    """A plan as operators see it: amounts in credits, none of the store's own fields."""
    view: dict[str, Any] = {field: plan[field] for field in ("plan_id", "account_id", "kind", "period")
                            if field in plan}
    view |= {field: format_credits(int(plan[field])) for field in ("amount", "threshold", "target") if field in plan}
    view |= {field: plan[field] for field in ("max_per_period", "created_at") if field in plan}
    return view


def _credit(account_id: str, entry_id: str, amount: int, details: dict[str, str]) -> tuple[LedgerEntry, bool]:
    """(entry, applied now); a replay of the same entry returns it with applied=False."""
    entry = LedgerEntry(account_id, entry_id, EntryKind.TOPUP, amount, account_store.now_iso(), details)
    written = account_store.credit(entry)
    return written, written.created_at == entry.created_at


def one_off(account_id: str, amount: Any, idempotency_key: str) -> dict[str, Any]:
    """A top-up from an operator or a payment webhook; the same key with another amount is refused."""
    if not isinstance(idempotency_key, str) or not 1 <= len(idempotency_key) <= 128:
        raise BadRequest("'idempotency_key' must be 1-128 characters.", param="idempotency_key")
    micros = _micros(amount, "amount")
    entry, applied = _credit(account_id, f"topup#{idempotency_key}", micros, {"source": "one-off"})
    return {"account_id": account_id, "entry_id": entry.entry_id, "applied": applied,
            "credits": format_credits(micros)}


def _apply(plan: dict[str, Any], at: datetime) -> dict[str, Any]:
    account_id, plan_id = plan["account_id"], plan["plan_id"]
    period = period_label(plan["period"], at)
    outcome: dict[str, Any] = {"account_id": account_id, "plan_id": plan_id, "period": period}
    if plan["kind"] == "periodic":
        _, applied = _credit(account_id, f"topup#{plan_id}#{period}", int(plan["amount"]),
                             {"plan": plan_id, "period": period})
        return {**outcome, "result": "applied" if applied else "already applied"}
    account = account_store.get_account(account_id)
    if account is None:
        return {**outcome, "result": "no account"}
    if account.balance_micros >= int(plan["threshold"]):
        return {**outcome, "result": "above threshold"}
    amount = int(plan["target"]) - account.balance_micros
    for slot in range(1, int(plan["max_per_period"]) + 1):
        entry_id = f"recharge#{plan_id}#{period}#{slot}"
        existing = account_store.get_entry(account_id, entry_id)
        if existing is not None:
            continue
        try:
            _, applied = _credit(account_id, entry_id, amount, {"plan": plan_id, "period": period})
        except Conflict:
            # A concurrent delivery took this slot for the same dip in the balance.
            return {**outcome, "result": "already applied"}
        return {**outcome, "result": "applied" if applied else "already applied", "slot": slot}
    return {**outcome, "result": "cap reached"}


def run(scheduled_time: str | None = None) -> dict[str, Any]:
    """Applies every plan for the period of `scheduled_time` (now when absent)."""
    at = datetime.now(UTC)
    if scheduled_time:
        try:
            at = datetime.fromisoformat(scheduled_time.replace("Z", "+00:00"))
        except ValueError:
            raise BadRequest(f"scheduled_time {scheduled_time!r} is not an ISO 8601 time.") from None
    results = [_apply(plan, at) for plan in plan_store.every_plan()]
    return {"period_time": at.isoformat(), "plans": results,
            "applied": sum(1 for r in results if r["result"] == "applied")}


def handle(event: dict[str, Any]) -> dict[str, Any]:
    """The top-up function's event: a scheduled run, or a one-off top-up. A refused one-off top-up is
    answered, not raised: retrying it could never succeed, so it must not go round to the DLQ."""
    if "account_id" in event:
        try:
            return one_off(str(event["account_id"]), event.get("amount"), event.get("idempotency_key", ""))
        except (BadRequest, Conflict, NotFound) as refused:
            return {"rejected": refused.message, "account_id": event["account_id"]}
    return run(event.get("scheduled_time"))
