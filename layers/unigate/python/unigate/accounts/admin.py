"""Operator actions, as JSON-ready answers: what the `unigate` CLI prints and the IAM-authorized admin API
returns, from one piece of code (service layer over accounts, keys, billing, top-ups and deployments)."""

from __future__ import annotations

from dataclasses import asdict
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from unigate.accounts import accounts, auth, billing, spend, topups
from unigate.catalog import deployments
from unigate.domain import cursors
from unigate.domain.errors import BadRequest, NotFound
from unigate.domain.money import AmountError, credits_to_micros, format_credits
from unigate.domain.records import AccountStatus, ApiKey, Deployment
from unigate.stores import accounts as account_store
from unigate.stores import plans


# ----------------------------------------------------------------------- the admin API's bodies
class AdminBody(BaseModel):
    """Strict: `{"rpm": "10"}` or `{"allowed_models": "gpt-4o"}` is a mistake to refuse, not to coerce;
    an unknown field is a typo to refuse, not to ignore. Ranges stay with the operations (the CLI calls
    them too)."""

    model_config = ConfigDict(strict=True, allow_inf_nan=False, extra="forbid")


Amount = Annotated[str | int | float, Field(description="credits, as a decimal string or an integer")]
Limit = Annotated[int, Field(description="at least 1; leave it out for no limit")]
Period = Annotated[str, Field(description="lifetime, day, week or month (UTC calendar periods)")]


class NewAccount(AdminBody):
    name: str = ""
    account_id: str | None = None


class NewKey(AdminBody):
    name: str = ""
    expires_in_days: float | None = None
    allowed_models: Annotated[list[str], Field(max_length=1000)] = []
    rpm: Limit | None = None
    tpm: Limit | None = None
    budget: Amount | None = None
    budget_period: Period = "lifetime"


class Rotation(AdminBody):
    grace_seconds: int = 0


class KeyLimits(AdminBody):
    rpm: Limit | None = None
    tpm: Limit | None = None


class KeyBudget(AdminBody):
    budget: Amount | None = Field(None, description="credits per period; null removes the budget")
    budget_period: Period = "lifetime"


class Grant(AdminBody):
    amount: Amount
    idempotency_key: Annotated[str, StringConstraints(min_length=1, max_length=256)]
    note: str = ""


class NewPlan(AdminBody):
    kind: str = "periodic"
    period: str = "month"
    amount: Amount | None = None
    threshold: Amount | None = None
    target: Amount | None = None
    max_per_period: int = 1


class NewDeployment(AdminBody):
    name: str
    endpoint: str
    model_version: str = ""
    capacity_type: str = "on-demand"
    capacity_tpm: int | None = None
    rpm: Limit | None = None
    tpm: Limit | None = None
    content_filter: dict[str, Any] | None = None
    replace: bool = False


def fields(body: BaseModel) -> dict[str, Any]:
    """What the operator sent, as keyword arguments: the operations' own defaults stand for the rest."""
    return body.model_dump(exclude_unset=True)


# ---------------------------------------------------------------------------------- operations
def key_view(key: ApiKey) -> dict[str, Any]:
    view = asdict(key)
    view.pop("key_hash")
    view["status"] = str(key.status)
    view["allowed_models"] = list(key.allowed_models)
    view.pop("budget_micros")
    view.pop("budget_period")
    view["budget"] = format_credits(key.budget_micros) if key.budget_micros is not None else None
    view["budget_period"] = key.budget_period if key.budget_micros is not None else None
    return view


def _budget_micros(amount: Any) -> int | None:
    if amount is None:
        return None
    try:
        return credits_to_micros(amount)
    except AmountError as exc:
        raise BadRequest(f"budget: {exc}", param="budget") from None


def deployment_view(deployment: Deployment) -> dict[str, Any]:
    view = asdict(deployment)
    view["content_filter"] = {c["name"]: {k: v for k, v in c.items() if k != "name"} for c in view["content_filter"]}
    return view


def create_account(name: str = "", account_id: str | None = None) -> dict[str, Any]:
    account = accounts.create_account(name=name, account_id=account_id)
    return {"account_id": account.account_id, "name": account.name}


def show_account(account_id: str) -> dict[str, Any]:
    account = accounts.get_account(account_id)
    return {"account_id": account.account_id, "name": account.name, "status": str(account.status),
            "credits": format_credits(account.balance_micros), "created_at": account.created_at}


