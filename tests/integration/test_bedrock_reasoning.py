"""Claude on Bedrock thinks from reasoning_effort: Converse through botocore's Stubber (which checks the
request and response against the real service model), ConverseStream through the fake runtime."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from botocore.stub import Stubber

from tests.integration.test_bedrock import bedrock_env, fake_runtime  # noqa: F401 - fixtures
from unigate.catalog.entries import get_catalog
from unigate.providers.base import UpstreamCall
from unigate.providers.bedrock.adapter import Bedrock, runtime_client

CLAUDE = "claude-sonnet-4.5@aws-bedrock"


def _call(body: dict[str, Any]) -> UpstreamCall:
    catalog = get_catalog()
    endpoint = catalog.endpoint(*CLAUDE.split("@"))
    return UpstreamCall(endpoint, catalog.provider("aws-bedrock"), {"model": endpoint.upstream, **body}, {}, 10)


def test_converse_sends_thinking_and_relays_reasoning_content(bedrock_env: None) -> None:  # noqa: F811
    call = _call({"messages": [{"role": "user", "content": "Why?"}], "max_tokens": 3000, "reasoning_effort": "high",
                  "temperature": 0.5})
    with Stubber(runtime_client()) as stub:
        stub.add_response("converse", {
            "output": {"message": {"role": "assistant", "content": [
                {"reasoningContent": {"reasoningText": {"text": "Considering.", "signature": "c2ln"}}},
                {"text": "Because."}]}},
            "stopReason": "end_turn",
            "usage": {"inputTokens": 10, "outputTokens": 40, "totalTokens": 50},
            "metrics": {"latencyMs": 90},
        }, {"modelId": call.endpoint.upstream, "messages": [{"role": "user", "content": [{"text": "Why?"}]}],
            "inferenceConfig": {"maxTokens": 3000},
            "additionalModelRequestFields": {"thinking": {"type": "enabled", "budget_tokens": 2999}}})
        result = asyncio.run(Bedrock().complete(call))
        stub.assert_no_pending_responses()
    message = result["choices"][0]["message"]
    assert (message["content"], message["reasoning_content"]) == ("Because.", "Considering.")


def test_converse_stream_relays_reasoning_deltas(bedrock_env: None, fake_runtime: Any,  # noqa: F811
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    url, received = fake_runtime
    monkeypatch.setenv("AWS_ENDPOINT_URL_BEDROCK_RUNTIME", url)
    runtime_client.cache_clear()
    call = _call({"messages": [{"role": "user", "content": "hello"}], "max_tokens": 4000, "reasoning_effort": "low"})

    async def go() -> list[dict[str, Any]]:
        return [c async for c in Bedrock().stream(call)]

    chunks = asyncio.run(go())
    deltas = [c["choices"][0]["delta"] for c in chunks if c["choices"]]
    assert "".join(d.get("reasoning_content") or "" for d in deltas) == "thinking it over"
    assert "".join(d.get("content") or "" for d in deltas) == "fake reply to: hello"
    assert received[-1]["body"]["additionalModelRequestFields"] == {
        "thinking": {"type": "enabled", "budget_tokens": 1024}}
