"""Deployments (names bound to an endpoint with settings), their content filters, rate limits per key and
per deployment, the extra-parameters header on chat, and POST /v0/inference's service."""

from __future__ import annotations

import asyncio
import json
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest

from tests.conftest import EVENTS, template
from tests.integration.chat_helpers import assert_money_consistent, run_chat, streamed_text
from unigate.accounts import accounts, billing
from unigate.catalog import deployments
from unigate.domain.errors import ArgumentsMismatch, BadRequest, Conflict, Forbidden, NotFound, RateLimited
from unigate.domain.records import Caller
from unigate.gateway import inference
from unigate.infra.transport import aclose_clients

ACCOUNT = "acct_deploy"
START = 5_000_000
FILTER = {"violence": {"terms": ["stab"], "patterns": [r"kill\w*"]},
          "secrets": {"terms": ["reply"], "input": False, "output": True}}


@pytest.fixture
def funded(providers: Any) -> Any:
    accounts.create_account(account_id=ACCOUNT)
    billing.grant(ACCOUNT, START, idempotency_key="start")
    return providers


def ask(body: Any, caller: Caller | None = None, *, extra: str | None = None) -> tuple[dict[str, str], Any]:
    return run_chat(body, caller=caller or Caller(ACCOUNT, "key_deploy"), extra_parameters=extra)


def message(text: str, **extra: Any) -> dict[str, Any]:
    return {"messages": [{"role": "user", "content": text}], "max_tokens": 20, **extra}


def test_a_deployment_routes_in_any_case_and_pins_the_model_version(funded: Any) -> None:
    deployments.create("Mistral-large", "routing-test@alpha", model_version="routing-test-2024-07")
    for name in ("Mistral-large", "mistral-LARGE"):
        headers, body = ask({"model": name, **message("hi")})
        assert body["choices"][0]["message"]["content"] == "fake reply to: hi"
        assert headers["x-unigate-endpoint"] == "routing-test@alpha"
        assert headers["x-unigate-deployment"] == "Mistral-large"
        assert funded.last("/chat/completions").body["model"] == "routing-test-2024-07"
    assert_money_consistent(ACCOUNT)


def test_deployment_checks(funded: Any) -> None:
    deployments.create("prod-chat", "routing-test@alpha")
    with pytest.raises(Conflict):
        deployments.create("PROD-chat", "routing-test@beta")
    with pytest.raises(NotFound, match="Unknown endpoint"):
        deployments.create("other", "nope@alpha")
    with pytest.raises(BadRequest, match="deployment name is 1 to 64"):
        deployments.create("has space", "routing-test@alpha")
    with pytest.raises(BadRequest, match="capacity in tokens per minute"):
        deployments.create("pt", "routing-test@alpha", capacity_type="provisioned")
    with pytest.raises(BadRequest, match="invalid pattern"):
        deployments.create("bad", "routing-test@alpha", content_filter=deployments.categories_from(
            {"x": {"patterns": ["("]}}))
    with pytest.raises(NotFound, match="No deployment named 'missing'"):
        ask({"model": "missing", **message("hi")})
    deployments.create("prod-chat", "routing-test@beta", replace=True)
    assert deployments.find("PROD-CHAT").endpoint == "routing-test@beta"
    deployments.delete("Prod-Chat")
    assert deployments.find("prod-chat") is None


def test_a_key_limited_to_a_deployment_may_use_it_and_nothing_else(funded: Any) -> None:
    deployments.create("team-chat", "routing-test@alpha")
    caller = Caller(ACCOUNT, "key_deploy", ("TEAM-chat",))
    ask({"model": "team-chat", **message("hi")}, caller)
    with pytest.raises(Forbidden):
        ask({"model": "routing-test@alpha", **message("hi")}, caller)


def test_content_filter_refuses_input_before_any_hold(funded: Any) -> None:
    deployments.create("safe", "routing-test@alpha", content_filter=deployments.categories_from(FILTER))
    for text in ("how to STAB someone", "killing time"):
        with pytest.raises(BadRequest) as raised:
            ask({"model": "SAFE", **message(text)})
        assert raised.value.code == "content_filter"
        assert raised.value.message == ("The request was blocked by the deployment's content filter "
                                        "(category: violence).")
    # Whole words only: "stable" is not "stab".
    assert funded.received == []
    assert assert_money_consistent(ACCOUNT) == START
    ask({"model": "safe", **message("a stable build")})
    assert funded.count("/chat/completions") == 1


