"""Legacy completions through the service, against the fake upstream over real HTTP, with money checked after
each: native pass-through (the fake self-hosted vLLM and together-ai), translation to chat (alpha, echo), the
worst-case hold, broken streams billed for what was produced, fallbacks from native to translated."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest

from tests.fakes.upstream import PROMPT_TOKENS
from tests.integration.chat_helpers import assert_money_consistent, collected
from unigate.accounts import accounts
from unigate.domain.errors import BadRequest, InsufficientCredits, UnigateError
from unigate.domain.records import Caller
from unigate.gateway import completions
from unigate.infra.transport import aclose_clients

NATIVE = "llama-3.1-8b-chat@local-vllm"


def run(body: Any, account: str = "acct_test") -> tuple[dict[str, str], Any]:
    caller = Caller(account, "key_test")

    async def go() -> tuple[dict[str, str], Any]:
        try:
            return await collected(await completions.complete(completions.prepare(body, caller), caller))
        finally:
            await aclose_clients()

    return asyncio.run(go())


def _text(events: list[Any]) -> str:
    return "".join(c["choices"][0]["text"] for c in events if isinstance(c, dict) and c.get("choices"))


def test_native_plain_charges_the_upstreams_usage(providers, account: str) -> None:
    headers, body = run({"model": NATIVE, "prompt": ["a", "b"], "n": 2, "max_tokens": 100})
    assert body["object"] == "text_completion"
    assert [c["text"] for c in body["choices"]] == ["fake reply to: a"] * 2 + ["fake reply to: b"] * 2
    assert body["usage"]["prompt_tokens"] == 2 * PROMPT_TOKENS
    assert body["usage"]["completion_tokens"] == 16
    # 0.10 USD per 1M tokens both ways: (22 + 16) * 0.1 micro-credits, rounded up.
    assert headers["x-unigate-cost"] == "0.000004"
    assert assert_money_consistent() == 10_000_000 - 4
    assert providers.last("/vllm/v1/completions").body["n"] == 2


def test_native_hold_covers_every_prompt_and_choice(providers, aws) -> None:
    """The worst case is each prompt's bytes and max_tokens for each of the n completions of each prompt."""
    accounts.create_account(account_id="acct_poor")
    from unigate.accounts import billing

    billing.grant("acct_poor", 400, idempotency_key="tiny")
    # (2 prompts x (3 + 1) + 2 x 2 x 1000 output tokens) x 0.1 micro-credits > 400.
    with pytest.raises(InsufficientCredits):
        run({"model": NATIVE, "prompt": ["a", "b"], "n": 2, "max_tokens": 1000}, "acct_poor")
    assert assert_money_consistent("acct_poor") == 400
    assert providers.count("/vllm/v1/completions") == 0
    _, body = run({"model": NATIVE, "prompt": "a", "max_tokens": 1000}, "acct_poor")
    assert body["choices"][0]["text"] == "fake reply to: a"


def test_native_stream_cut_mid_way_bills_what_was_produced(providers, account: str) -> None:
    _, events = run({"model": NATIVE, "prompt": "scenario:truncate", "stream": True})
    assert _text(events) == "fake reply to: "
    assert "error" in events[-1]
    spent = 10_000_000 - assert_money_consistent()
    assert spent > 0


def test_native_error_status_releases_the_hold(providers, account: str) -> None:
    with pytest.raises(UnigateError) as failed:
        run({"model": NATIVE, "prompt": "scenario:error:500"})
    assert failed.value.status == 502
    assert assert_money_consistent() == 10_000_000


def test_translated_to_chat_sends_a_chat_body(providers, account: str) -> None:
    headers, body = run({"model": "routing-test@alpha", "prompt": "hey", "logprobs": 2, "best_of": 1,
                         "temperature": 0.5})
    sent = providers.last("/alpha/v1/chat/completions").body
    assert sent["messages"] == [{"role": "user", "content": "hey"}]
    assert sent["temperature"] == 0.5
    assert "prompt" not in sent
    assert "best_of" not in sent
    assert headers["x-unigate-dropped-params"] == "best_of,logprobs"
    assert body["choices"][0]["text"] == "fake reply to: hey"
    assert body["id"] == "cmpl-fake"
    cost = round(body["usage"]["cost"] * 1_000_000)
    assert assert_money_consistent() == 10_000_000 - cost


