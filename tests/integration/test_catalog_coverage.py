"""Every endpoint of the built-in catalog through its adapter family's request translation, against that
family's fake upstream over real HTTP (Bedrock through botocore's Stubber, which checks each request
against the service model): each one resolves to an adapter that can call it, with its own model id."""

from __future__ import annotations

import asyncio
import io
import json
from typing import Any

import pytest
from botocore.response import StreamingBody
from botocore.stub import ANY, Stubber

from unigate.catalog.entries import EndpointSpec, ProviderSpec, get_catalog
from unigate.infra.transport import aclose_clients
from unigate.providers import adapter_for
from unigate.providers.base import UpstreamCall
from unigate.providers.bedrock.adapter import runtime_client
from unigate_tools.emulator import FAKE_CREDENTIALS

# The path under the fake upstream each HTTP family's base URL is pointed at.
BASE = {"openai": "/{provider}/v1", "azure-openai": "", "azure-ai": "/models", "anthropic": "/v1",
        "gemini": "/v1beta", "vertex-anthropic": "/v1/projects/p/locations/us-east5/publishers/anthropic/models"}
MESSAGES = [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "hello world"}]


def _builtin() -> list[EndpointSpec]:
    get_catalog.cache_clear()
    return [e for e in get_catalog().endpoints.values() if e.provider != "echo"]


def _call(endpoint: EndpointSpec, provider: ProviderSpec, url: str) -> UpstreamCall:
    base = f"{url}{BASE[provider.family].format(provider=provider.name)}" if provider.family in BASE else None
    if endpoint.type == "embedding":
        body: dict[str, Any] = {"model": endpoint.upstream, "input": ["hello world"]}
    else:
        body = {"model": endpoint.upstream, "messages": MESSAGES, "max_tokens": 16}
    return UpstreamCall(endpoint, provider, body, {"api_key": "sk-walk", **({"base_url": base} if base else {})}, 10)


def test_every_built_in_endpoint_is_callable_through_its_family(fake_upstream: Any, aws: None,
                                                                monkeypatch: pytest.MonkeyPatch) -> None:
    endpoints = _builtin()
    catalog = get_catalog()
    assert len(endpoints) >= 1500
    http = [e for e in endpoints if catalog.provider(e.provider).family != "bedrock"]
    fake_upstream.received.clear()

    async def one(endpoint: EndpointSpec) -> tuple[EndpointSpec, Any]:
        provider = catalog.provider(endpoint.provider)
        adapter = adapter_for(provider.family)
        call = _call(endpoint, provider, fake_upstream.url)
        if endpoint.type == "embedding":
            return endpoint, await adapter.embed(call)  # type: ignore[attr-defined]
        return endpoint, await adapter.complete(call)

    async def walk() -> list[tuple[EndpointSpec, Any]]:
        results: list[tuple[EndpointSpec, Any]] = []
        try:
            for start in range(0, len(http), 16):
                results += await asyncio.gather(*(one(e) for e in http[start:start + 16]))
        finally:
            await aclose_clients()
        return results

    for endpoint, result in asyncio.run(walk()):
        if endpoint.type == "embedding":
            assert len(result.vectors) == 1, endpoint.name
        else:
            assert result["choices"][0]["message"]["content"] == "fake reply to: hello world", endpoint.name
            assert result["usage"]["prompt_tokens"] > 0, endpoint.name
    # Each request carried the endpoint's own model id, in its family's place.
    seen = {json.dumps(r.body.get("model")) for r in fake_upstream.received} | {r.path for r in fake_upstream.received}
    for endpoint in http:
        family = catalog.provider(endpoint.provider).family
        if family == "openai":
            assert json.dumps(endpoint.upstream) in seen, endpoint.name
        elif family == "azure-openai":
            assert any(f"/deployments/{endpoint.upstream}/" in p for p in seen), endpoint.name
        elif family == "gemini":
            assert any(f"/models/{endpoint.upstream}:" in p for p in seen), endpoint.name
        elif family == "vertex-anthropic":
            assert f"{BASE[family]}/{endpoint.upstream}:rawPredict" in seen, endpoint.name
    families = {catalog.provider(e.provider).family for e in endpoints}
    assert families == {"openai", "anthropic", "vertex-anthropic", "gemini", "bedrock", "azure-openai", "azure-ai"}


def _stream(payload: dict[str, Any]) -> dict[str, Any]:
    raw = json.dumps(payload).encode()
    return {"body": StreamingBody(io.BytesIO(raw), len(raw)), "contentType": "application/json"}


def test_every_bedrock_endpoint_is_a_converse_or_invoke_request(monkeypatch: pytest.MonkeyPatch) -> None:
    for name, value in FAKE_CREDENTIALS.items():
        monkeypatch.setenv(name, value)
    runtime_client.cache_clear()
    catalog = get_catalog()
    bedrock = [e for e in _builtin() if e.provider == "aws-bedrock"]
    assert len(bedrock) >= 100
    client = runtime_client()
    adapter = adapter_for("bedrock")
    with Stubber(client) as stub:
        for endpoint in bedrock:
            call = _call(endpoint, catalog.provider("aws-bedrock"), "")
            if endpoint.type == "embedding":
                payload = ({"embeddings": [[0.1] * 4]} if "cohere." in endpoint.upstream
                           else {"embedding": [0.1] * 4, "inputTextTokenCount": 2})
                stub.add_response("invoke_model", _stream(payload),
                                  {"modelId": endpoint.upstream, "body": ANY, "contentType": "application/json",
                                   "accept": "application/json"})
                assert len(asyncio.run(adapter.embed(call)).vectors) == 1, endpoint.name  # type: ignore[attr-defined]
                continue
            stub.add_response("converse", {
                "output": {"message": {"role": "assistant", "content": [{"text": "ok"}]}},
                "stopReason": "end_turn", "usage": {"inputTokens": 3, "outputTokens": 1, "totalTokens": 4},
                "metrics": {"latencyMs": 1},
            }, {"modelId": endpoint.upstream, "messages": ANY, "system": ANY, "inferenceConfig": ANY})
            result = asyncio.run(adapter.complete(call))
            assert result["choices"][0]["message"]["content"] == "ok", endpoint.name
        stub.assert_no_pending_responses()
    runtime_client.cache_clear()
