"""Every token class billed once at its price, per family, plain and streamed, through the real chat
service against each family's fake upstream: cache reads, cache writes (5-minute and 1-hour), reasoning
tokens and a prompt over a long-context tier, each checked to the micro-credit against a hand calculation.

The endpoints are the operator's (UNIGATE_CATALOG_PATH) so that the prices of the calculation stay fixed
when the built-in catalog is refreshed."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from botocore.stub import ANY, Stubber

from tests.conftest import use_catalog
from tests.fakes import bedrock as fake_bedrock
from tests.fakes.upstream import catalog_override
from tests.integration.chat_helpers import assert_money_consistent, final_usage, run_chat
from unigate.accounts import querylog
from unigate.catalog.entries import get_catalog
from unigate.providers.bedrock.adapter import runtime_client
from unigate_tools.emulator import FAKE_CREDENTIALS

START = 10_000_000
PRICED = {
    # o-series style: reasoning has its own price; above 200k prompt tokens every class doubles.
    "bill@openai": {"upstream": "bill", "input": "1.1", "cache_read": "0.275", "output": "4.4", "reasoning": "8.8",
                    "tiers": [{"above": 200000, "input": "2.2", "cache_read": "0.55", "output": "8.8"}],
                    "context": 1000000, "max_output": 100000},
    # Claude Sonnet 4.5's prices, with its 1M-context tier.
    "bill@anthropic": {"upstream": "bill", "input": "3", "cache_read": "0.3", "cache_write": "3.75",
                       "cache_write_1h": "6", "output": "15",
                       "tiers": [{"above": 200000, "input": "6", "cache_read": "0.6", "cache_write": "7.5",
                                  "cache_write_1h": "12", "output": "22.5"}],
                       "context": 1000000, "max_output": 64000},
    # Gemini 2.5 Pro's prices: thoughts billed as output.
    "bill@gemini": {"upstream": "bill", "input": "1.25", "cache_read": "0.125", "output": "10",
                    "tiers": [{"above": 200000, "input": "2.5", "cache_read": "0.25", "output": "15"}],
                    "context": 1048576, "max_output": 65536},
    "bill@aws-bedrock": {"upstream": "bill-model", "input": "3", "cache_read": "0.3", "cache_write": "3.75",
                         "output": "15", "context": 200000, "max_output": 64000},
}
# (endpoint, scenario) -> the hand calculation, micro-credits (USD per 1M tokens = micro-credits per token)
EXPECTED = {
    # 400 uncached x 1.1 + 600 cached x 0.275 + 300 output x 4.4 + 200 reasoning x 8.8
    ("bill@openai", "cached"): 440 + 165 + 1320 + 1760,
    # 250,000 prompt tokens > 200k: 200,000 x 2.2 + 50,000 cached x 0.55 + 100 output x 8.8
    ("bill@openai", "long"): 440_000 + 27_500 + 880,
    # 400 x 3 + 600 read x 0.3 + 100 written for 5 min x 3.75 + 200 written for 1 h x 6 + 500 x 15
    ("bill@anthropic", "cached"): 1200 + 180 + 375 + 1200 + 7500,
    # 150,001 + 50,000 read = 200,001 > 200k: 150,001 x 6 + 50,000 x 0.6 + 100 x 22.5
    ("bill@anthropic", "long"): 900_006 + 30_000 + 2250,
    # 400 x 1.25 + 600 cached x 0.125 + 300 x 10 + 200 thoughts x 10
    ("bill@gemini", "cached"): 500 + 75 + 3000 + 2000,
    # 250,000 > 200k: 200,000 x 2.5 + 50,000 x 0.25 + 100 x 15
    ("bill@gemini", "long"): 500_000 + 12_500 + 1500,
    # 400 x 3 + 600 read x 0.3 + 100 written x 3.75 + 50 x 15
    ("bill@aws-bedrock", "cached"): 1200 + 180 + 375 + 750,
}


@pytest.fixture
def priced(providers: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    doc = catalog_override(providers.url)
    doc["endpoints"].update(PRICED)
    use_catalog(doc, tmp_path / "priced.json", monkeypatch)
    yield providers
    get_catalog.cache_clear()


def _ask(model: str, scenario: str, *, stream: bool) -> dict[str, Any]:
    body: dict[str, Any] = {"model": model, "max_tokens": 60000,
                            "messages": [{"role": "user", "content": f"scenario:usage:{scenario}"}]}
    if stream:
        body.update(stream=True, stream_options={"include_usage": True})
    return body


@pytest.mark.parametrize("stream", [False, True], ids=["plain", "streamed"])
@pytest.mark.parametrize(("model", "scenario"), [k for k in EXPECTED if k[0] != "bill@aws-bedrock"])
def test_each_class_at_its_price(model: str, scenario: str, stream: bool, priced: Any, account: str) -> None:
    headers, body = run_chat(_ask(model, scenario, stream=stream))
    usage = final_usage(body) if stream else body["usage"]
    expected = EXPECTED[(model, scenario)]
    assert round(usage["cost"] * 1_000_000) == expected
    assert assert_money_consistent() == START - expected
    # The per-class breakdown sums to the total (which was rounded up once).
    assert abs(sum(usage["cost_details"].values()) * 1_000_000 - expected) < 1
    if not stream:
        assert headers["x-unigate-cost"] == f"{expected / 1_000_000:.6f}".rstrip("0")
    record = querylog.list_queries(account)["queries"][0]
    assert record["cost"] == usage["cost"]
    assert sum(float(v) for v in record["cost_details"].values()) == pytest.approx(expected, abs=1)


def test_the_normalised_counts_reach_the_client(priced: Any, account: str) -> None:
    _, body = run_chat(_ask("bill@anthropic", "cached", stream=False))
    usage = body["usage"]
    # OpenAI's semantics: prompt_tokens includes the cache reads and writes.
    assert usage["prompt_tokens"] == 1300
    assert usage["prompt_tokens_details"] == {"cached_tokens": 600}
    assert usage["cache_creation"] == {"ephemeral_5m_input_tokens": 100, "ephemeral_1h_input_tokens": 200}
    assert usage["cost_details"] == {"input": 0.0012, "cache_read": 0.00018, "cache_write_5m": 0.000375,
                                     "cache_write_1h": 0.0012, "output": 0.0075, "reasoning": 0.0}
    _, body = run_chat(_ask("bill@gemini", "cached", stream=False))
    assert (body["usage"]["completion_tokens"], body["usage"]["completion_tokens_details"]) == (
        500, {"reasoning_tokens": 200})


@pytest.fixture
def bedrock_runtime(monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    for name, value in FAKE_CREDENTIALS.items():
        monkeypatch.setenv(name, value)
    url, server = fake_bedrock.start([])
    monkeypatch.setenv("AWS_ENDPOINT_URL_BEDROCK_RUNTIME", url)
    runtime_client.cache_clear()
    yield url
    server.should_exit = True
    runtime_client.cache_clear()


def test_bedrock_cache_reads_and_writes_plain_and_streamed(priced: Any, account: str, bedrock_runtime: str) -> None:
    expected = EXPECTED[("bill@aws-bedrock", "cached")]
    with Stubber(runtime_client()) as stub:
        stub.add_response("converse", {
            "output": {"message": {"role": "assistant", "content": [{"text": "ok"}]}}, "stopReason": "end_turn",
            "usage": fake_bedrock.CACHED_USAGE, "metrics": {"latencyMs": 1},
        }, {"modelId": "bill-model", "messages": ANY, "inferenceConfig": ANY})
        _, body = run_chat({"model": "bill@aws-bedrock", "max_tokens": 1000,
                            "messages": [{"role": "user", "content": "hi"}]})
    assert round(body["usage"]["cost"] * 1_000_000) == expected, body["usage"]
    runtime_client.cache_clear()
    _, events = run_chat({"model": "bill@aws-bedrock", "max_tokens": 1000, "stream": True,
                          "stream_options": {"include_usage": True},
                          "messages": [{"role": "user", "content": "scenario:cached"}]})
    assert round(final_usage(events)["cost"] * 1_000_000) == expected
    assert assert_money_consistent() == START - 2 * expected