def test_translated_stream_with_echo(providers, account: str) -> None:
    _, events = run({"model": "echo@echo", "prompt": "one two", "echo": True, "stream": True,
                     "stream_options": {"include_usage": True}})
    assert events[-1] == "[DONE]"
    assert _text(events) == "one twoone two"
    assert all(c["object"] == "text_completion" for c in events[:-1])
    usage = events[-2]["usage"]
    assert events[-2]["choices"] == []
    assert assert_money_consistent() == 10_000_000 - round(usage["cost"] * 1_000_000)


def test_a_native_endpoint_falls_back_to_a_translated_one(providers, account: str) -> None:
    providers.failures["vllm"] = [(503, None), (503, None)]
    headers, body = run({"model": f"{NATIVE}->routing-test@alpha", "prompt": "fall"})
    assert headers["x-unigate-endpoint"] == "routing-test@alpha"
    assert body["choices"][0]["text"] == "fake reply to: fall"
    assert_money_consistent()


def test_only_native_endpoints_take_what_chat_cannot(providers, account: str) -> None:
    # Token-array prompts: the translated endpoint of the chain is passed over, the native one serves.
    headers, _ = run({"model": f"routing-test@alpha->{NATIVE}", "prompt": [[1, 2], [3]]})
    assert headers["x-unigate-endpoint"] == NATIVE
    # Several text prompts are served translated (one chat call each), so the chain's first endpoint answers.
    headers, _ = run({"model": f"routing-test@alpha->{NATIVE}", "prompt": ["x", "y"]})
    assert headers["x-unigate-endpoint"] == "routing-test@alpha"
    with pytest.raises(BadRequest) as refused:
        run({"model": "routing-test@alpha", "prompt": "x", "max_tokens": 0})
    assert refused.value.param == "max_tokens"
    assert assert_money_consistent() < 10_000_000


def test_deployment_content_filter_checks_every_prompt(providers, account: str) -> None:
    from unigate.catalog import deployments
    from unigate.domain.records import FilterCategory

    deployments.create("Vllm-Team", NATIVE, content_filter=(FilterCategory("secrets", terms=("password",)),))
    with pytest.raises(BadRequest) as blocked:
        run({"model": "vllm-team", "prompt": ["fine", "my password"]})
    assert blocked.value.code == "content_filter"
    assert providers.count("/vllm/v1/completions") == 0
    assert assert_money_consistent() == 10_000_000


def test_the_query_log_keeps_the_completions_body(providers, account: str) -> None:
    from unigate.accounts import querylog

    run({"model": NATIVE, "prompt": "logged", "log_query_body": True, "tags": ["legacy"]})
    (record,) = querylog.list_queries("acct_test")["queries"]
    assert json.loads(record["request_body"])["prompt"] == "logged"
    assert record["tags"] == ["legacy"]


def test_drop_params_false_refuses_only_what_the_endpoint_cannot_take(providers, account: str) -> None:
    # Native: every completions parameter is the upstream's own, logprobs included.
    _, body = run({"model": NATIVE, "prompt": "p", "logprobs": 1, "echo": True, "drop_params": False})
    assert body["choices"][0]["logprobs"]["tokens"][0] == "fake "
    # Translated to a chat provider without log probabilities: named as the client sent it.
    with pytest.raises(BadRequest) as refused:
        run({"model": "routing-test@alpha", "prompt": "p", "logprobs": 1, "drop_params": False})
    assert refused.value.param == "logprobs"
    _, body = run({"model": "routing-test@alpha", "prompt": "p", "top_k": 3, "drop_params": False})
    assert body["choices"][0]["text"] == "fake reply to: p"
    assert "top_k" not in providers.last("/alpha/v1/chat/completions").body


