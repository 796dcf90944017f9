"""Issue #29: upstream usage totals is what is billed, unless it is invalid; then the estimate is billed (and logged),
and an answer with output is never billed 0 output tokens."""

from __future__ import annotations

import pytest

from unigate.gateway.chat import _usage_tokens
from unigate.providers.anthropic.transformation import from_anthropic
from unigate.providers.bedrock.transformation import from_converse
from unigate.providers.gemini.transformation import from_gemini

ESTIMATE = (40, 9)


@pytest.mark.parametrize("bad", [-5, 1e300, float("inf"), "12", 10**130, True, 3.5, None, [1]])
def test_invalid_counts_are_replaced_by_the_estimate(bad: object) -> None:
    assert _usage_tokens({"prompt_tokens": bad, "completion_tokens": 7}, *ESTIMATE).pair() == (40, 7)
    assert _usage_tokens({"prompt_tokens": 11, "completion_tokens": bad}, *ESTIMATE).pair() == (11, 9)


def test_valid_counts_are_billed_as_reported() -> None:
    assert _usage_tokens({"prompt_tokens": 11, "completion_tokens": 7}, *ESTIMATE).pair() == (11, 7)
    large = {"prompt_tokens": 2_000_000, "completion_tokens": 70_000}
    assert _usage_tokens(large, *ESTIMATE).pair() == (2_000_000, 70_000)


def test_zero_output_for_an_answer_with_output_bills_the_estimate() -> None:
    assert _usage_tokens({"prompt_tokens": 0, "completion_tokens": 0}, *ESTIMATE).pair() == ESTIMATE
    # An empty answer (estimate 0) reported as 0 stays 0.
    assert _usage_tokens({"prompt_tokens": 3, "completion_tokens": 0}, 40, 0).pair() == (3, 0)


@pytest.mark.parametrize("bad", ["many", 1e300, -1, {"x": 1}, True])
def test_adapters_pass_malformed_usage_on_instead_of_failing(bad: object) -> None:
    """These raised (500 and an open hold) before: int() of a string, of 1e300, of a dict."""
    anthropic = from_anthropic({"content": [{"type": "text", "text": "hi"}],
                                "usage": {"input_tokens": bad, "output_tokens": 2}}, "m")
    assert _usage_tokens(anthropic["usage"], *ESTIMATE).pair() == (40, 2)
    gemini = from_gemini({"candidates": [{"content": {"parts": [{"text": "hi"}]}, "finishReason": "STOP"}],
                          "usageMetadata": {"promptTokenCount": 4, "candidatesTokenCount": bad}}, "m")
    assert _usage_tokens(gemini["usage"], *ESTIMATE).pair() == (4, 9)
    bedrock = from_converse({"output": {"message": {"content": [{"text": "hi"}]}}, "stopReason": "end_turn",
                             "usage": {"inputTokens": bad, "outputTokens": 3}}, "m")
    assert _usage_tokens(bedrock["usage"], *ESTIMATE).pair() == (40, 3)
    assert _usage_tokens(from_anthropic({"content": [], "usage": bad}, "m")["usage"], *ESTIMATE).pair() == ESTIMATE
