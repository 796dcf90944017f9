"""Claude's Messages body in Bedrock's and Vertex AI's envelopes (pure transformations), and which endpoints
the Messages surface passes through: those whose catalog entry says so and whose wire format is Anthropic's."""

from __future__ import annotations

import pytest

from unigate.catalog.entries import get_catalog
from unigate.gateway import messages
from unigate.infra.config import get_settings
from unigate.providers.bedrock.transformation import header_usage, invocation_usage, to_invoke_messages
from unigate.providers.vertex_anthropic.transformation import count_tokens_url, headers, predict_url, to_vertex

BODY = {"model": "global.anthropic.claude-sonnet-4-5-20250929-v1:0", "max_tokens": 10, "stream": True,
        "messages": [{"role": "user", "content": "hi"}], "context_management": {"edits": []}}


def test_bedrock_takes_the_body_without_model_and_stream_with_its_version_and_the_betas_as_a_list() -> None:
    out = to_invoke_messages(BODY, {"anthropic-beta": " a-2025-01-01, b-2025-02-02 ,", "anthropic-version": "x"})
    assert out == {"max_tokens": 10, "messages": BODY["messages"], "context_management": {"edits": []},
                   "anthropic_version": "bedrock-2023-05-31", "anthropic_beta": ["a-2025-01-01", "b-2025-02-02"]}
    assert "anthropic_beta" not in to_invoke_messages(BODY, {})
    assert BODY["stream"] is True  # the client's body is not changed


def test_bedrock_usage_from_its_invocation_metrics_and_headers() -> None:
    stop = {"type": "message_stop", "amazon-bedrock-invocationMetrics": {
        "inputTokenCount": 7, "outputTokenCount": 3, "cacheReadInputTokenCount": 5, "cacheWriteInputTokenCount": 2,
        "invocationLatency": 100}}
    assert invocation_usage(stop) == {"input_tokens": 7, "output_tokens": 3, "cache_read_input_tokens": 5,
                                      "cache_creation_input_tokens": 2}
    assert invocation_usage({"type": "message_stop"}) == {}
    assert header_usage({"x-amzn-bedrock-input-token-count": "9", "x-amzn-bedrock-output-token-count": "x"}) == {
        "input_tokens": 9}


def test_vertex_takes_the_model_in_the_url_its_version_in_the_body_and_a_bearer_token() -> None:
    base = "https://us-east5-aiplatform.googleapis.com/v1/projects/p/locations/us-east5/publishers/anthropic/models"
    assert to_vertex(BODY) == {k: v for k, v in BODY.items() if k != "model"} | {
        "anthropic_version": "vertex-2023-10-16"}
    assert predict_url(base, "claude-sonnet-4-5@20250929", stream=False) == \
        f"{base}/claude-sonnet-4-5@20250929:rawPredict"
    assert predict_url(base, "claude-sonnet-4-5", stream=True) == f"{base}/claude-sonnet-4-5:streamRawPredict"
    assert predict_url(base, "a/../b", stream=False) == f"{base}/a%2F..%2Fb:rawPredict"  # one path segment
    assert count_tokens_url(base) == f"{base}/count-tokens:rawPredict"
    assert headers("ya29.token", {"anthropic-beta": "b1,b2", "anthropic-version": "2023-06-01"}) == {
        "authorization": "Bearer ya29.token", "anthropic-beta": "b1,b2"}


@pytest.mark.parametrize(("endpoint", "native"), [
    ("claude-sonnet-4.5@anthropic", True), ("claude-sonnet-4.5@aws-bedrock", True),
    ("claude-sonnet-4.5@vertex-anthropic", True), ("llama-3.1-70b-chat@aws-bedrock", False),
    ("gemini-2.5-flash@vertex-ai", False), ("claude-sonnet-4.5@vercel-ai-gateway", False), ("echo@echo", False),
])
def test_only_anthropic_format_endpoints_marked_native_are_passed_through(endpoint: str, native: bool) -> None:
    catalog = get_catalog()
    spec = catalog.endpoint(*endpoint.split("@"))
    assert (messages.native_adapter(spec, catalog.provider(spec.provider)) is not None) is native


def test_an_openai_format_endpoint_marked_native_for_messages_is_still_translated() -> None:
    catalog = get_catalog()
    spec = catalog.endpoint("gpt-4o", "openai").model_copy(update={"native": frozenset({"messages"})})
    assert messages.native_adapter(spec, catalog.provider("openai")) is None


@pytest.mark.parametrize("provider", ["aws-bedrock", "vertex-anthropic"])
def test_anthropic_model_ids_resolve_to_the_operators_claude_provider(provider: str,
                                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("UNIGATE_MESSAGES_CLAUDE_PROVIDER", provider)
    get_settings.cache_clear()
    try:
        assert messages.resolve_model("claude-sonnet-4-5-20250929") == f"claude-sonnet-4.5@{provider}"
        assert messages.resolve_model("claude-haiku-4-5") == f"claude-haiku-4.5@{provider}"
    finally:
        monkeypatch.delenv("UNIGATE_MESSAGES_CLAUDE_PROVIDER")
        get_settings.cache_clear()