def set_account_status(account_id: str, action: str) -> dict[str, Any]:
    status = AccountStatus.SUSPENDED if action == "suspend" else AccountStatus.ACTIVE
    account = accounts.set_status(account_id, status)
    return {"account_id": account.account_id, "status": str(account.status)}


def create_key(account_id: str, *, name: str = "", expires_in_days: float | None = None,
               allowed_models: list[str] | tuple[str, ...] = (), rpm: int | None = None, tpm: int | None = None,
               budget: Any = None, budget_period: str = "lifetime") -> dict[str, Any]:
    record, secret = auth.create_key(account_id, name=name, expires_in_days=expires_in_days,
                                     allowed_models=tuple(allowed_models), rpm=rpm, tpm=tpm,
                                     budget_micros=_budget_micros(budget), budget_period=budget_period)
    return {**key_view(record), "key": secret, "note": "Store this key now: it is not shown again."}


def list_keys(account_id: str) -> list[dict[str, Any]]:
    return [key_view(k) for k in auth.list_keys(account_id)]


def revoke_key(key_id: str) -> dict[str, Any]:
    return {"key_id": auth.revoke_key(key_id).key_id, "status": "revoked"}


def rotate_key(key_id: str, grace_seconds: int = 0) -> dict[str, Any]:
    new, secret, old = auth.rotate_key(key_id, grace_seconds=grace_seconds)
    return {**key_view(new), "key": secret, "replaces": key_view(old),
            "note": "Store this key now: it is not shown again."}


def set_key_limits(key_id: str, *, rpm: int | None, tpm: int | None) -> dict[str, Any]:
    return key_view(auth.set_limits(key_id, rpm=rpm, tpm=tpm))


def set_key_budget(key_id: str, *, budget: Any, budget_period: str = "lifetime") -> dict[str, Any]:
    return key_view(auth.set_budget(key_id, budget_micros=_budget_micros(budget), period=budget_period))


def spend_report(account_id: str, **options: Any) -> dict[str, Any]:
    accounts.get_account(account_id)  # 404 for an unknown account
    return {"account_id": account_id, **spend.report(account_id, **options)}


def grant(account_id: str, amount: Any, idempotency_key: str, note: str = "") -> dict[str, Any]:
    try:
        micros = credits_to_micros(amount)
    except AmountError as exc:
        raise BadRequest(f"amount: {exc}", param="amount") from None
    if not isinstance(idempotency_key, str) or not idempotency_key:
        raise BadRequest("idempotency_key is required.", param="idempotency_key")
    entry = billing.grant(account_id, micros, idempotency_key=idempotency_key, note=note)
    return {"account_id": entry.account_id, "entry_id": entry.entry_id, "credits": format_credits(entry.amount_micros),
            "created_at": entry.created_at}


def ledger(account_id: str, *, limit: int = 100, cursor: str | None = None) -> dict[str, Any]:
    if not 1 <= limit <= 1000:
        raise BadRequest("limit is 1 to 1000.", param="limit")
    start = cursors.decode(cursor, listing="ledger", account_id=account_id) if cursor else None
    entries, following = account_store.list_ledger(account_id, limit=limit, start=start)
    return {
        "entries": [{"entry_id": e.entry_id, "kind": str(e.kind), "credits": format_credits(e.amount_micros),
                     "created_at": e.created_at, **({"details": e.details} if e.details else {})} for e in entries],
        "next_cursor": cursors.encode(following, listing="ledger"),
    }


def create_plan(account_id: str, **options: Any) -> dict[str, Any]:
    return topups.create_plan(account_id, **options)


def list_plans(account_id: str) -> list[dict[str, Any]]:
    return [topups.plan_view(plan) for plan in plans.for_account(account_id)]


def delete_plan(account_id: str, plan_id: str) -> dict[str, Any]:
    if not plans.delete(account_id, plan_id):
        raise NotFound(f"Plan {plan_id} not found.")
    return {"plan_id": plan_id, "deleted": True}


def create_deployment(name: str, endpoint: str, *, content_filter: Any = None, **settings: Any) -> dict[str, Any]:
    created = deployments.create(name, endpoint, content_filter=deployments.categories_from(content_filter),
                                 **settings)
    return deployment_view(created)


def list_deployments() -> list[dict[str, Any]]:
    return [deployment_view(d) for d in deployments.listed()]


def delete_deployment(name: str) -> dict[str, Any]:
    deployments.delete(name)
    return {"name": name, "deleted": True}
