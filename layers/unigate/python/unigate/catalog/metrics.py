"""Benchmarks measured from this gateway's own traffic: per-endpoint latency, speed and errors.

Every upstream attempt produces a Measurement (see unigate.stores.metrics); it is written inside the
attempt's settle transaction and also emitted as a CloudWatch EMF metric. Summaries aggregate the
windows of the last `routing_horizon_minutes` and are cached per process for a few seconds.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

from unigate.infra.config import get_settings
from unigate.infra.observability import metrics_disabled
from unigate.stores import metrics as store
from unigate.stores.metrics import Measurement

# What an endpoint is assumed to do before it has MIN_SAMPLES measurements (documented in the README):
# a middling hosted model.
PRIOR_TTFT_MS = 1000.0
PRIOR_ITL_MS = 50.0
PRIOR_TPS = 20.0

_cache: dict[str, tuple[float, EndpointStats]] = {}


@dataclass(frozen=True)
class EndpointStats:
    endpoint: str
    samples: int = 0
    ttft_samples: int = 0
    ttft_p50: float | None = None
    ttft_p90: float | None = None
    itl_p50: float | None = None
    itl_p90: float | None = None
    tokens_per_second: float | None = None
    error_rate: float = 0.0
    measured_at: int | None = None

    def value(self, metric: str) -> float | None:
        """The measured value used for ranking, or the prior while there are too few samples."""
        enough = self.ttft_samples >= get_settings().routing_min_samples
        if metric == "ttft":
            return self.ttft_p50 if enough and self.ttft_p50 is not None else PRIOR_TTFT_MS
        if metric == "itl":
            return self.itl_p50 if enough and self.itl_p50 is not None else PRIOR_ITL_MS
        if metric == "tks_per_sec":
            return self.tokens_per_second if enough and self.tokens_per_second is not None else PRIOR_TPS
        return None


def _percentile(histogram: dict[int, int], fraction: float) -> float | None:
    total = sum(histogram.values())
    if total == 0:
        return None
    target, running = fraction * total, 0
    for index in sorted(histogram):
        running += histogram[index]
        if running >= target:
            return round(store.bucket_value(index), 1)
    return None


def summarize(endpoint: str, rows: list[dict[str, Any]]) -> EndpointStats:
    ttft: dict[int, int] = {}
    itl: dict[int, int] = {}
    totals: dict[str, int] = {}
    latest = None
    for row in rows:
        latest = max(latest or 0, store.window_of(row) + store.WINDOW_SECONDS)
        for name, count in row.items():
            if name[0] in "ti" and name[1:].isdigit():
                (ttft if name[0] == "t" else itl)[int(name[1:])] = (ttft if name[0] == "t" else itl).get(
                    int(name[1:]), 0) + int(count)
            elif name in ("tps_n", "tps_milli", *store.OUTCOMES):
                totals[name] = totals.get(name, 0) + int(count)
    samples = sum(totals.get(o, 0) for o in store.OUTCOMES)
    failures = sum(totals.get(o, 0) for o in store.OUTCOMES if o not in ("ok", "client_error"))
    tps = totals["tps_milli"] / 1000 / totals["tps_n"] if totals.get("tps_n") else None
    return EndpointStats(
        endpoint=endpoint,
        samples=samples,
        ttft_samples=sum(ttft.values()),
        ttft_p50=_percentile(ttft, 0.5),
        ttft_p90=_percentile(ttft, 0.9),
        itl_p50=_percentile(itl, 0.5),
        itl_p90=_percentile(itl, 0.9),
        tokens_per_second=round(tps, 1) if tps is not None else None,
        error_rate=round(failures / samples, 4) if samples else 0.0,
        measured_at=latest,
    )


def stats(endpoint: str, *, fresh: bool = False) -> EndpointStats:
    settings = get_settings()
    now = time.time()
    cached = _cache.get(endpoint)
    if cached and not fresh and now - cached[0] < settings.metrics_cache_seconds:
        return cached[1]
    found = summarize(endpoint, store.windows(endpoint, now - settings.routing_horizon_minutes * 60))
    _cache[endpoint] = (now, found)
    return found


def emit(measurement: Measurement, cost_micros: int = 0) -> None:
    """CloudWatch EMF: latency and outcome per endpoint (printed to the function's log)."""
    if metrics_disabled():
        return
    from aws_lambda_powertools.metrics import MetricUnit, single_metric

    with single_metric(name="UpstreamLatency", unit=MetricUnit.Milliseconds, value=measurement.total_ms,
                       namespace=get_settings().metrics_namespace) as metric:
        metric.add_dimension(name="endpoint", value=measurement.endpoint)
        metric.add_dimension(name="outcome", value=measurement.outcome)
        if measurement.ttft_ms is not None:
            metric.add_metric(name="TimeToFirstToken", unit=MetricUnit.Milliseconds, value=measurement.ttft_ms)
        if measurement.output_tokens:
            metric.add_metric(name="OutputTokens", unit=MetricUnit.Count, value=measurement.output_tokens)
        if cost_micros:
            metric.add_metric(name="CostMicroCredits", unit=MetricUnit.Count, value=cost_micros)


def reset_cache() -> None:
    _cache.clear()
