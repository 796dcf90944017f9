"""Benchmarks measured through the local server, and routing by them through the official SDK."""

from __future__ import annotations

import json
import time
from importlib import resources

import httpx
import openai

from tests.e2e.conftest import LocalServer
from unigate.catalog.entries import build


def test_endpoint_metrics_after_traffic_and_routing_by_them(server: LocalServer, fake_upstream: object) -> None:
    # Its own model (the console's test sends traffic to routing-test on the same server): exact sample counts.
    client = openai.OpenAI(base_url=f"{server.url}/v1", api_key=server.key, max_retries=0)
    fake_upstream.delays.update({"alpha": 0.15, "beta": 0.0})  # type: ignore[attr-defined]
    try:
        for provider in ("alpha", "beta"):
            for _ in range(6):
                list(client.chat.completions.create(model=f"ranking-test@{provider}", stream=True,
                                                    messages=[{"role": "user", "content": "measure me"}]))
        rows = httpx.get(f"{server.url}/v0/endpoint-metrics", params={"model": "ranking-test"},
                         headers={"Authorization": f"Bearer {server.key}"}).json()
        by_name = {row["endpoint"]: row for row in rows}
        assert set(by_name) == {"ranking-test@alpha", "ranking-test@beta"}
        for row in rows:
            assert row["samples"] == 6
            assert row["ttft"] is not None
            assert row["ttft_p90"] >= row["ttft"]
            assert row["itl"] is not None
            assert row["error_rate"] == 0.0
            assert row["measured_at"].endswith("Z")
        assert by_name["ranking-test@alpha"]["ttft"] > by_name["ranking-test@beta"]["ttft"]
        assert by_name["ranking-test@alpha"]["input_cost"] == 0.5

        # The local server caches summaries for a few seconds; the ranking is already clear.
        import time

        time.sleep(5.1)
        reply = client.chat.completions.create(model="ranking-test@lowest-ttft",
                                               messages=[{"role": "user", "content": "route me"}])
        assert reply.model == "ranking-test@beta"
        reply = client.chat.completions.create(model="ranking-test@lowest-input-cost|t<100000",
                                               messages=[{"role": "user", "content": "route me"}])
        assert reply.model == "ranking-test@alpha"
    finally:
        fake_upstream.delays.clear()  # type: ignore[attr-defined]


def test_a_model_at_three_providers_routes_by_cost_and_by_measured_ttft(server: LocalServer,
                                                                       fake_upstream: object) -> None:
    """gpt-oss-120b as the built-in catalog lists it at groq, cerebras and deepinfra (the key may use only
    those three): @lowest-input-cost goes to the cheapest by the catalog, @lowest-ttft to the fastest
    measured."""
    builtin = json.loads(resources.files("unigate.catalog").joinpath("data/catalog.json").read_text())
    catalog = build({"providers": builtin["providers"], "endpoints": builtin["endpoints"]})
    hosts = ("groq", "cerebras", "deepinfra")
    offered = {e.provider: e for e in catalog.endpoints_of("gpt-oss-120b")}
    assert set(hosts) <= set(offered)
    cheapest = min(hosts, key=lambda p: (offered[p].input, p))
    account = server.cli_json("accounts", "create")["account_id"]
    server.cli_json("credits", "grant", "--account", account, "--amount", "5", "--idempotency-key", "three")
    allowed = [arg for p in hosts for arg in ("--allow-model", f"gpt-oss-120b@{p}")]
    key = server.cli_json("keys", "create", "--account", account, *allowed)["key"]
    client = openai.OpenAI(base_url=f"{server.url}/v1", api_key=key, max_retries=0)
    ask = [{"role": "user", "content": "route me"}]
    assert client.chat.completions.create(model="gpt-oss-120b@lowest-input-cost", messages=ask).model == \
        f"gpt-oss-120b@{cheapest}"

    # The fastest is the one measured fastest, whatever the prices.
    fastest = "groq" if cheapest != "groq" else "cerebras"
    fake_upstream.delays.update({p: (0.0 if p == fastest else 0.2) for p in hosts})  # type: ignore[attr-defined]
    try:
        for provider in hosts:
            for _ in range(6):
                list(client.chat.completions.create(model=f"gpt-oss-120b@{provider}", stream=True, messages=ask))
        time.sleep(5.1)  # the local server caches summaries for a few seconds
        assert client.chat.completions.create(model="gpt-oss-120b@lowest-ttft", messages=ask).model == \
            f"gpt-oss-120b@{fastest}"
    finally:
        fake_upstream.delays.clear()  # type: ignore[attr-defined]


def test_v1_models_through_the_sdk_carries_limits_prices_and_capabilities(server: LocalServer) -> None:
    client = openai.OpenAI(base_url=f"{server.url}/v1", api_key=server.key, max_retries=0)
    models = {m.id: m for m in client.models.list()}
    assert len(models) >= 1500
    sonnet = models["claude-sonnet-4.5@anthropic"].model_extra or {}
    assert sonnet["context_length"] == 200000
    assert sonnet["max_completion_tokens"] > 0
    assert {"prompt", "completion", "input_cache_read", "input_cache_write", "input_cache_write_1h",
            "internal_reasoning"} <= set(sonnet["pricing"])
    assert "tools" in sonnet["capabilities"]
    # The dialects an upstream serves natively (the test's own anthropic provider replaces the built-in one).
    assert (models["llama-3.3-70b-chat@fireworks-ai"].model_extra or {})["native"] == ["completions"]
    one = client.models.retrieve("gemini-2.5-pro@gemini").model_extra or {}
    assert one["pricing"]["tiers"][0]["above_prompt_tokens"] == 200000