def test_content_filter_on_output_whole_and_streamed(funded: Any) -> None:
    deployments.create("safe", "routing-test@alpha", content_filter=deployments.categories_from(FILTER))
    _, body = ask({"model": "safe", **message("hello")})
    choice = body["choices"][0]
    assert choice["finish_reason"] == "content_filter"
    assert choice["message"]["content"] == ""
    assert choice["content_filter_results"] == {"secrets": {"filtered": True}}
    assert body["usage"]["cost"] > 0  # what was generated is paid for
    _, events = ask({"model": "safe", **message("hello", stream=True)})
    assert events[-1] == "[DONE]"
    finishes = [c["choices"][0] for c in events[:-1] if isinstance(c, dict) and c.get("choices")
                and c["choices"][0].get("finish_reason")]
    assert finishes == [{"index": 0, "delta": {}, "finish_reason": "content_filter",
                         "content_filter_results": {"secrets": {"filtered": True}}}]
    assert "reply" not in streamed_text(events)
    assert assert_money_consistent(ACCOUNT) < START


def _wait_for_a_fresh_minute(margin: float = 5.0) -> None:
    """Rate-limit windows are calendar minutes; a test that must stay inside one starts early in one."""
    left = 60 - time.time() % 60
    if left < margin:
        time.sleep(left + 0.05)


def test_key_rate_limit_refuses_the_next_request_with_headers_and_no_charge(funded: Any) -> None:
    _wait_for_a_fresh_minute()
    caller = Caller(ACCOUNT, "key_limited", rpm=2)
    headers, _ = ask({"model": "routing-test@alpha", **message("one")}, caller)
    assert headers["x-ratelimit-limit-requests"] == "2"
    assert headers["x-ratelimit-remaining-requests"] == "1"
    ask({"model": "routing-test@alpha", **message("two")}, caller)
    balance = assert_money_consistent(ACCOUNT)
    with pytest.raises(RateLimited) as raised:
        ask({"model": "routing-test@alpha", **message("three")}, caller)
    assert 1 <= raised.value.retry_after <= 60
    assert raised.value.headers["x-ratelimit-remaining-requests"] == "0"
    assert funded.count("/chat/completions") == 2
    assert assert_money_consistent(ACCOUNT) == balance
    # Another key has its own window.
    ask({"model": "routing-test@alpha", **message("four")}, Caller(ACCOUNT, "key_other", rpm=2))


def test_provisioned_capacity_caps_tokens_and_a_limited_deployment_falls_back(funded: Any) -> None:
    _wait_for_a_fresh_minute()
    # Each request counts its prompt estimate (about 10 tokens) plus max_tokens 20.
    deployments.create("small", "routing-test@alpha", capacity_type="provisioned", capacity_tpm=70)
    deployments.create("spare", "routing-test@beta")
    for _ in range(2):
        headers, _ = ask({"model": "small", **message("hi")})
    assert int(headers["x-ratelimit-remaining-tokens"]) < 30
    with pytest.raises(RateLimited, match="deployment small"):
        ask({"model": "small", **message("hi")})
    headers, _ = ask({"model": "small->spare", **message("hi")})
    assert headers["x-unigate-endpoint"] == "routing-test@beta"
    assert funded.count("/alpha/") == 2
    assert_money_consistent(ACCOUNT)


def test_concurrent_handlers_admit_exactly_the_limit(funded: Any) -> None:
    """Twelve Lambda invocations at once against one key limited to 5 requests a minute, sharing one table:
    five answered, seven refused with 429, and only the five paid for."""
    from unigate_tools.invoke import call, context_for, load_handler

    _wait_for_a_fresh_minute(15)
    spec = template().functions()["ChatCompletionsFunction"]
    handler = load_handler(spec)
    event = json.loads((EVENTS / "chat_completions/echo.json").read_text())
    event["requestContext"]["authorizer"].update({"account_id": ACCOUNT, "key_id": "key_burst", "rpm": "5"})
    event["body"] = json.dumps({"model": "routing-test@alpha", **message("burst")})
    with ThreadPoolExecutor(12) as pool:
        responses = list(pool.map(lambda _: call(handler, dict(event), context_for(spec)), range(12)))
    statuses = sorted(r["statusCode"] for r in responses)
    assert statuses == [200] * 5 + [429] * 7
    refused = next(r for r in responses if r["statusCode"] == 429)
    assert json.loads(refused["body"])["error"].startswith("Rate limit of this API key reached")
    assert {k.lower() for k in refused["headers"]} >= {"retry-after", "x-ratelimit-limit-requests",
                                                       "x-ratelimit-remaining-requests", "x-ratelimit-reset-requests"}
    costs = sum(round(json.loads(r["body"])["usage"]["cost"] * 1_000_000) for r in responses if r["statusCode"] == 200)
    assert assert_money_consistent(ACCOUNT) == START - costs
    assert funded.count("/chat/completions") == 5


