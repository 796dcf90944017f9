"""An endpoint's benchmarks over time (GET /v0/endpoint-metrics/history): the stored 5-minute windows
summed into steps, each summarised as routing summarises its horizon (unigate.catalog.metrics.summarize).

Windows expire after the metrics store's retention (7 days), so nothing older can be asked for. A step
is a whole number of windows; every step of the span is listed, empty ones with null figures, so a
chart shows gaps where there was no traffic.
"""

from __future__ import annotations

import re
import time
from datetime import UTC, datetime
from typing import Any

from unigate.catalog import metrics
from unigate.catalog.entries import get_catalog
from unigate.domain.errors import BadRequest, NotFound
from unigate.domain.records import Caller
from unigate.stores import metrics as store

RETENTION_SECONDS = store.RETENTION_DAYS * 86400
MAX_STEP_SECONDS = 86400
_DURATION = re.compile(r"^(?P<count>[1-9][0-9]{0,5})(?P<unit>[smhd])$")
_UNIT_SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86400}


def _seconds(value: str, param: str) -> int:
    """`300`, `90m`, `24h`, `7d` as seconds."""
    if value.isascii() and value.isdigit():
        return int(value)
    found = _DURATION.match(value)
    if not found:
        raise BadRequest(f"'{param}' must be a duration such as 5m, 1h, 24h or 7d (or a number of seconds).",
                         param=param)
    return int(found["count"]) * _UNIT_SECONDS[found["unit"]]


def _since(value: str, now: float) -> float:
    """A duration back from now, or an ISO 8601 time."""
    if value[:1].isdigit() and ("-" in value or "T" in value):
        try:
            parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
            start = (parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)).timestamp()
        except (ValueError, OverflowError):
            raise BadRequest("'since' must be an ISO 8601 time or a duration such as 24h.", param="since") from None
    else:
        start = now - _seconds(value, "since")
    if start < now - RETENTION_SECONDS - store.WINDOW_SECONDS:
        raise BadRequest(f"'since' may go back at most {store.RETENTION_DAYS} days: older windows are not kept.",
                         param="since")
    if start > now:
        raise BadRequest("'since' is in the future.", param="since")
    return start


def _iso(epoch: float) -> str:
    return datetime.fromtimestamp(epoch, UTC).isoformat().replace("+00:00", "Z")


def endpoint_history(caller: Caller, endpoint: str, since: str = "24h", step: str = "1h") -> dict[str, Any]:
    model, _, provider = endpoint.partition("@")
    if not model or not provider:
        raise BadRequest("'endpoint' must be an endpoint string such as gpt-4o@openai.", param="endpoint")
    spec = get_catalog().endpoint(model, provider)
    if not caller.may_use(spec.name, spec.model):
        raise NotFound(f"Unknown endpoint: {endpoint}", param="endpoint")
    step_seconds = _seconds(step, "step")
    if step_seconds % store.WINDOW_SECONDS or not store.WINDOW_SECONDS <= step_seconds <= MAX_STEP_SECONDS:
        raise BadRequest(f"'step' must be a multiple of {store.WINDOW_SECONDS // 60} minutes, at most one day.",
                         param="step")
    now = time.time()
    # Steps on round times (every 30 minutes from the hour, every day from midnight UTC), as charts label them.
    start = int(_since(since, now) // step_seconds * step_seconds)
    steps: dict[int, list[dict[str, Any]]] = {}
    for row in store.windows(spec.name, start):
        steps.setdefault((store.window_of(row) - start) // step_seconds, []).append(row)
    points = []
    for index in range(int((now - start) // step_seconds) + 1):
        summary = metrics.summarize(spec.name, steps.get(index, []))
        points.append({
            "start": _iso(start + index * step_seconds),
            "samples": summary.samples,
            "ttft": summary.ttft_p50,
            "ttft_p90": summary.ttft_p90,
            "itl": summary.itl_p50,
            "itl_p90": summary.itl_p90,
            "tks_per_sec": summary.tokens_per_second,
            "error_rate": summary.error_rate if summary.samples else None,
        })
    return {"endpoint": spec.name, "since": _iso(start), "step": step_seconds, "points": points}
