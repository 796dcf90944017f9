"""The stale-hold sweeper: holds left open by a dead invocation go back exactly once; live ones stay."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from tests.integration.chat_helpers import assert_money_consistent
from unigate import accounts, billing, sweeper
from unigate.stores import accounts as store


def test_stale_holds_are_released_once_and_fresh_or_settled_ones_are_not(aws: Any) -> None:
    accounts.create_account(account_id="acct_sweep")
    billing.grant("acct_sweep", 1_000_000, idempotency_key="start")
    dead = billing.hold("acct_sweep", 300_000)      # its invocation "died": never settled
    settled = billing.hold("acct_sweep", 200_000)
    billing.settle(settled, 50_000)
    assert accounts.get_account("acct_sweep").balance_micros == 1_000_000 - 300_000 - 50_000

    # Within the stale time nothing is touched.
    assert sweeper.sweep(datetime.now(UTC) + timedelta(minutes=5)) == {"released": []}
    later = datetime.now(UTC) + timedelta(minutes=25)
    assert sweeper.sweep(later)["released"] == [{"account_id": "acct_sweep", "hold_id": dead.hold_id,
                                                  "amount_micros": 300_000}]
    assert assert_money_consistent("acct_sweep") == 1_000_000 - 50_000
    # A second run, and the request's own settle arriving after all, change nothing.
    assert sweeper.sweep(later) == {"released": []}
    assert billing.settle(dead, 300_000) is False
    assert assert_money_consistent("acct_sweep") == 950_000
    assert store.stale_holds(later.date().isoformat(), later.isoformat()) == []


def test_holds_from_earlier_days_are_found(aws: Any) -> None:
    accounts.create_account(account_id="acct_sweep_days")
    billing.grant("acct_sweep_days", 1_000, idempotency_key="start")
    billing.hold("acct_sweep_days", 1_000)
    released = sweeper.sweep(datetime.now(UTC) + timedelta(days=3))["released"]
    assert [r["amount_micros"] for r in released] == [1_000]
    assert assert_money_consistent("acct_sweep_days") == 1_000
