"""Routing on measured benchmarks, fallbacks, retries and cooldowns, against scripted fake upstreams.

`routing-test` is offered by two fake providers: alpha (cheaper input) and beta (cheaper output).
"""

from __future__ import annotations

import time

import pytest

from tests.integration.chat_helpers import assert_money_consistent, final_usage, run_chat, streamed_text
from unigate.catalog import metrics
from unigate.catalog.entries import get_catalog
from unigate.domain.errors import BadRequest, NotFound, RateLimited, ServiceUnavailable
from unigate.infra.config import get_settings
from unigate.stores.metrics import WINDOW_SECONDS, window_start

START = 10_000_000


def _ask(model: str, text: str = "hello", **extra: object) -> dict:
    return {"model": model, "messages": [{"role": "user", "content": text}], **extra}


def _settings(monkeypatch: pytest.MonkeyPatch, **values: object) -> None:
    for name, value in values.items():
        monkeypatch.setenv(f"UNIGATE_{name.upper()}", str(value))
    get_settings.cache_clear()


def _cost(endpoint: str, usage: dict) -> int:
    model, provider = endpoint.split("@")
    return get_catalog().endpoint(model, provider).cost_micros(usage["prompt_tokens"], usage["completion_tokens"])


def _warm(model: str, times: int) -> None:
    for _ in range(times):
        run_chat(_ask(model, stream=True))


