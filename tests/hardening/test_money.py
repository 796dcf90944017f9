"""Money invariants under any interleaving (Hypothesis) and under concurrency (through the handlers)."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import Bundle, RuleBasedStateMachine, consumes, invariant, rule

from unigate.accounts import accounts, billing, budgets
from unigate.domain.errors import Conflict, InsufficientCredits, KeyBudgetExceeded
from unigate.domain.records import Caller, Hold
from unigate.stores import accounts as store
from unigate.stores import budgets as budget_store

_ids = itertools.count()


class Ledger(RuleBasedStateMachine):
    """Grants, top-ups, holds, settles, releases and replays in any order, against a model of the balance."""

    holds = Bundle("holds")
    settled = Bundle("settled")

    def __init__(self) -> None:
        super().__init__()
        self.account = f"acct_h{next(_ids)}"
        accounts.create_account(account_id=self.account)
        self.expected = 0
        self.grants: dict[str, int] = {}
        self.uncollected = 0

    @rule(amount=st.integers(min_value=1, max_value=5_000_000), key=st.sampled_from(["a", "b", "c", "d"]))
    def grant(self, amount: int, key: str) -> None:
        try:
            billing.grant(self.account, amount, idempotency_key=key)
        except Conflict:
            assert self.grants[key] != amount
            return
        if key not in self.grants:
            self.grants[key] = amount
            self.expected += amount
        else:
            assert self.grants[key] == amount  # a replay changes nothing

    @rule(target=holds, amount=st.integers(min_value=1, max_value=3_000_000))
    def hold(self, amount: int) -> Hold | None:
        try:
            held = billing.hold(self.account, amount)
        except InsufficientCredits:
            assert amount > self.expected
            return None
        self.expected -= amount
        return held

    @rule(target=settled, held=consumes(holds), cost=st.integers(min_value=-10**12, max_value=10**12))
    def settle(self, held: Hold | None, cost: int) -> Hold | None:
        if held is None:
            return None
        assert billing.settle(held, cost)
        # Issue #29: never clamped to the hold; what the balance cannot cover is written down as uncollected.
        cost = max(cost, 0)
        collected = min(cost, held.amount_micros + self.expected)
        self.expected += held.amount_micros - collected
        self.uncollected += cost - collected
        return held

    @rule(held=consumes(holds))
    def release(self, held: Hold | None) -> None:
        if held is not None:
            assert billing.release(held)
            self.expected += held.amount_micros

    @rule(held=settled, cost=st.integers(min_value=0, max_value=10**7))
    def settle_again(self, held: Hold | None, cost: int) -> None:
        if held is not None:
            assert not billing.settle(held, cost)
            assert not billing.release(held)

    @invariant()
    def balance_matches_the_model_and_the_ledger(self) -> None:
        balance = accounts.get_account(self.account).balance_micros
        assert balance == self.expected
        assert balance >= 0
        assert store.ledger_sum(self.account) == balance
        entries, _ = store.list_ledger(self.account, limit=1000)
        assert sum(int(e.details["uncollected"]) for e in entries if e.kind == "uncollected") == self.uncollected


@pytest.mark.usefixtures("aws")
def test_any_interleaving_keeps_the_ledger_exact() -> None:
    from hypothesis.stateful import run_state_machine_as_test

    run_state_machine_as_test(
        Ledger,
        settings=settings(max_examples=25, stateful_step_count=30, deadline=None,
                          suppress_health_check=list(HealthCheck)),
    )


class BudgetedLedger(RuleBasedStateMachine):
    """Holds, settles, releases and grants on several budgeted keys of one account while their periods roll
    over, against a model of the balance and of every key's spend per period."""

    holds = Bundle("budget_holds")
    KEYS = (("key_day", 3_000_000, "day"), ("key_week", 5_000_000, "week"), ("key_life", 4_000_000, "lifetime"))

    def __init__(self) -> None:
        super().__init__()
        self.account = f"acct_b{next(_ids)}"
        accounts.create_account(account_id=self.account)
        self.expected = 0
        self.now = datetime(2026, 11, 29, 22, 0, tzinfo=UTC)  # a Sunday: the day and the week end soon
        self.used: dict[tuple[str, str], int] = {}
        self.spent: dict[tuple[str, str], int] = {}
        self.limits = {key: limit for key, limit, _ in self.KEYS}
        self.grants: dict[str, int] = {"start": 12_000_000}  # the budgets' sum: either limit can bind first
        billing.grant(self.account, 12_000_000, idempotency_key="start")
        self.expected = 12_000_000

    @rule(amount=st.integers(min_value=1, max_value=6_000_000), key=st.sampled_from(["a", "b", "c"]))
    def grant(self, amount: int, key: str) -> None:
        try:
            billing.grant(self.account, amount, idempotency_key=key)
        except Conflict:
            return
        if key not in self.grants:
            self.grants[key] = amount
            self.expected += amount

    @rule(hours=st.integers(min_value=1, max_value=30))
    def time_passes(self, hours: int) -> None:
        self.now += timedelta(hours=hours)

    # Round amounts as often as odd ones, so that holds meet the limits exactly.
    @rule(target=holds, which=st.integers(min_value=0, max_value=2), amount=st.one_of(
        st.integers(min_value=0, max_value=3_500_000), st.sampled_from([500_000, 1_000_000, 1_500_000, 2_000_000])))
    def hold(self, which: int, amount: int) -> Hold | None:
        key, limit, period = self.KEYS[which]
        budget = budgets.for_caller(Caller(self.account, key, budget_micros=limit, budget_period=period), self.now)
        assert budget is not None
        slot = (key, budget.period)
        try:
            held = billing.hold(self.account, amount, budget=budget)
        except KeyBudgetExceeded:
            assert self.used.get(slot, 0) + amount > limit
            return None
        except InsufficientCredits:
            assert amount > self.expected
            return None
        assert self.used.get(slot, 0) + amount <= limit
        self.expected -= amount
        self.used[slot] = self.used.get(slot, 0) + amount
        return held

    @rule(held=consumes(holds), cost=st.integers(min_value=-10, max_value=4_000_000), release=st.booleans())
    def settle(self, held: Hold | None, cost: int, release: bool) -> None:
        if held is None:
            return
        assert held.budget is not None
        # The budget is charged at most the hold (spent never passes the budget); the balance is charged the
        # whole cost while it covers it (issue #29: never clamped; the rest is written down as uncollected).
        charged = 0 if release else min(max(cost, 0), held.amount_micros)
        collected = 0 if release else min(max(cost, 0), held.amount_micros + self.expected)
        assert billing.release(held) if release else billing.settle(held, cost)
        assert not billing.settle(held, cost)
        slot = (held.budget.key_id, held.budget.period)  # the period the hold was taken in, whatever the clock says
        self.expected += held.amount_micros - collected
        self.used[slot] -= held.amount_micros - charged
        self.spent[slot] = self.spent.get(slot, 0) + charged

    @invariant()
    def budgets_and_balance_hold(self) -> None:
        balance = accounts.get_account(self.account).balance_micros
        assert balance == self.expected >= 0
        assert store.ledger_sum(self.account) == balance
        if not self.used:
            return
        found = budget_store.usages(self.account, list(self.used))
        for slot, used in self.used.items():
            assert found[slot]["used"] == used <= self.limits[slot[0]]
            assert found[slot]["spent"] == self.spent.get(slot, 0) <= self.limits[slot[0]]


