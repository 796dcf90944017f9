"""Charging holds that an invocation left open (it died between hold and settle: out of memory, killed at
its timeout, a host failure, or every settle retry failed). Every function settles within its timeout, at
most 15 minutes, so a hold older than `stale_hold_minutes` can never be settled by its request any more.

A stale hold is charged at its full amount: it is taken only right before the upstream call (credentials,
limits and custom endpoints' addresses are all checked before it), so its request was sent and may have
been billed in full; the hold is the most it could cost. Releasing it instead would make any way of breaking
the settle free output. Each charge is a normal settle (exactly once, with its ledger entry, and a query log
record whose outcome says `swept`), so a request that does settle at the last moment and the sweeper cannot
both apply; the count is logged and emitted as the StaleHoldsCharged metric, which is alarmed.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from unigate.accounts import billing, querylog
from unigate.infra.config import get_settings
from unigate.infra.observability import count, get_logger
from unigate.stores import accounts as store

# Days looked back: holds older than this were already swept by an earlier run.
LOOKBACK_DAYS = 7


def _record(held: Any) -> dict[str, Any]:
    entry = store.get_entry(held.account_id, f"hold#{held.hold_id}")
    endpoint = str((entry.details if entry else {}).get("endpoint", "unknown"))
    return querylog.record_put(account_id=held.account_id, endpoint=endpoint, outcome="swept", prompt_tokens=0,
                               completion_tokens=0, cost_micros=held.amount_micros, latency_ms=0, ttft_ms=None,
                               tags=[])


def sweep(now: datetime | None = None) -> dict[str, Any]:
    now = now or datetime.now(UTC)
    cutoff = now - timedelta(minutes=get_settings().stale_hold_minutes)
    before = cutoff.isoformat(timespec="microseconds").replace("+00:00", "Z")
    charged = []
    for back in range(LOOKBACK_DAYS):
        day = (cutoff - timedelta(days=back)).date().isoformat()
        for held in store.stale_holds(day, before):
            if billing.settle(held, held.amount_micros, (_record(held),)):
                charged.append({"account_id": held.account_id, "hold_id": held.hold_id,
                                "amount_micros": held.amount_micros})
    if charged:
        count("StaleHoldsCharged", len(charged))
        get_logger().warning("charged stale holds at their full amount", extra={"holds": charged})
    return {"charged": charged}
