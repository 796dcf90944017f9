"""GET /v0/endpoint-metrics/history and /choices over measurements written to the metrics table (moto).

Measurements are recorded at chosen times through the store's own writer (the one the settle transaction and
the probe use), so each step's figures can be checked against what went in.
"""

from __future__ import annotations

import time

import pytest

from unigate.catalog import history
from unigate.domain.errors import BadRequest, NotFound
from unigate.domain.records import Caller
from unigate.gateway import routing
from unigate.infra.config import get_settings
from unigate.stores import metrics as store
from unigate.stores.metrics import Measurement

CALLER = Caller("acct_history", "key_history")


def _record(endpoint: str, at: float, *, ttft: float = 100.0, outcome: str = "ok", times: int = 1) -> None:
    for _ in range(times):
        store.record(Measurement(endpoint, outcome, total_ms=ttft + 500, ttft_ms=ttft, itl_ms=10.0, output_tokens=26,
                                 at=at))


def test_steps_sum_their_windows_and_empty_steps_are_null(aws: None) -> None:
    now = time.time()
    hour = int(now // 3600 * 3600)
    # Two hours ago: three fast streams and a 503; last hour's step: two slow ones.
    _record("echo@echo", hour - 2 * 3600 + 60, ttft=100.0, times=3)
    _record("echo@echo", hour - 2 * 3600 + 400, outcome="server_error")
    _record("echo@echo", hour + 30, ttft=400.0, times=2)
    # Another endpoint's windows are not counted.
    _record("fail@echo", hour + 30, ttft=5.0, times=4)

    found = history.endpoint_history(CALLER, "echo@echo", since="3h", step="1h")
    assert found["endpoint"] == "echo@echo"
    assert found["step"] == 3600
    points = found["points"]
    assert [p["start"] for p in points][-1] == time.strftime("%Y-%m-%dT%H:00:00Z", time.gmtime(hour))
    assert len(points) == 4
    by_start = {p["start"]: p for p in points}
    two_ago = by_start[time.strftime("%Y-%m-%dT%H:00:00Z", time.gmtime(hour - 2 * 3600))]
    assert two_ago["samples"] == 4
    assert two_ago["error_rate"] == 0.25
    assert 90 <= two_ago["ttft"] <= 115  # quarter-octave buckets: within about 9% of 100 ms
    latest = points[-1]
    assert latest["samples"] == 2
    assert 360 <= latest["ttft"] <= 440
    assert latest["tks_per_sec"] == 52.0  # 26 tokens over the 500 ms after the first
    empty = by_start[time.strftime("%Y-%m-%dT%H:00:00Z", time.gmtime(hour - 3600))]
    assert empty == {**empty, "samples": 0, "ttft": None, "itl": None, "tks_per_sec": None, "error_rate": None}


def test_five_minute_steps_over_a_week_are_every_window(aws: None) -> None:
    found = history.endpoint_history(CALLER, "echo@echo", since="7d", step="5m")
    assert found["step"] == 300
    assert 7 * 288 <= len(found["points"]) <= 7 * 288 + 2


@pytest.mark.parametrize(("since", "step", "param", "message"), [
    ("8d", "1h", "since", "at most 7 days"),
    ("2020-01-01T00:00:00Z", "1h", "since", "at most 7 days"),
    ("2999-01-01T00:00:00Z", "1h", "since", "in the future"),
    ("yesterday", "1h", "since", "duration"),
    ("0001-01-01T00:00:00+14:00", "1h", "since", "at most 7 days"),
    ("2026-13-45", "1h", "since", "ISO 8601"),
    ("²", "1h", "since", "duration"),
    ("24h", "7m", "step", "multiple of 5 minutes"),
    ("24h", "2d", "step", "at most one day"),
    ("24h", "0", "step", "multiple of 5 minutes"),
])
def test_bad_spans_are_refused_naming_the_parameter(aws: None, since: str, step: str, param: str,
                                                    message: str) -> None:
    with pytest.raises(BadRequest, match=message) as refused:
        history.endpoint_history(CALLER, "echo@echo", since=since, step=step)
    assert refused.value.param == param


def test_unknown_or_forbidden_endpoints_are_404s(aws: None) -> None:
    with pytest.raises(NotFound):
        history.endpoint_history(CALLER, "gpt-9@openai")
    with pytest.raises(NotFound):
        history.endpoint_history(Caller("acct_history", "key_limited", ("gpt-4o",)), "echo@echo")
    with pytest.raises(BadRequest) as refused:
        history.endpoint_history(CALLER, "echo")
    assert refused.value.param == "endpoint"


def test_choices_are_what_a_request_would_get(providers, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("UNIGATE_METRICS_CACHE_SECONDS", "0")
    get_settings.cache_clear()
    now = time.time()
    _record("routing-test@alpha", now, ttft=300.0, times=5)
    _record("routing-test@beta", now, ttft=50.0, times=5)
    found = {c["meta_provider"]: c["endpoint"] for c in routing.choices("routing-test", CALLER)["choices"]}
    assert found["@lowest-ttft"] == "routing-test@beta"
    assert found["@lowest-input-cost"] == "routing-test@alpha"  # 0.50 against 1.00
    assert found["@lowest-output-cost"] == "routing-test@beta"  # 1.00 against 2.00
    assert set(found) == {f"@{name}" for name in routing.CHOICE_META_PROVIDERS}

    # An endpoint cooling down is passed over, as a request would pass over it.
    for _ in range(get_settings().cooldown_failures):
        routing.note_failure("routing-test@beta")
    found = {c["meta_provider"]: c["endpoint"] for c in routing.choices("routing-test", CALLER)["choices"]}
    assert found["@lowest-ttft"] == "routing-test@alpha"

    limited = routing.choices("routing-test", Caller("acct_history", "key_limited", ("gpt-4o",)))
    assert {c["endpoint"] for c in limited["choices"]} == {None}
    assert {c["reason"] for c in limited["choices"]} == {"This API key may not use any provider of routing-test."}
    with pytest.raises(NotFound):
        routing.choices("no-such-model", CALLER)
