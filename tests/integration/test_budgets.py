"""Per-key budgets through the real stores on moto: reserved with the hold in one transaction, charged and
given back with the settle, per period, with the alerts, the CLI and the authorizer's context."""

from __future__ import annotations

import json
import logging
import re
from datetime import UTC, datetime, timedelta

import pytest

from unigate.accounts import accounts, auth, billing, budgets, spend, sweeper
from unigate.accounts.authorizer import authorize
from unigate.domain.budgets import BudgetHold, period_at
from unigate.domain.errors import BadRequest, InsufficientCredits, KeyBudgetExceeded
from unigate.domain.records import Caller
from unigate.infra import aws
from unigate.stores import accounts as store
from unigate.stores import budgets as budget_store
from unigate_tools.cli import main

CREDIT = 1_000_000


def _caller(account: str, key: str = "key_a", budget: int | None = 5 * CREDIT, period: str = "month") -> Caller:
    return Caller(account_id=account, key_id=key, budget_micros=budget, budget_period=period)


def _used(account: str, budget: BudgetHold) -> dict[str, object]:
    return budget_store.usage(account, budget.key_id, budget.period, consistent=True)


def _balance(account: str) -> int:
    return accounts.get_account(account).balance_micros


def test_a_hold_reserves_from_the_balance_and_the_budget_and_the_settle_charges_both(account: str) -> None:
    budget = budgets.for_caller(_caller(account))
    assert budget is not None
    held = billing.hold(account, 2 * CREDIT, budget=budget)
    assert _balance(account) == 8 * CREDIT
    assert _used(account, budget) == {"used": 2 * CREDIT, "spent": 0, "alerted": set()}
    assert billing.settle(held, 1_234_567)
    assert _balance(account) == 10 * CREDIT - 1_234_567
    assert _used(account, budget) == {"used": 1_234_567, "spent": 1_234_567, "alerted": set()}
    assert not billing.settle(held, 1)  # exactly once: neither the balance nor the budget moves again
    assert _used(account, budget)["spent"] == 1_234_567
    assert store.ledger_sum(account) == _balance(account)


def test_over_budget_is_refused_with_nothing_held_and_names_the_period_end(account: str) -> None:
    caller = _caller(account)
    budget = budgets.for_caller(caller)
    assert budget is not None
    first = billing.hold(account, 4 * CREDIT, budget=budget)
    with pytest.raises(KeyBudgetExceeded) as refused:
        billing.hold(account, 2 * CREDIT, budget=budget)
    assert refused.value.status == 402
    assert refused.value.code == "key_budget_exceeded"
    assert f"It renews at {period_at('month', datetime.now(UTC)).ends_at}." in refused.value.message
    assert "4.0 held by requests in flight" in refused.value.message
    assert _balance(account) == 6 * CREDIT  # only the first hold
    assert [h["amount"] for h in store.list_open_holds(account)] == [4 * CREDIT]
    assert store.ledger_sum(account) == _balance(account)
    # The rest of the budget still serves a request that fits it.
    billing.settle(first, 3 * CREDIT)
    second = billing.hold(account, 2 * CREDIT, budget=budget)
    assert _used(account, budget)["used"] == 5 * CREDIT
    billing.release(second)
    # 60% spent, so no 80% alert; the refusal was the period's 100% (the key was out of budget for a request).
    assert _used(account, budget) == {"used": 3 * CREDIT, "spent": 3 * CREDIT, "alerted": {100}}


def test_a_hold_larger_than_the_whole_budget_makes_no_write(account: str, monkeypatch: pytest.MonkeyPatch) -> None:
    budget = budgets.for_caller(_caller(account, budget=CREDIT))
    assert budget is not None
    calls: list[str] = []
    aws.client("dynamodb").meta.events.register("before-call.dynamodb.*", lambda model, **_: calls.append(model.name))
    with pytest.raises(KeyBudgetExceeded, match=r"budget of 1\.0 credits"):
        billing.hold(account, CREDIT + 1, budget=budget)
    assert calls == []


