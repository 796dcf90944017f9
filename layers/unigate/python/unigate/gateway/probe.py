"""Probing endpoints with a tiny prompt, so benchmarks exist before real traffic (off by default).

A scheduled run streams one short completion from each configured endpoint and records it like any
other measurement. Probes are not billed to any account: their provider cost is the operator's (see
the README for what that costs).
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

from unigate.catalog.entries import get_catalog
from unigate.gateway.chat import outcome_of, provider_credentials
from unigate.providers import adapter_for
from unigate.providers.base import UpstreamCall, UpstreamFailure
from unigate.stores import metrics as store
from unigate.stores.metrics import Measurement

PROMPT = [{"role": "user", "content": "Reply with the single word OK."}]


async def probe(name: str, timeout: float = 20.0) -> Measurement:
    model, _, provider_name = name.partition("@")
    catalog = get_catalog()
    endpoint = catalog.endpoint(model, provider_name)
    provider = catalog.provider(provider_name)
    body = {"model": endpoint.upstream, "messages": PROMPT, "max_tokens": 5, "stream": True}
    call = UpstreamCall(endpoint, provider, body, provider_credentials(provider), timeout)
    started = time.monotonic()
    first: float | None = None
    tokens = 0
    try:
        async for chunk in adapter_for(provider.family).stream(call):
            if chunk.get("choices") and first is None:
                first = time.monotonic()
            usage = chunk.get("usage")
            if isinstance(usage, dict):
                tokens = int(usage.get("completion_tokens") or tokens)
    except UpstreamFailure as failure:
        return Measurement(name, outcome_of(failure), (time.monotonic() - started) * 1000)
    end = time.monotonic()
    ttft = (first - started) * 1000 if first is not None else None
    itl = (end - first) * 1000 / (tokens - 1) if first is not None and tokens > 1 else None
    return Measurement(name, "ok", (end - started) * 1000, ttft, itl, tokens)


def run(event: dict[str, Any], configured: str = "") -> dict[str, Any]:
    """Probes the endpoints named in the event (`{"endpoints": [...]}`) or in the configuration."""
    names = event.get("endpoints") or [n.strip() for n in configured.split(",") if n.strip()]

    async def all_of_them() -> list[Measurement]:
        return list(await asyncio.gather(*(probe(n) for n in names)))

    results = asyncio.run(all_of_them()) if names else []
    for measurement in results:
        store.record(measurement)
    return {"probed": [{"endpoint": m.endpoint, "outcome": m.outcome, "ttft_ms": m.ttft_ms} for m in results]}
