"""The stale-hold sweeper: holds left open by a dead invocation are charged whole exactly once (issue #29: the
request was sent and may have been billed), with a query log record saying so; live ones stay."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from tests.integration.chat_helpers import assert_money_consistent
from unigate.accounts import accounts, billing, querylog, sweeper
from unigate.infra.config import get_settings
from unigate.stores import accounts as store
from unigate.stores.dynamo import ddb, values


def test_stale_holds_are_charged_whole_once_and_fresh_or_settled_ones_are_not(aws: Any) -> None:
    accounts.create_account(account_id="acct_sweep")
    billing.grant("acct_sweep", 1_000_000, idempotency_key="start")
    dead = billing.hold("acct_sweep", 300_000, {"endpoint": "gpt-4o@openai"})  # its invocation "died"
    settled = billing.hold("acct_sweep", 200_000)
    billing.settle(settled, 50_000)
    assert accounts.get_account("acct_sweep").balance_micros == 1_000_000 - 300_000 - 50_000

    # Within the stale time nothing is touched.
    assert sweeper.sweep(datetime.now(UTC) + timedelta(minutes=5)) == {"charged": []}
    later = datetime.now(UTC) + timedelta(minutes=25)
    assert sweeper.sweep(later)["charged"] == [{"account_id": "acct_sweep", "hold_id": dead.hold_id,
                                                 "amount_micros": 300_000}]
    assert assert_money_consistent("acct_sweep") == 1_000_000 - 50_000 - 300_000
    (record,) = querylog.list_queries("acct_sweep")["queries"]
    assert record["outcome"] == "swept"
    assert record["endpoint"] == "gpt-4o@openai"
    assert record["cost"] == 0.3
    # A second run, and the request's own settle arriving after all, change nothing.
    assert sweeper.sweep(later) == {"charged": []}
    assert billing.settle(dead, 0) is False
    assert assert_money_consistent("acct_sweep") == 650_000
    assert store.stale_holds(later.date().isoformat(), later.isoformat()) == []


def test_holds_from_earlier_days_are_found(aws: Any) -> None:
    accounts.create_account(account_id="acct_sweep_days")
    billing.grant("acct_sweep_days", 1_000, idempotency_key="start")
    billing.hold("acct_sweep_days", 1_000)
    charged = sweeper.sweep(datetime.now(UTC) + timedelta(days=3))["charged"]
    assert [r["amount_micros"] for r in charged] == [1_000]
    assert assert_money_consistent("acct_sweep_days") == 0


def test_a_days_holds_are_spread_over_the_index_shards_and_all_found(aws: Any) -> None:
    accounts.create_account(account_id="acct_sweep_shards")
    billing.grant("acct_sweep_shards", 20_000, idempotency_key="start")
    held = [billing.hold("acct_sweep_shards", 1_000) for _ in range(20)]
    keys = {record["open_day"] for record in store.list_open_holds("acct_sweep_shards")}
    day = datetime.now(UTC).date().isoformat()
    assert all(key.startswith(f"{day}#") and int(key.split("#")[1]) < store.HOLD_SHARDS for key in keys)
    assert len(keys) > 1  # 20 random hold ids on one shard of 16: about 1 in 10^23
    charged = sweeper.sweep(datetime.now(UTC) + timedelta(minutes=25))["charged"]
    assert sorted(r["hold_id"] for r in charged) == sorted(h.hold_id for h in held)
    assert assert_money_consistent("acct_sweep_shards") == 0


def test_a_hold_opened_before_the_index_was_sharded_is_found(aws: Any) -> None:
    accounts.create_account(account_id="acct_sweep_legacy")
    billing.grant("acct_sweep_legacy", 5_000, idempotency_key="start")
    dead = billing.hold("acct_sweep_legacy", 5_000)
    # As the previous release wrote it: the bare day, no shard.
    ddb().update_item(TableName=get_settings().accounts_table,
                      Key={"account_id": {"S": "acct_sweep_legacy"}, "sk": {"S": f"HOLD#{dead.hold_id}"}},
                      UpdateExpression="SET open_day = :day",
                      ExpressionAttributeValues=values(day=datetime.now(UTC).date().isoformat()))
    charged = sweeper.sweep(datetime.now(UTC) + timedelta(minutes=25))["charged"]
    assert [r["hold_id"] for r in charged] == [dead.hold_id]
    assert assert_money_consistent("acct_sweep_legacy") == 0