def test_the_balance_still_refuses_when_the_budget_would_allow(account: str) -> None:
    budget = budgets.for_caller(_caller(account, budget=100 * CREDIT))
    assert budget is not None
    with pytest.raises(InsufficientCredits) as refused:
        billing.hold(account, 11 * CREDIT, budget=budget)
    assert not isinstance(refused.value, KeyBudgetExceeded)
    assert _used(account, budget)["used"] == 0  # the transaction applied nothing


def test_a_new_period_starts_by_itself_and_a_rollover_charges_the_period_of_the_hold(account: str) -> None:
    caller = _caller(account, budget=3 * CREDIT, period="day")
    before = datetime(2026, 12, 1, 23, 59, 59, tzinfo=UTC)
    after = datetime(2026, 12, 2, 0, 0, 1, tzinfo=UTC)
    yesterday, today = budgets.for_caller(caller, before), budgets.for_caller(caller, after)
    assert yesterday is not None
    assert today is not None
    assert (yesterday.period, today.period) == ("d2026-12-01", "d2026-12-02")
    held = billing.hold(account, 3 * CREDIT, budget=yesterday)
    with pytest.raises(KeyBudgetExceeded, match="It renews at 2026-12-02T00:00:00Z"):
        billing.hold(account, 1, budget=yesterday)
    # Midnight passes while the request runs: the next day's budget is whole, the settle charges yesterday's.
    fresh = billing.hold(account, 3 * CREDIT, budget=today)
    billing.settle(held, 2 * CREDIT)
    billing.settle(fresh, CREDIT)
    assert _used(account, yesterday)["spent"] == 2 * CREDIT
    assert _used(account, today)["spent"] == CREDIT
    assert store.ledger_sum(account) == _balance(account) == 7 * CREDIT


def test_the_sweeper_charges_a_stale_hold_to_its_budget_too(account: str) -> None:
    """A stale hold is charged at its amount (its request was sent and may have been billed: issue #29),
    to the balance and to the budget period it was taken in alike."""
    budget = budgets.for_caller(_caller(account))
    assert budget is not None
    billing.hold(account, 2 * CREDIT, budget=budget)
    assert sweeper.sweep(datetime.now(UTC) + timedelta(hours=1))["charged"]
    assert _used(account, budget)["used"] == 2 * CREDIT
    assert _balance(account) == 8 * CREDIT


def test_alerts_at_80_and_100_percent_once_each_without_the_key(account: str, caplog: pytest.LogCaptureFixture,
                                                                monkeypatch: pytest.MonkeyPatch) -> None:
    emitted: list[tuple[str, dict[str, str]]] = []
    monkeypatch.setattr(budgets, "count", lambda name, value=1, **dims: emitted.append((name, dims)))
    secret = auth.create_key(account, budget_micros=10 * CREDIT)[1]
    caller = auth.authenticate(f"Bearer {secret}")
    budget = budgets.for_caller(caller)
    assert budget is not None
    billing.grant(account, 100 * CREDIT, idempotency_key="more")
    with caplog.at_level(logging.WARNING):
        billing.settle(billing.hold(account, 7 * CREDIT, budget=budget), 7 * CREDIT)  # 70%
        assert emitted == []
        billing.settle(billing.hold(account, 2 * CREDIT, budget=budget), 1_500_000)  # 85%: past 80%
        billing.settle(billing.hold(account, 1_400_000, budget=budget), 50_000)  # 85.5%
        assert emitted == [("KeyBudgetThreshold", {"Percent": "80"})]
        with pytest.raises(KeyBudgetExceeded):  # the first refusal of the period is the 100% crossing
            billing.hold(account, 2 * CREDIT, budget=budget)
        with pytest.raises(KeyBudgetExceeded):
            billing.hold(account, 2 * CREDIT, budget=budget)
    thresholds = [e for e in emitted if e[0] == "KeyBudgetThreshold"]
    assert thresholds == [("KeyBudgetThreshold", {"Percent": "80"}), ("KeyBudgetThreshold", {"Percent": "100"})]
    assert [e[0] for e in emitted].count("KeyBudgetRejections") == 2
    lines = [r for r in caplog.records if "of its budget" in r.getMessage()]
    assert [r.getMessage() for r in lines] == ["an API key reached 80% of its budget",
                                               "an API key reached 100% of its budget"]
    assert all(secret not in json.dumps(vars(r), default=str) for r in caplog.records)


