"""The Bedrock adapter: Converse through botocore's Stubber (which checks request shapes against the real
service model), ConverseStream through a fake runtime speaking AWS's event-stream encoding over HTTP."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from typing import Any

import pytest
from botocore.stub import Stubber

from tests.fakes import bedrock as fake_bedrock
from unigate.catalog.entries import get_catalog
from unigate.providers.base import UpstreamCall, UpstreamFailure
from unigate.providers.bedrock.adapter import Bedrock, runtime_client
from unigate_tools.emulator import FAKE_CREDENTIALS

MODEL_ID = "meta.llama3-1-70b-instruct-v1:0"


@pytest.fixture
def bedrock_env(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    for name, value in FAKE_CREDENTIALS.items():
        monkeypatch.setenv(name, value)
    runtime_client.cache_clear()
    yield
    runtime_client.cache_clear()


@pytest.fixture(scope="module")
def fake_runtime() -> Iterator[tuple[str, list[dict[str, Any]]]]:
    received: list[dict[str, Any]] = []
    url, server = fake_bedrock.start(received)
    yield url, received
    server.should_exit = True


def _call(body: dict[str, Any]) -> UpstreamCall:
    catalog = get_catalog()
    endpoint = catalog.endpoint("llama-3.1-70b-chat", "aws-bedrock")
    return UpstreamCall(endpoint, catalog.provider("aws-bedrock"), {"model": MODEL_ID, **body}, {}, 10)


BODY = {
    "messages": [
        {"role": "system", "content": "Be brief."},
        {"role": "user", "content": "What is the weather?"},
        {"role": "assistant", "content": None, "tool_calls": [
            {"id": "tu_0", "type": "function", "function": {"name": "get_weather", "arguments": '{"city": "Oslo"}'}}]},
        {"role": "tool", "tool_call_id": "tu_0", "content": "rain"},
    ],
    "max_tokens": 100,
    "temperature": 0.3,
    "stop": ["END"],
    "tools": [{"type": "function", "function": {"name": "get_weather", "description": "Weather",
                                                "parameters": {"type": "object"}}}],
}
EXPECTED_REQUEST = {
    "modelId": MODEL_ID,
    "system": [{"text": "Be brief."}],
    "messages": [
        {"role": "user", "content": [{"text": "What is the weather?"}]},
        {"role": "assistant", "content": [{"toolUse": {"toolUseId": "tu_0", "name": "get_weather",
                                                       "input": {"city": "Oslo"}}}]},
        {"role": "user", "content": [{"toolResult": {"toolUseId": "tu_0", "content": [{"text": "rain"}]}}]},
    ],
    "inferenceConfig": {"maxTokens": 100, "temperature": 0.3, "stopSequences": ["END"]},
    "toolConfig": {"tools": [{"toolSpec": {"name": "get_weather", "description": "Weather",
                                           "inputSchema": {"json": {"type": "object"}}}}]},
}


def test_converse_request_and_response(bedrock_env: None) -> None:
    with Stubber(runtime_client()) as stub:
        stub.add_response("converse", {
            "output": {"message": {"role": "assistant", "content": [{"text": "It rains in Oslo."}]}},
            "stopReason": "end_turn",
            "usage": {"inputTokens": 30, "outputTokens": 6, "totalTokens": 36},
            "metrics": {"latencyMs": 120},
        }, EXPECTED_REQUEST)
        result = asyncio.run(Bedrock().complete(_call(BODY)))
        stub.assert_no_pending_responses()
    assert result["choices"][0]["message"] == {"role": "assistant", "content": "It rains in Oslo."}
    assert result["choices"][0]["finish_reason"] == "stop"
    assert result["usage"] == {"prompt_tokens": 30, "completion_tokens": 6, "total_tokens": 36}


def test_converse_tool_use(bedrock_env: None) -> None:
    with Stubber(runtime_client()) as stub:
        stub.add_response("converse", {
            "output": {"message": {"role": "assistant", "content": [
                {"toolUse": {"toolUseId": "tu_1", "name": "get_weather", "input": {"city": "Paris"}}}]}},
            "stopReason": "tool_use",
            "usage": {"inputTokens": 30, "outputTokens": 9, "totalTokens": 39},
            "metrics": {"latencyMs": 100},
        })
        result = asyncio.run(Bedrock().complete(_call(BODY)))
    choice = result["choices"][0]
    assert choice["finish_reason"] == "tool_calls"
    assert choice["message"]["tool_calls"][0]["function"] == {"name": "get_weather", "arguments": '{"city": "Paris"}'}


@pytest.mark.parametrize(
    ("code", "status"),
    [("ThrottlingException", 429), ("ValidationException", 400), ("AccessDeniedException", 403),
     ("ModelTimeoutException", 408), ("ServiceUnavailableException", 503), ("InternalServerException", 500)],
)
def test_converse_errors(bedrock_env: None, code: str, status: int) -> None:
    with Stubber(runtime_client()) as stub:
        stub.add_client_error("converse", service_error_code=code, service_message="nope", http_status_code=status)
        with pytest.raises(UpstreamFailure) as raised:
            asyncio.run(Bedrock().complete(_call(BODY)))
    assert raised.value.status == status


def _stream(url: str, text: str, monkeypatch: pytest.MonkeyPatch) -> list[dict[str, Any]]:
    monkeypatch.setenv("AWS_ENDPOINT_URL_BEDROCK_RUNTIME", url)
    runtime_client.cache_clear()

    async def go() -> list[dict[str, Any]]:
        return [c async for c in Bedrock().stream(_call({"messages": [{"role": "user", "content": text}]}))]

    return asyncio.run(go())


def test_converse_stream(bedrock_env: None, fake_runtime: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    url, received = fake_runtime
    chunks = _stream(url, "hello", monkeypatch)
    text = "".join(c["choices"][0]["delta"].get("content") or "" for c in chunks if c["choices"])
    assert text == "fake reply to: hello"
    assert [c["choices"][0]["finish_reason"] for c in chunks if c["choices"]][-1] == "stop"
    assert chunks[-1]["usage"] == {"prompt_tokens": 11, "completion_tokens": 4, "total_tokens": 15}
    assert received[-1]["path"] == f"/model/{MODEL_ID}/converse-stream"
    limit = get_catalog().endpoint("llama-3.1-70b-chat", "aws-bedrock").max_output
    assert received[-1]["body"]["inferenceConfig"] == {"maxTokens": limit}


def test_converse_stream_tool_use(bedrock_env: None, fake_runtime: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    chunks = _stream(fake_runtime[0], "scenario:tool", monkeypatch)
    calls = [c["choices"][0]["delta"]["tool_calls"][0] for c in chunks if c["choices"] and
             c["choices"][0]["delta"].get("tool_calls")]
    assert calls[0]["function"]["name"] == "get_weather"
    assert "".join(c["function"]["arguments"] for c in calls) == '{"city":"Paris"}'


@pytest.mark.parametrize(("scenario", "status"), [("scenario:throttle", 429), ("scenario:truncate", None)])
def test_converse_stream_failures(bedrock_env: None, fake_runtime: Any, monkeypatch: pytest.MonkeyPatch,
                                  scenario: str, status: int | None) -> None:
    with pytest.raises(UpstreamFailure) as raised:
        _stream(fake_runtime[0], scenario, monkeypatch)
    assert raised.value.status == status
