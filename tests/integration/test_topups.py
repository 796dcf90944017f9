"""Credits in: scheduled top-up plans exactly once per account, plan and period; one-off top-ups."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import pytest

from unigate.accounts import accounts, auth, billing, topups
from unigate.domain.errors import BadRequest, InsufficientCredits, InvalidApiKey
from unigate.domain.records import AccountStatus
from unigate.stores import accounts as store

NOVEMBER = "2026-11-22T07:00:00Z"


def _balance(account: str) -> int:
    balance = accounts.get_account(account).balance_micros
    assert store.ledger_sum(account) == balance
    return balance


def _topups(account: str) -> list[str]:
    entries, _ = store.list_ledger(account, limit=1000)
    return [e.entry_id for e in entries if e.kind == "topup"]


def test_a_periodic_plan_applies_once_per_period_whatever_the_deliveries(account: str) -> None:
    plan = topups.create_plan(account, kind="periodic", period="month", amount="5")
    for _ in range(3):
        topups.run(NOVEMBER)
    with ThreadPoolExecutor(max_workers=10) as pool:
        list(pool.map(lambda _: topups.run("2026-11-30T23:00:00Z"), range(10)))
    assert _topups(account) == [f"topup#{plan['plan_id']}#2026-11"]
    assert _balance(account) == 15_000_000
    topups.run("2026-12-01T00:00:00Z")
    assert _balance(account) == 20_000_000


def test_a_run_that_crashed_half_way_is_completed_by_the_next_without_doubling(
    aws: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    names = [accounts.create_account(account_id=f"acct_c{i}").account_id for i in range(3)]
    for name in names:
        topups.create_plan(name, kind="periodic", period="week", amount="1")
    original, calls = topups._apply, []

    def crashing(plan, at):  # type: ignore[no-untyped-def]
        calls.append(plan["account_id"])
        if len(calls) == 2:
            raise RuntimeError("the Lambda died here")
        return original(plan, at)

    monkeypatch.setattr(topups, "_apply", crashing)
    with pytest.raises(RuntimeError):
        topups.run(NOVEMBER)
    monkeypatch.setattr(topups, "_apply", original)
    result = topups.run(NOVEMBER)
    assert result["applied"] == 2  # the two the crash left
    assert [_balance(n) for n in names] == [1_000_000] * 3


def test_auto_recharge_tops_up_to_the_target_at_most_n_times_per_period(account: str) -> None:
    topups.create_plan(account, kind="auto_recharge", period="day", threshold="2", target="10", max_per_period=2)
    assert topups.run(NOVEMBER)["plans"][0]["result"] == "above threshold"

    def spend_down_to(micros: int) -> None:
        held = billing.hold(account, _balance(account) - micros)
        billing.settle(held, held.amount_micros)

    for expected in ("applied", "applied", "cap reached"):
        spend_down_to(1_000_000)
        outcome = topups.run(NOVEMBER)["plans"][0]
        assert outcome["result"] == expected
        topups.run(NOVEMBER)  # a redelivery of the same run changes nothing
    assert _balance(account) == 1_000_000  # the cap held the third dip
    topups.run("2026-11-23T07:00:00Z")  # a new day, a new allowance
    assert _balance(account) == 10_000_000


def test_one_off_top_ups_replay_and_refuse_another_amount(account: str) -> None:
    first = topups.one_off(account, "25.50", "stripe-evt-1")
    assert first["applied"] is True
    again = topups.handle({"account_id": account, "amount": "25.50", "idempotency_key": "stripe-evt-1"})
    assert again["applied"] is False
    refused = topups.handle({"account_id": account, "amount": 30, "idempotency_key": "stripe-evt-1"})
    assert "different amount" in refused["rejected"]
    assert topups.handle({"account_id": account, "amount": -5, "idempotency_key": "x"})["rejected"]
    assert topups.handle({"account_id": "acct_missing", "amount": 5, "idempotency_key": "y"})["rejected"]
    assert _balance(account) == 10_000_000 + 25_500_000


@pytest.mark.parametrize(
    "plan",
    [{"kind": "weekly"}, {"kind": "periodic", "period": "fortnight", "amount": "1"},
     {"kind": "periodic", "amount": "-1"}, {"kind": "auto_recharge", "threshold": "5", "target": "2"},
     {"kind": "auto_recharge", "threshold": "1", "target": "2", "max_per_period": 0}],
)
def test_bad_plans_are_refused(account: str, plan: dict) -> None:
    with pytest.raises(BadRequest):
        topups.create_plan(account, **{"period": "month", **plan})


def test_a_suspended_accounts_keys_stop_working(account: str) -> None:
    _, key = auth.create_key(account)
    accounts.set_status(account, AccountStatus.SUSPENDED)
    with pytest.raises(InvalidApiKey):
        auth.authenticate(f"Bearer {key}")
    with pytest.raises(InsufficientCredits):
        billing.hold(account, 1)
    accounts.set_status(account, AccountStatus.ACTIVE)
    assert auth.authenticate(f"Bearer {key}").account_id == account