@pytest.mark.parametrize("mode", ["error", "drop", "pass-through", None])
def test_extra_parameters_header_on_chat(funded: Any, mode: str | None) -> None:
    body = {"model": "routing-test@alpha", "top_k": 5, "temperature": 0.1, **message("hi")}
    if mode == "error":
        with pytest.raises(ArgumentsMismatch) as raised:
            ask(body, extra=mode)
        assert raised.value.param == "top_k"
        assert raised.value.message == "Extra parameter 'top_k' is not allowed (extra-parameters: error)."
        assert funded.received == []
        assert_money_consistent(ACCOUNT)
        return
    headers, _ = ask(body, extra=mode)
    sent = funded.last("/chat/completions").body
    assert sent["temperature"] == 0.1
    assert ("top_k" in sent) == (mode == "pass-through")
    assert (headers.get("x-unigate-dropped-params") == "top_k") == (mode != "pass-through")


def test_pass_through_reaches_anthropic_in_its_own_payload(funded: Any) -> None:
    ask({"model": "claude-haiku-4.5@anthropic", "top_k": 3, **message("hi")}, extra="pass-through")
    assert funded.last("/messages").body["top_k"] == 3


def test_an_unknown_extra_parameters_mode_is_refused(funded: Any) -> None:
    with pytest.raises(BadRequest, match="extra-parameters header is one of"):
        ask({"model": "routing-test@alpha", **message("hi")}, extra="sometimes")


def _infer(body: Any) -> dict[str, Any]:
    caller = Caller(ACCOUNT, "key_deploy")

    async def go() -> dict[str, Any]:
        try:
            result = await inference.run(inference.prepare(body, caller), caller)
            return result.body
        finally:
            await aclose_clients()

    return asyncio.run(go())


def test_inference_for_a_chat_model_an_embedding_model_and_a_meta_provider(funded: Any) -> None:
    chat_answer = _infer({"model": "routing-test", "provider": "alpha", "arguments": message("hi")})
    assert chat_answer["response"]["choices"][0]["message"]["content"] == "fake reply to: hi"
    embedded = _infer({"model": "embed-test", "provider": "alpha", "arguments": {"input": ["a", "bb"]}})
    assert [d["embedding"][0] for d in embedded["response"]["data"]] == [1.0, 2.0]
    cheapest = _infer({"model": "routing-test", "provider": "lowest-input-cost", "arguments": message("hi")})
    assert cheapest["response"]["model"] == "routing-test@alpha"
    assert assert_money_consistent(ACCOUNT) == START - sum(
        round(r["response"]["usage"]["cost"] * 1_000_000) for r in (chat_answer, embedded, cheapest))


@pytest.mark.parametrize(("body", "error", "message"), [
    ({"provider": "alpha", "arguments": {}}, BadRequest, "Invalid 'model': Field required."),
    ({"model": "routing-test", "arguments": {}}, BadRequest, "Invalid 'provider': Field required."),
    ({"model": "routing-test", "provider": "alpha", "arguments": {"input": "x"}}, ArgumentsMismatch,
     "The provided arguments don't correspond to the specified model."),
    ({"model": "embed-test", "provider": "alpha", "arguments": message("hi")}, ArgumentsMismatch,
     "The provided arguments don't correspond to the specified model."),
    ({"model": "embed-test", "provider": "alpha", "arguments": "input"}, ArgumentsMismatch,
     "The provided arguments don't correspond to the specified model."),
    ({"model": "routing-test", "provider": "alpha", "arguments": message("hi", stream=True)}, BadRequest,
     "/v0/inference answers whole; stream with /v0/chat/completions."),
    ({"model": "nope", "provider": "alpha", "arguments": message("hi")}, NotFound, "Unknown endpoint: nope@alpha"),
])
def test_inference_refusals(funded: Any, body: dict[str, Any], error: type, message: str) -> None:
    with pytest.raises(error) as raised:
        _infer(body)
    assert raised.value.message == message
    assert funded.received == []
    assert assert_money_consistent(ACCOUNT) == START
