"""Releasing holds that an invocation left open (it died between hold and settle: out of memory, killed at
its timeout, a host failure). Every function settles within its timeout, at most 15 minutes, so a hold
older than `stale_hold_minutes` can never be settled by its request any more.

A stale hold is released whole: what the upstream may have produced is unknown, and the gateway does not
charge for what it cannot show. Each release is a normal settle (exactly once, with its ledger entry),
so a request that does settle at the last moment and the sweeper cannot both apply; the count is
logged and emitted as the StaleHoldsReleased metric, which is worth an alarm.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from unigate.accounts import billing
from unigate.infra.config import get_settings
from unigate.infra.observability import count, get_logger
from unigate.stores import accounts as store

# Days looked back: holds older than this were already swept by an earlier run.
LOOKBACK_DAYS = 7


def sweep(now: datetime | None = None) -> dict[str, Any]:
    now = now or datetime.now(UTC)
    cutoff = now - timedelta(minutes=get_settings().stale_hold_minutes)
    before = cutoff.isoformat(timespec="microseconds").replace("+00:00", "Z")
    released = []
    for back in range(LOOKBACK_DAYS):
        day = (cutoff - timedelta(days=back)).date().isoformat()
        for held in store.stale_holds(day, before):
            if billing.release(held):
                released.append({"account_id": held.account_id, "hold_id": held.hold_id,
                                 "amount_micros": held.amount_micros})
    if released:
        count("StaleHoldsReleased", len(released))
        get_logger().warning("released stale holds", extra={"holds": released})
    return {"released": released}
