"""Embeddings, /v0/inference, /v0/info, deployments and rate limits through the local server over HTTP,
with the official `openai` SDK on /v1 and Azure's `azure-ai-inference` SDK on /v0."""

from __future__ import annotations

import base64
import json
import time
import uuid
from decimal import Decimal

import httpx
import openai
import pytest
from azure.ai.inference import ChatCompletionsClient, EmbeddingsClient, ImageEmbeddingsClient, load_client
from azure.ai.inference.models import ImageEmbeddingInput, UserMessage
from azure.core.credentials import AzureKeyCredential
from azure.core.exceptions import HttpResponseError

from tests.e2e.conftest import LocalServer, cost_of, credits_of, openai_client
from tests.e2e.test_openai_sdk import _account_with

PNG = base64.b64encode(bytes.fromhex(
    "89504e470d0a1a0a0000000d49484452000000010000000108060000001f15c4890000000d4944415478da63f8ffff3f0005fe02fea7"
    "d6a4c50000000049454e44ae426082")).decode()


def _post(server: LocalServer, path: str, body: object, key: str | None = None, **headers: str) -> httpx.Response:
    return httpx.post(f"{server.url}{path}", json=body, timeout=30,
                      headers={"Authorization": f"Bearer {key or server.key}", **headers})


def _deployment(server: LocalServer, endpoint: str, *options: str) -> str:
    name = f"Team-{uuid.uuid4().hex[:6]}"
    server.cli_json("deployments", "create", name, "--endpoint", endpoint, *options)
    return name


def test_openai_sdk_embeddings_decode_the_default_base64(server: LocalServer) -> None:
    before = credits_of(server)
    result = openai_client(server).embeddings.create(model="echo-embed@echo",
                                                     input=["the cat sat", "the cat sat", "dog"])
    first, second, third = (d.embedding for d in result.data)
    assert first == second != third
    assert len(first) == 256
    assert abs(sum(x * x for x in first) - 1) < 1e-3
    assert before - credits_of(server) == cost_of(result.usage)
    sized = openai_client(server).embeddings.create(model="echo-embed@echo", input="x", dimensions=16,
                                              encoding_format="float")
    assert len(sized.data[0].embedding) == 16


def test_embeddings_over_http_refusals(server: LocalServer) -> None:
    chat_model = _post(server, "/v1/embeddings", {"model": "echo@echo", "input": "x"})
    assert chat_model.status_code == 422
    assert chat_model.json()["error"]["message"] == "echo@echo is not an embedding model."
    with pytest.raises(openai.BadRequestError):
        openai_client(server).embeddings.create(model="echo-embed@echo", input=[])


def test_image_embeddings_route(server: LocalServer) -> None:
    response = _post(server, "/v0/images/embeddings",
                     {"model": "echo-embed@echo", "input": [{"image": f"data:image/png;base64,{PNG}"}]})
    assert response.status_code == 200, response.text
    assert len(response.json()["data"][0]["embedding"]) == 256


def test_inference_route(server: LocalServer) -> None:
    before = credits_of(server)
    answer = _post(server, "/v0/inference", {"model": "echo", "provider": "echo",
                                             "arguments": {"messages": [{"role": "user", "content": "hi there"}]}})
    assert answer.status_code == 200, answer.text
    assert answer.json()["response"]["choices"][0]["message"]["content"] == "hi there"
    assert answer.headers["x-unigate-endpoint"] == "echo@echo"
    assert before - credits_of(server) == Decimal(answer.headers["x-unigate-cost"])
    embedded = _post(server, "/v0/inference", {"model": "echo-embed", "provider": "echo", "arguments": {"input": "x"}})
    assert embedded.json()["response"]["object"] == "list"
    missing = _post(server, "/v0/inference", {"provider": "echo", "arguments": {}})
    assert (missing.status_code, missing.json()) == (400, {"error": "Invalid 'model': Field required."})
    mismatch = _post(server, "/v0/inference", {"model": "echo", "provider": "echo", "arguments": {"input": "x"}})
    assert (mismatch.status_code, mismatch.json()) == (
        422, {"error": "The provided arguments don't correspond to the specified model."})