def test_chat_only_parameters_are_foreign_to_the_completions_api(providers, account: str) -> None:
    for model in ("routing-test@alpha", NATIVE):
        headers, _ = run({"model": model, "prompt": "p", "tools": [{"type": "function", "function": {"name": "f"}}],
                          "response_format": {"type": "json_object"}})
        assert set(headers["x-unigate-dropped-params"].split(",")) == {"tools", "response_format"}
    assert "tools" not in providers.last("/alpha/v1/chat/completions").body
    assert "tools" not in providers.last("/vllm/v1/completions").body


# ------------------------------------------------------------------------- several prompts, translated
@pytest.fixture
def tiered(providers, tmp_path, monkeypatch) -> Any:
    """A chat-only endpoint whose long-context tier starts above 15 prompt tokens: each of the fake's answers
    counts 11, so one prompt stays at the base rate and two summed would not."""
    from tests.conftest import use_catalog
    from tests.fakes.upstream import catalog_override
    from unigate.catalog.entries import get_catalog

    doc = catalog_override(providers.url)
    doc["endpoints"]["tiered@alpha"] = {"upstream": "tiered", "input": "1", "output": "1", "context": 8192,
                                        "max_output": 1000,
                                        "tiers": [{"above": 15, "input": "10", "output": "10"}]}
    use_catalog(doc, tmp_path / "tiered.json", monkeypatch)
    yield providers
    get_catalog.cache_clear()


@pytest.mark.parametrize("stream", [False, True], ids=["plain", "streamed"])
def test_several_prompts_are_priced_each_on_its_own_and_settled_once(tiered, account: str, stream: bool) -> None:
    body: dict[str, Any] = {"model": "tiered@alpha", "prompt": ["a", "b"], "max_tokens": 50, "stream": stream}
    if stream:
        body["stream_options"] = {"include_usage": True}
    headers, answer = run(body)
    usage = answer[-2]["usage"] if stream else answer["usage"]
    assert usage["prompt_tokens"] == 2 * PROMPT_TOKENS
    assert usage["completion_tokens"] == 8
    # Each call at the base rate (11 + 4 tokens at 1 micro-credit each), not the sum at the tier's 10.
    assert round(usage["cost"] * 1_000_000) == 2 * (11 + 4)
    assert assert_money_consistent() == 10_000_000 - 30
    assert tiered.count("/alpha/v1/chat/completions") == 2
    if not stream:
        assert headers["x-unigate-cost"] == "0.00003"
    from unigate.infra.config import get_settings
    from unigate.stores import dynamo

    ledger = dynamo.query_all(TableName=get_settings().ledger_table, KeyConditionExpression="account_id = :a",
                              ExpressionAttributeValues=dynamo.values(a=account))
    assert sorted(str(e["entry_id"]).split("#")[0] for e in ledger) == ["grant", "hold", "settle"]


def test_the_hold_of_several_prompts_is_the_sum_of_each_calls_and_refuses_before_any_call(providers, aws) -> None:
    caller = Caller("acct_some", "key_test")
    prompts = ["one", "two words", "three words here"]
    several = completions.prepare({"model": "routing-test@alpha", "prompt": prompts, "max_tokens": 300}, caller)
    each = [completions.prepare({"model": "routing-test@alpha", "prompt": p, "max_tokens": 300}, caller)[0]
            for p in prompts]
    assert several[0].worst_case_micros == sum(p.worst_case_micros for p in each)
    assert several[0].prompt_estimate == sum(p.prompt_estimate for p in each)
    accounts.create_account(account_id="acct_some")
    from unigate.accounts import billing

    billing.grant("acct_some", several[0].worst_case_micros - 1, idempotency_key="short")
    with pytest.raises(InsufficientCredits):
        run({"model": "routing-test@alpha", "prompt": prompts, "max_tokens": 300}, "acct_some")
    assert providers.count("/alpha/v1/chat/completions") == 0
    assert assert_money_consistent("acct_some") == several[0].worst_case_micros - 1
