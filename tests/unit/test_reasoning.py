"""reasoning_effort as each translating wire format's own reasoning parameter, and their thinking back as the
chat form's reasoning_content (unigate.providers.reasoning and the anthropic, gemini and bedrock
transformations)."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest

from unigate.catalog.entries import EndpointSpec, ProviderSpec
from unigate.providers import reasoning
from unigate.providers.anthropic.transformation import from_anthropic, to_anthropic
from unigate.providers.base import UpstreamCall
from unigate.providers.bedrock.transformation import from_converse, reasoning_text, to_converse
from unigate.providers.gemini.transformation import from_gemini, to_gemini

HELLO = [{"role": "user", "content": "hello"}]


def _call(family: str, upstream: str, body: dict[str, Any]) -> UpstreamCall:
    endpoint = EndpointSpec(name=f"m@{family}", upstream=upstream, input=Decimal(1), output=Decimal(5), context=1000,
                            max_output=64000, capabilities=("reasoning",))
    provider = ProviderSpec(name=family, family=family, base_url="http://127.0.0.1:1")  # type: ignore[arg-type]
    return UpstreamCall(endpoint, provider, {"model": upstream, "messages": HELLO, **body})


@pytest.mark.parametrize(("effort", "cap", "budget"), [
    ("low", 8000, 1024), ("medium", 8000, 2048), ("high", 8000, 4096), ("xhigh", 20000, 8192),
    ("minimal", 8000, 1024),
    # the budget stays below max_tokens, so the thinking fits in the cap the hold prices
    ("high", 3000, 2999),
])
def test_anthropic_budgets_follow_the_effort_under_the_cap(effort: str, cap: int, budget: int) -> None:
    assert reasoning.anthropic_thinking({"messages": HELLO, "reasoning_effort": effort}, cap) == {
        "type": "enabled", "budget_tokens": budget}


def test_anthropic_thinks_not_where_it_cannot() -> None:
    assert reasoning.anthropic_thinking({"messages": HELLO, "reasoning_effort": "none"}, 8000) is None
    assert reasoning.anthropic_thinking({"messages": HELLO}, 8000) is None
    # Anthropic's minimum budget is 1024, and it must be below max_tokens.
    assert reasoning.anthropic_thinking({"messages": HELLO, "reasoning_effort": "high"}, 1024) is None
    forced = {"messages": HELLO, "reasoning_effort": "low", "tools": [{"type": "function"}]}
    assert reasoning.anthropic_thinking({**forced, "tool_choice": "required"}, 8000) is None
    assert reasoning.anthropic_thinking({**forced, "tool_choice": {"type": "function"}}, 8000) is None
    assert reasoning.anthropic_thinking({**forced, "tool_choice": "auto"}, 8000) is not None
    loop = [*HELLO, {"role": "assistant", "content": None, "tool_calls": [{"id": "c1"}]},
            {"role": "tool", "tool_call_id": "c1", "content": "sunny"}]
    assert reasoning.anthropic_thinking({"messages": loop, "reasoning_effort": "low"}, 8000) is None
    answered = [*loop, {"role": "assistant", "content": "It is sunny."}, {"role": "user", "content": "thanks"}]
    assert reasoning.anthropic_thinking({"messages": answered, "reasoning_effort": "low"}, 8000) is not None


def test_reconcile_drops_what_thinking_displaces_or_the_effort_itself() -> None:
    body = {"messages": HELLO, "reasoning_effort": "low", "temperature": 0.2, "top_p": 0.5}
    assert reasoning.reconcile("anthropic", "claude", body, 8000) == ["temperature", "top_p"]
    assert body == {"messages": HELLO, "reasoning_effort": "low"}
    kept = {"messages": HELLO, "reasoning_effort": "low", "temperature": 1, "top_p": 0.96}
    assert reasoning.reconcile("bedrock", "anthropic.claude-x", kept, 8000) == []
    assert kept["temperature"] == 1
    small = {"messages": HELLO, "reasoning_effort": "low", "temperature": 0.2}
    assert reasoning.reconcile("anthropic", "claude", small, 500) == ["reasoning_effort"]
    assert small == {"messages": HELLO, "temperature": 0.2}
    off = {"messages": HELLO, "reasoning_effort": "none"}
    assert reasoning.reconcile("anthropic", "claude", off, 8000) == []
    assert "reasoning_effort" not in off
    gemini = {"messages": HELLO, "reasoning_effort": "low", "temperature": 0.2}
    assert reasoning.reconcile("gemini", "gemini-2.5-flash", gemini, 8000) == []
    assert gemini["temperature"] == 0.2


def test_which_endpoints_take_the_effort() -> None:
    assert reasoning.takes_effort("anthropic", "claude-sonnet-4-5", ("tools", "reasoning"))
    assert not reasoning.takes_effort("anthropic", "claude-3-haiku", ("tools",))
    assert reasoning.takes_effort("gemini", "gemini-2.5-flash", ("reasoning",))
    assert reasoning.takes_effort("bedrock", "us.anthropic.claude-sonnet-4-v1:0", ("reasoning",))
    assert not reasoning.takes_effort("bedrock", "deepseek.r1-v1:0", ("reasoning",))
    assert not reasoning.takes_effort("openai", "o3", ("reasoning",))  # forwarded as it is, by its params


def test_to_anthropic_sends_thinking_and_no_displaced_sampling() -> None:
    body = to_anthropic(_call("anthropic", "claude", {"reasoning_effort": "medium", "max_tokens": 4000,
                                                      "temperature": 0.3, "top_p": 0.99}), stream=False)
    assert body["thinking"] == {"type": "enabled", "budget_tokens": 2048}
    assert body["max_tokens"] == 4000
    assert "temperature" not in body
    assert body["top_p"] == 0.99
    plain = to_anthropic(_call("anthropic", "claude", {"max_tokens": 4000, "temperature": 0.3}), stream=False)
    assert "thinking" not in plain
    assert plain["temperature"] == 0.3


def test_anthropic_thinking_blocks_become_reasoning_content() -> None:
    completion = from_anthropic({"content": [
        {"type": "thinking", "thinking": "Let me think.", "signature": "sig"},
        {"type": "redacted_thinking", "data": "opaque"},
        {"type": "text", "text": "Paris."}], "stop_reason": "end_turn",
        "usage": {"input_tokens": 10, "output_tokens": 30}}, "claude")
    message = completion["choices"][0]["message"]
    assert (message["content"], message["reasoning_content"]) == ("Paris.", "Let me think.")
    bare = from_anthropic({"content": [{"type": "text", "text": "Paris."}], "usage": {}}, "claude")
    assert "reasoning_content" not in bare["choices"][0]["message"]


@pytest.mark.parametrize(("effort", "config"), [
    ("low", {"thinkingBudget": 1024, "includeThoughts": True}),
    ("high", {"thinkingBudget": 4096, "includeThoughts": True}),
    ("minimal", {"thinkingBudget": 128, "includeThoughts": True}),
    ("none", {"thinkingBudget": 0, "includeThoughts": False}),
])
def test_gemini_thinking_config(effort: str, config: dict[str, Any]) -> None:
    body = to_gemini(_call("gemini", "gemini-2.5-flash", {"reasoning_effort": effort, "max_tokens": 8000}))
    assert body["generationConfig"]["thinkingConfig"] == config
    assert body["generationConfig"]["maxOutputTokens"] == 8000


def test_gemini_budget_stays_within_the_cap_and_thoughts_come_back() -> None:
    body = to_gemini(_call("gemini", "gemini-2.5-flash", {"reasoning_effort": "high", "max_tokens": 300}))
    assert body["generationConfig"]["thinkingConfig"]["thinkingBudget"] == 300
    assert "thinkingConfig" not in to_gemini(_call("gemini", "gemini-2.5-flash", {}))["generationConfig"]
    completion = from_gemini({"candidates": [{"content": {"role": "model", "parts": [
        {"text": "Considering the question.", "thought": True}, {"text": "Paris."}]}, "finishReason": "STOP"}],
        "usageMetadata": {"promptTokenCount": 5, "candidatesTokenCount": 2, "thoughtsTokenCount": 40}}, "gemini")
    message = completion["choices"][0]["message"]
    assert (message["content"], message["reasoning_content"]) == ("Paris.", "Considering the question.")
    assert completion["usage"]["completion_tokens_details"] == {"reasoning_tokens": 40}
    assert completion["usage"]["completion_tokens"] == 42


def test_claude_on_bedrock_thinks_through_additional_fields() -> None:
    request = to_converse(_call("bedrock", "us.anthropic.claude-sonnet-4-v1:0", {
        "reasoning_effort": "low", "max_tokens": 5000, "temperature": 0.5}))
    assert request["additionalModelRequestFields"] == {"thinking": {"type": "enabled", "budget_tokens": 1024}}
    assert request["inferenceConfig"] == {"maxTokens": 5000}
    other = to_converse(_call("bedrock", "amazon.nova-pro-v1:0", {"reasoning_effort": "low", "max_tokens": 5000}))
    assert "additionalModelRequestFields" not in other
    completion = from_converse({"output": {"message": {"role": "assistant", "content": [
        {"reasoningContent": {"reasoningText": {"text": "Thinking it over.", "signature": "sig"}}},
        {"reasoningContent": {"redactedContent": b"opaque"}},
        {"text": "Paris."}]}}, "stopReason": "end_turn", "usage": {"inputTokens": 3, "outputTokens": 9}}, "claude")
    message = completion["choices"][0]["message"]
    assert (message["content"], message["reasoning_content"]) == ("Paris.", "Thinking it over.")
    assert reasoning_text({"text": "a delta"}) == "a delta"
    assert reasoning_text({"signature": "sig"}) == ""