def test_the_authorizer_context_carries_the_budget(account: str) -> None:
    secret = auth.create_key(account, budget_micros=2_500_000, budget_period="week")[1]
    policy = authorize({"headers": {"Authorization": f"Bearer {secret}"}, "methodArn": "arn:aws:x/api/GET/v0"})
    assert policy["context"]["budget"] == 2_500_000
    assert policy["context"]["budget_period"] == "week"
    plain = auth.create_key(account)[1]
    context = authorize({"headers": {"Authorization": f"Bearer {plain}"},
                         "methodArn": "arn:aws:x/api/GET/v0"})["context"]
    assert (context["budget"], context["budget_period"]) == (0, "lifetime")


def test_rotation_keeps_the_budget(account: str) -> None:
    old, _ = auth.create_key(account, budget_micros=CREDIT, budget_period="day")
    new, _, _ = auth.rotate_key(old.key_id)
    assert (new.budget_micros, new.budget_period) == (CREDIT, "day")


def _run(capsys: pytest.CaptureFixture[str], *argv: str) -> object:
    assert main([*argv, "--json"]) == 0
    return json.loads(capsys.readouterr().out)


def test_the_cli_sets_budgets_at_creation_and_later(account: str, capsys: pytest.CaptureFixture[str]) -> None:
    created = _run(capsys, "keys", "create", "--account", account, "--budget", "50", "--budget-period", "month")
    assert isinstance(created, dict)
    assert (created["budget"], created["budget_period"]) == ("50.0", "month")
    caller = auth.authenticate(f"Bearer {created['key']}")
    assert (caller.budget_micros, caller.budget_period) == (50 * CREDIT, "month")
    changed = _run(capsys, "keys", "budget", created["key_id"], "--budget", "0.5", "--budget-period", "day")
    assert isinstance(changed, dict)
    assert (changed["budget"], changed["budget_period"]) == ("0.5", "day")
    removed = _run(capsys, "keys", "budget", created["key_id"], "--none")
    assert isinstance(removed, dict)
    assert (removed["budget"], removed["budget_period"]) == (None, None)
    assert auth.authenticate(f"Bearer {created['key']}").budget_micros is None
    assert main(["keys", "budget", created["key_id"], "--budget", "-1"]) == 1
    assert "budget: the amount must be positive" in capsys.readouterr().err
    with pytest.raises(SystemExit):  # argparse refuses an unknown period itself
        main(["keys", "create", "--account", account, "--budget", "5", "--budget-period", "year"])


@pytest.mark.parametrize(("options", "message"), [
    ({"start_time": "0001-01-01"}, "A report by day covers at most 400 days"),
    ({"start_time": "0001-01-01", "granularity": "hour"}, "A report by hour covers at most 840 hours"),
    ({"start_time": "yesterday"}, "'start_time' must be an ISO 8601 time or date"),
    ({"start_time": "2026-12-02", "end_time": "2026-12-01"}, "'start_time' is after 'end_time'."),
    ({"group_by": "team"}, "'group_by' is one of key, endpoint, model, tag."),
    ({"granularity": "minute"}, "'granularity' is day or hour."),
])
def test_spend_reports_refuse_what_they_cannot_answer(account: str, options: dict[str, str], message: str) -> None:
    with pytest.raises(BadRequest, match=re.escape(message)):
        spend.report(account, **options)


def test_a_report_at_the_end_of_time_is_empty_not_an_error(account: str) -> None:
    report = spend.report(account, start_time="9999-12-31", end_time="9999-12-31T23:59:59Z", granularity="hour")
    assert (report["total"], report["groups"]) == ({"cost": 0.0, "requests": 0}, [])