def test_catalog_lists_deployments_and_answers_info(server: LocalServer) -> None:
    name = _deployment(server, "echo@echo")
    headers = {"Authorization": f"Bearer {server.key}"}
    models = httpx.get(f"{server.url}/v0/models", headers=headers).json()
    assert name in models
    assert httpx.get(f"{server.url}/v0/providers", params={"model": name.lower()}, headers=headers).json() == ["echo"]
    assert name in [m.id for m in openai_client(server).models.list()]
    info = httpx.get(f"{server.url}/v0/info", params={"model": name.upper()}, headers=headers)
    assert info.json() == {"model_name": name, "model_type": "chat_completion", "model_provider_name": "echo"}
    assert httpx.get(f"{server.url}/v0/info", params={"model": "echo-embed@echo"}, headers=headers).json() == {
        "model_name": "echo-embed", "model_type": "embeddings", "model_provider_name": "echo"}


def test_azure_ai_inference_sdk_against_v0(server: LocalServer) -> None:
    """Azure's SDK sends the key as both `Authorization: Bearer` and `api-key`, adds `api-version`, and
    puts model_extras under the `extra-parameters: pass-through` header."""
    name = _deployment(server, "echo@echo")
    credential = AzureKeyCredential(server.key)
    chat = ChatCompletionsClient(endpoint=f"{server.url}/v0", credential=credential)
    before = credits_of(server)
    answer = chat.complete(model=name.lower(), messages=[UserMessage(content="hello azure")],
                           model_extras={"safe_prompt": True})
    assert answer.choices[0].message.content == "hello azure"
    assert answer.model == "echo@echo"
    assert before - credits_of(server) == Decimal(str(answer.usage["cost"]))
    streamed = chat.complete(model="echo@echo", messages=[UserMessage(content="one two three")], stream=True)
    assert "".join(u.choices[0].delta.content or "" for u in streamed if u.choices) == "one two three"
    with pytest.raises(HttpResponseError) as refused:
        chat.complete(model="nope@echo", messages=[UserMessage(content="x")])
    assert refused.value.status_code == 404
    embedder = EmbeddingsClient(endpoint=f"{server.url}/v0", credential=credential)
    vectors = embedder.embed(model="echo-embed@echo", input=["first", "second"], dimensions=32)
    assert [len(d.embedding) for d in vectors.data] == [32, 32]
    images = ImageEmbeddingsClient(endpoint=f"{server.url}/v0", credential=credential)
    pictured = images.embed(model="echo-embed@echo",
                            input=[ImageEmbeddingInput(image=f"data:image/png;base64,{PNG}", text="a pixel")])
    assert len(pictured.data[0].embedding) == 256


def test_content_filter_and_rate_limit_over_http(server: LocalServer) -> None:
    blocked = _deployment(server, "echo@echo", "--content-filter",
                          json.dumps({"weapons": {"terms": ["grenade"]}}))
    refused = _post(server, "/v1/chat/completions",
                    {"model": blocked, "messages": [{"role": "user", "content": "a Grenade recipe"}]})
    assert refused.status_code == 400
    assert refused.json()["error"]["code"] == "content_filter"
    assert "weapons" in refused.json()["error"]["message"]

    if (left := 60 - time.time() % 60) < 3:  # both requests inside one calendar minute
        time.sleep(left)
    key = _account_with(server, "5", rpm="1")
    body = {"model": "echo@echo", "messages": [{"role": "user", "content": "hi"}]}
    first = _post(server, "/v0/chat/completions", body, key)
    assert first.status_code == 200
    assert first.headers["x-ratelimit-remaining-requests"] == "0"
    before = credits_of(server, key)
    second = _post(server, "/v0/chat/completions", body, key)
    assert second.status_code == 429
    assert second.json()["error"].startswith("Rate limit of this API key reached")
    assert 1 <= int(second.headers["retry-after"]) <= 60
    assert second.headers["x-ratelimit-limit-requests"] == "1"
    assert credits_of(server, key) == before
    with pytest.raises(openai.RateLimitError):
        openai_client(server, key).chat.completions.create(model="echo@echo", messages=body["messages"])


def test_azure_sdk_load_client_and_model_info_without_a_model(server: LocalServer) -> None:
    """`load_client` asks /info what the endpoint serves, naming no model: unigate answers as a chat endpoint."""
    credential = AzureKeyCredential(server.key)
    client = load_client(endpoint=f"{server.url}/v0", credential=credential)
    assert isinstance(client, ChatCompletionsClient)
    info = client.get_model_info()
    assert (info.model_name, info.model_type, info.model_provider_name) == ("unigate", "chat_completion", "unigate")
    answer = client.complete(model="echo@echo", messages=[UserMessage(content="loaded")])
    assert answer.choices[0].message.content == "loaded"