def test_lowest_ttft_picks_the_faster_provider_and_switches_when_they_swap(
    providers, account: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    _settings(monkeypatch, metrics_cache_seconds=0)
    providers.delays.update({"alpha": 0.2, "beta": 0.0})
    _warm("routing-test@alpha", 5)
    _warm("routing-test@beta", 5)
    headers, _ = run_chat(_ask("routing-test@lowest-ttft", stream=True))
    assert headers["x-unigate-endpoint"] == "routing-test@beta"
    assert metrics.stats("routing-test@alpha").ttft_p50 > metrics.stats("routing-test@beta").ttft_p50

    providers.delays.update({"alpha": 0.0, "beta": 0.2})
    _warm("routing-test@alpha", 11)
    _warm("routing-test@beta", 11)
    headers, body = run_chat(_ask("routing-test@t"))
    assert headers["x-unigate-endpoint"] == "routing-test@alpha"
    assert body["model"] == "routing-test@alpha"
    assert_money_consistent()


def test_unmeasured_endpoints_rank_by_the_catalog_and_the_prior(providers, account: str) -> None:
    assert run_chat(_ask("routing-test@lowest-input-cost"))[0]["x-unigate-endpoint"] == "routing-test@alpha"
    assert run_chat(_ask("routing-test@oc"))[0]["x-unigate-endpoint"] == "routing-test@beta"
    # cost is 3:1 input:output: alpha (3*0.5+2)/4 = 0.875 < beta (3*1+1)/4 = 1.0
    assert run_chat(_ask("routing-test@cost"))[0]["x-unigate-endpoint"] == "routing-test@alpha"
    # Neither has samples: both sit at the prior TTFT, and the cheaper wins the tie.
    assert run_chat(_ask("routing-test@lowest-ttft"))[0]["x-unigate-endpoint"] == "routing-test@alpha"


def test_thresholds_exclude(providers, account: str) -> None:
    assert run_chat(_ask("routing-test@ic|oc<=1.5"))[0]["x-unigate-endpoint"] == "routing-test@beta"
    assert run_chat(_ask("routing-test@oc|ic<1"))[0]["x-unigate-endpoint"] == "routing-test@alpha"
    with pytest.raises(NotFound, match=r"No providers found within the specified thresholds\."):
        run_chat(_ask("routing-test@cost|ic<0.1"))
    with pytest.raises(NotFound, match="Unknown model"):
        run_chat(_ask("no-such-model@lowest-ttft"))
    assert assert_money_consistent() < START


def test_a_503_then_200_chain_bills_only_the_second(providers, account: str, monkeypatch: pytest.MonkeyPatch) -> None:
    _settings(monkeypatch, upstream_retries=0)
    providers.failures["alpha"] = [(503, None)]
    headers, body = run_chat(_ask("routing-test@alpha->beta"))
    assert headers["x-unigate-endpoint"] == "routing-test@beta"
    assert providers.count("/alpha/") == 1
    assert START - assert_money_consistent() == _cost("routing-test@beta", body["usage"])


def test_provider_model_and_array_fallbacks(providers, account: str, monkeypatch: pytest.MonkeyPatch) -> None:
    _settings(monkeypatch, upstream_retries=0)
    providers.failures["alpha"] = [(500, None)]
    assert run_chat(_ask("routing-test@alpha->beta"))[0]["x-unigate-endpoint"] == "routing-test@beta"
    providers.failures["alpha"] = [(502, None)]
    request = [_ask("routing-test@alpha", max_tokens=10), _ask("routing-test@beta", max_tokens=10)]
    assert run_chat(request)[0]["x-unigate-endpoint"] == "routing-test@beta"  # type: ignore[arg-type]
    providers.failures["alpha"] = [(429, None)]
    headers, _ = run_chat(_ask("routing-test-mini->routing-test@alpha"))  # models, one provider
    assert headers["x-unigate-endpoint"] == "routing-test@alpha"
    assert [r.body["model"] for r in providers.received[-2:]] == ["routing-test-mini", "routing-test"]
    assert_money_consistent()


def test_a_client_error_does_not_fall_back(providers, account: str) -> None:
    providers.failures["alpha"] = [(400, None)]
    with pytest.raises(BadRequest):
        run_chat(_ask("routing-test@alpha->beta"))
    assert providers.count("/beta/") == 0
    assert assert_money_consistent() == START


def test_retry_after_1_is_honoured(providers, account: str, monkeypatch: pytest.MonkeyPatch) -> None:
    _settings(monkeypatch, upstream_retries=1)
    providers.failures["alpha"] = [(429, "1")]
    started = time.monotonic()
    headers, _ = run_chat(_ask("routing-test@alpha"))
    assert headers["x-unigate-endpoint"] == "routing-test@alpha"
    assert providers.count("/alpha/") == 2
    assert time.monotonic() - started >= 0.9


def test_retry_after_120_is_not_waited_for(providers, account: str, monkeypatch: pytest.MonkeyPatch) -> None:
    _settings(monkeypatch, upstream_retries=3)
    providers.failures["alpha"] = [(429, "120")]
    started = time.monotonic()
    with pytest.raises(RateLimited) as limited:
        run_chat(_ask("routing-test@alpha"))
    assert limited.value.retry_after == 120
    assert providers.count("/alpha/") == 1
    assert time.monotonic() - started < 60
    assert assert_money_consistent() == START


def test_an_endpoint_failing_five_times_in_a_row_is_cooled_down(
    providers, account: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    _settings(monkeypatch, upstream_retries=0, cooldown_seconds=1.5)
    providers.failures["alpha"] = [(503, None)] * 100
    for _ in range(5):
        assert run_chat(_ask("routing-test@alpha->beta"))[0]["x-unigate-endpoint"] == "routing-test@beta"
    assert providers.count("/alpha/") == 5
    for _ in range(3):
        run_chat(_ask("routing-test@alpha->beta"))
    assert providers.count("/alpha/") == 5  # skipped while cooling down
    # Both cooling: nothing healthy to try.
    providers.failures["beta"] = [(503, None)] * 5
    for _ in range(5):
        with pytest.raises(Exception):
            run_chat(_ask("routing-test@beta->alpha"))
    with pytest.raises(ServiceUnavailable):
        run_chat(_ask("routing-test@alpha->beta"))
    time.sleep(1.6)
    providers.failures["alpha"] = []
    assert run_chat(_ask("routing-test@alpha->beta"))[0]["x-unigate-endpoint"] == "routing-test@alpha"
    assert providers.count("/alpha/") == 6  # probed again after the cooldown, and healthy
    assert_money_consistent()


def test_a_client_error_never_counts_against_an_endpoint(providers, account: str,
                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    _settings(monkeypatch, upstream_retries=0)
    providers.failures["alpha"] = [(400, None)] * 6
    for _ in range(6):
        with pytest.raises(BadRequest):
            run_chat(_ask("routing-test@alpha->beta"))
    assert run_chat(_ask("routing-test@alpha->beta"))[0]["x-unigate-endpoint"] == "routing-test@alpha"


def test_a_stream_failing_after_its_first_chunk_is_not_retried_and_bills_what_was_streamed(
    providers, account: str
) -> None:
    _, events = run_chat(_ask("routing-test@alpha->beta", "scenario:truncate", stream=True))
    assert "error" in events[-1]
    assert streamed_text(events)
    assert providers.count("/alpha/") == 1
    assert providers.count("/beta/") == 0
    assert START - assert_money_consistent() > 0


def test_measurements_reach_the_metrics_table(providers, account: str, monkeypatch: pytest.MonkeyPatch) -> None:
    _settings(monkeypatch, upstream_retries=1, retry_base_seconds=0.01)
    _warm("routing-test@beta", 3)
    providers.failures["alpha"] = [(503, None)] * 2
    with pytest.raises(Exception):
        run_chat(_ask("routing-test@alpha"))
    measured = time.time()
    beta = metrics.stats("routing-test@beta", fresh=True)
    assert beta.samples == 3
    assert beta.ttft_samples == 3
    assert beta.ttft_p50 is not None
    assert beta.ttft_p90 is not None
    assert beta.itl_p50 is not None
    assert beta.error_rate == 0
    # The end of the window the measurements fell in (a window may have turned over during the test).
    assert beta.measured_at in {window_start(measured) + WINDOW_SECONDS, window_start(measured)}
    alpha = metrics.stats("routing-test@alpha", fresh=True)
    assert alpha.samples == 2
    assert alpha.error_rate == 1.0


def test_streamed_usage_of_a_fallback_is_the_served_endpoints(providers, account: str,
                                                              monkeypatch: pytest.MonkeyPatch) -> None:
    _settings(monkeypatch, upstream_retries=0)
    providers.failures["alpha"] = [(503, None)]
    headers, events = run_chat(_ask("routing-test@alpha->beta", stream=True, stream_options={"include_usage": True}))
    assert headers["x-unigate-endpoint"] == "routing-test@beta"
    usage = final_usage(events)
    assert START - assert_money_consistent() == _cost("routing-test@beta", usage)


def test_5xx_is_retried_with_backoff_on_the_same_endpoint(providers, account: str,
                                                           monkeypatch: pytest.MonkeyPatch) -> None:
    _settings(monkeypatch, upstream_retries=2, retry_base_seconds=0.01)
    providers.failures["alpha"] = [(500, None), (503, None)]
    headers, body = run_chat(_ask("routing-test@alpha"))
    assert headers["x-unigate-endpoint"] == "routing-test@alpha"
    assert providers.count("/alpha/") == 3
    assert START - assert_money_consistent() == _cost("routing-test@alpha", body["usage"])