@pytest.mark.usefixtures("aws")
def test_any_interleaving_keeps_every_key_within_its_budget() -> None:
    from hypothesis.stateful import run_state_machine_as_test

    run_state_machine_as_test(
        BudgetedLedger,
        settings=settings(max_examples=15, stateful_step_count=30, deadline=None,
                          suppress_health_check=list(HealthCheck)),
    )


def test_100_concurrent_requests_against_a_balance_for_10(server: Any, fake_upstream: Any) -> None:
    """Each admitted request waits upstream, holding its worst case, until all 100 have been either admitted
    or refused; the balance covers exactly 10 holds: at most 10 are admitted, the rest get 402, none
    overdraws, and the ledger still sums."""
    import time
    from concurrent.futures import ThreadPoolExecutor
    from decimal import Decimal

    import httpx

    body = {"model": "gpt-4o@openai", "max_tokens": 100, "messages": [{"role": "user", "content": "scenario:gate"}]}
    # The worst case of this body at gpt-4o prices (2.50 in / 10.00 out per 1M): 100 x 10 + the prompt estimate.
    account = server.cli_json("accounts", "create")["account_id"]
    key = server.cli_json("keys", "create", "--account", account)["key"]
    server.cli_json("credits", "grant", "--account", account, "--amount", "0.0105", "--idempotency-key", "ten")

    def attempt(_: int) -> int:
        return httpx.post(f"{server.url}/v1/chat/completions", json=body, timeout=90,
                          headers={"Authorization": f"Bearer {key}"}).status_code

    fake_upstream.gate.clear()
    fake_upstream.gated = 0
    with ThreadPoolExecutor(max_workers=100) as pool:
        futures = [pool.submit(attempt, n) for n in range(100)]
        # Only once every request is either waiting upstream or answered does any hold end.
        deadline = time.monotonic() + 60
        while fake_upstream.gated + sum(f.done() for f in futures) < 100 and time.monotonic() < deadline:
            time.sleep(0.05)
        fake_upstream.gate.set()
        statuses = [f.result() for f in futures]
    assert set(statuses) <= {200, 402}
    assert 1 <= statuses.count(200) <= 10
    remaining = Decimal(str(httpx.get(f"{server.url}/v0/credits", headers={"Authorization": f"Bearer {key}"})
                            .json()["credits"]))
    assert remaining >= 0
    ledger = server.cli_json("credits", "ledger", "--account", account, "--limit", "1000")["entries"]
    assert sum(Decimal(e["credits"]) for e in ledger) == remaining
    assert sum(1 for e in ledger if e["kind"] == "hold") == statuses.count(200)
