"""Embeddings through every adapter against its fake upstream (real HTTP; Bedrock through Stubber), with
the money checked after each: billed by input tokens, holds released, nothing held for refusals."""

from __future__ import annotations

import asyncio
import base64
import io
import json
import math
import struct
from typing import Any

import pytest
from botocore.response import StreamingBody
from botocore.stub import ANY, Stubber

from tests.integration.chat_helpers import assert_money_consistent
from unigate.accounts import accounts, billing
from unigate.catalog.entries import get_catalog
from unigate.domain import tokens
from unigate.domain.errors import ArgumentsMismatch, BadRequest, UnigateError, UpstreamError
from unigate.domain.records import Caller
from unigate.gateway import embeddings
from unigate.infra.transport import aclose_clients
from unigate.providers.bedrock.adapter import runtime_client

ACCOUNT = "acct_embed"
START = 5_000_000


@pytest.fixture
def funded(providers: Any) -> Any:
    accounts.create_account(account_id=ACCOUNT)
    billing.grant(ACCOUNT, START, idempotency_key="start")
    return providers


def run(body: dict[str, Any], *, images: bool = False, extra: str | None = None) -> tuple[dict[str, str], Any]:
    caller = Caller(ACCOUNT, "key_embed")

    async def go() -> tuple[dict[str, str], Any]:
        try:
            plan = embeddings.prepare(body, caller, images=images, extra_parameters=extra)
            result = await embeddings.embed(plan, caller)
            return result.headers, result.body
        finally:
            await aclose_clients()

    return asyncio.run(go())


def charged(body: dict[str, Any]) -> int:
    return round(body["usage"]["cost"] * 1_000_000)


def test_openai_embeddings_in_input_order_billed_by_upstream_usage(funded: Any) -> None:
    headers, body = run({"model": "text-embedding-3-small@openai", "input": ["a", "bbb", "cc"], "dimensions": 4})
    sent = funded.last("/embeddings")
    assert sent.path == "/v1/embeddings"
    assert sent.headers["authorization"] == "Bearer sk-canary-openai-0123456789"
    assert sent.body == {"model": "text-embedding-3-small", "input": ["a", "bbb", "cc"], "encoding_format": "float",
                         "dimensions": 4}
    # The fake answers in reverse order; the response is back in input order.
    assert [d["embedding"][0] for d in body["data"]] == [1.0, 3.0, 2.0]
    assert [d["index"] for d in body["data"]] == [0, 1, 2]
    assert all(len(d["embedding"]) == 4 for d in body["data"])
    assert body["model"] == "text-embedding-3-small@openai"
    assert body["usage"]["prompt_tokens"] == 9  # the upstream's count
    assert charged(body) == math.ceil(0.02 * 9)
    assert headers["x-unigate-endpoint"] == "text-embedding-3-small@openai"
    assert assert_money_consistent(ACCOUNT) == START - charged(body)


def test_base64_is_little_endian_float32_of_the_same_vector(funded: Any) -> None:
    _, plain = run({"model": "embed-test@alpha", "input": "hello"})
    _, encoded = run({"model": "embed-test@alpha", "input": "hello", "encoding_format": "base64"})
    raw = base64.b64decode(encoded["data"][0]["embedding"])
    assert list(struct.unpack(f"<{len(raw) // 4}f", raw)) == plain["data"][0]["embedding"]
    assert funded.last("/embeddings").body["encoding_format"] == "float"


def test_token_array_inputs_reach_openai_compatible_providers(funded: Any) -> None:
    _, body = run({"model": "embed-test@alpha", "input": [[1, 2, 3], [4, 5]]})
    assert funded.last("/embeddings").body["input"] == [[1, 2, 3], [4, 5]]
    assert len(body["data"]) == 2


def test_azure_ai_text_and_image_embeddings(funded: Any) -> None:
    _, body = run({"model": "cohere-embed-v3-english@azure-ai", "input": ["query text"], "input_type": "query"})
    sent = funded.last("/embeddings")
    assert (sent.path, sent.query) == ("/models/embeddings", "api-version=2024-05-01-preview")
    assert sent.headers["api-key"] == "azai-canary-0123456789"
    assert sent.body["input_type"] == "query"
    assert sent.body["model"] == "Cohere-embed-v3-english"
    image = "data:image/png;base64," + base64.b64encode(b"\x89PNG fake").decode()
    _, images = run({"model": "cohere-embed-v3-english@azure-ai", "input": [{"image": image, "text": "a cat"}]},
                    images=True)
    sent = funded.last("/embeddings")
    assert sent.path == "/models/images/embeddings"
    assert sent.body["input"] == [{"image": image, "text": "a cat"}]
    # Billed for the image on top of the tokens.
    assert charged(images) == math.ceil(0.10 * images["usage"]["prompt_tokens"] + 0.0001 * 1_000_000)
    assert assert_money_consistent(ACCOUNT) == START - charged(body) - charged(images)


def test_gemini_batch_embed_contents_estimates_tokens(funded: Any) -> None:
    _, body = run({"model": "gemini-embedding@gemini", "input": ["one two three four", "five"], "dimensions": 3,
                   "input_type": "document"})
    sent = funded.last("batchEmbedContents")
    assert sent.path == "/v1beta/models/gemini-embedding-001:batchEmbedContents"
    assert sent.headers["x-goog-api-key"] == "gm-canary-0123456789"
    assert sent.body["requests"][0] == {"model": "models/gemini-embedding-001",
                                        "content": {"parts": [{"text": "one two three four"}]},
                                        "outputDimensionality": 3, "taskType": "RETRIEVAL_DOCUMENT"}
    assert [len(d["embedding"]) for d in body["data"]] == [3, 3]
    # Gemini reports no usage: billed on the estimate (one token per 4 bytes of what was sent), never zero.
    assert body["usage"]["prompt_tokens"] == math.ceil(tokens.payload_bytes(sent.body) / 4)
    assert charged(body) > 0


def test_echo_embeddings_are_deterministic_and_similar_for_shared_words(funded: Any) -> None:
    _, body = run({"model": "echo-embed@echo", "input": ["the cat sat on the mat", "the cat sat on the mat",
                                                          "a cat on a mat", "quantum chromodynamics"]})
    a, b, c, d = (x["embedding"] for x in body["data"])
    assert a == b
    assert len(a) == 256
    cosine = lambda x, y: sum(p * q for p, q in zip(x, y, strict=True))  # noqa: E731 - unit vectors
    assert cosine(a, c) > cosine(a, d)
    assert assert_money_consistent(ACCOUNT) == START - charged(body)


def _stream(payload: dict[str, Any]) -> dict[str, Any]:
    raw = json.dumps(payload).encode()
    return {"body": StreamingBody(io.BytesIO(raw), len(raw)), "contentType": "application/json"}


def test_bedrock_titan_cohere_and_titan_image(funded: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    runtime_client.cache_clear()
    client = runtime_client()
    stub = Stubber(client)
    stub.add_response("invoke_model", _stream({"embedding": [0.1] * 256, "inputTextTokenCount": 4}),
                      {"modelId": "amazon.titan-embed-text-v2:0", "body": ANY, "contentType": "application/json",
                       "accept": "application/json"})
    stub.add_response("invoke_model", _stream({"embeddings": [[0.2] * 1024, [0.3] * 1024], "id": "x",
                                               "response_type": "embeddings_floats", "texts": ["a", "b"]}),
                      {"modelId": "cohere.embed-english-v3", "body": ANY, "contentType": "application/json",
                       "accept": "application/json"})
    stub.add_response("invoke_model", _stream({"embedding": [0.4] * 384, "inputTextTokenCount": 2}),
                      {"modelId": "amazon.titan-embed-image-v1", "body": ANY, "contentType": "application/json",
                       "accept": "application/json"})
    sent: list[dict[str, Any]] = []
    client.meta.events.register("before-parameter-build.bedrock-runtime.InvokeModel",
                                lambda params, **_: sent.append(json.loads(params["body"])))
    with stub:
        _, titan = run({"model": "titan-embed-text-v2@aws-bedrock", "input": "hello there", "dimensions": 256})
        _, cohere = run({"model": "cohere-embed-english-v3@aws-bedrock", "input": ["a", "b"], "input_type": "query"})
        image = "data:image/png;base64," + base64.b64encode(b"img").decode()
        _, multimodal = run({"model": "titan-embed-image-v1@aws-bedrock", "dimensions": 384,
                             "input": [{"image": image, "text": "red"}]}, images=True)
    stub.assert_no_pending_responses()
    assert sent == [
        {"inputText": "hello there", "dimensions": 256, "normalize": True},
        {"texts": ["a", "b"], "input_type": "search_query"},
        {"inputImage": base64.b64encode(b"img").decode(), "inputText": "red",
         "embeddingConfig": {"outputEmbeddingLength": 384}},
    ]
    assert titan["usage"]["prompt_tokens"] == 4
    assert len(titan["data"][0]["embedding"]) == 256
    assert [d["embedding"][0] for d in cohere["data"]] == [0.2, 0.3]
    assert charged(multimodal) == math.ceil(0.80 * 2 + 0.00006 * 1_000_000)
    assert assert_money_consistent(ACCOUNT) == START - charged(titan) - charged(cohere) - charged(multimodal)
    runtime_client.cache_clear()


@pytest.mark.parametrize(("body", "images", "error", "message"), [
    ({"model": "echo@echo", "input": "x"}, False, ArgumentsMismatch, "echo@echo is not an embedding model."),
    ({"model": "embed-test@beta", "input": "x", "dimensions": 4}, False, BadRequest,
     "embed-test@beta cannot produce 4 dimensions."),
    ({"model": "gemini-embedding@gemini", "input": [[1, 2]]}, False, BadRequest,
     "gemini takes text, not token arrays."),
    ({"model": "embed-test@alpha", "input": [{"image": "data:image/png;base64,AAAA"}]}, True, BadRequest,
     "embed-test@alpha does not embed images."),
    ({"model": "echo-embed@echo", "input": [{"image": "https://example.com/cat.png"}]}, True, BadRequest,
     "Invalid 'input[0].image': the image must be a base64 data URL (data:image/png;base64,...)."),
    ({"model": "echo-embed@echo", "input": ["ok", ""]}, False, BadRequest,
     "Invalid 'input[1]': String should have at least 1 character."),
    ({"model": "echo-embed@echo", "input": "x", "encoding_format": "int8"}, False, BadRequest,
     "Invalid 'encoding_format': Input should be 'float' or 'base64'."),
    ({"model": "echo-embed@echo", "input": ["x"] * 2049}, False, BadRequest,
     "Invalid 'input': List should have at most 2048 items after validation, not 2049."),
])
def test_refusals_hold_nothing_and_call_nothing(funded: Any, body: dict[str, Any], images: bool,
                                                error: type[UnigateError], message: str) -> None:
    with pytest.raises(error) as raised:
        run(body, images=images)
    assert raised.value.message == message
    assert funded.received == []
    assert assert_money_consistent(ACCOUNT) == START


@pytest.mark.parametrize(("scenario", "status"), [("scenario:error:500", 502), ("scenario:short", 502),
                                                  ("scenario:error:400", 400)])
def test_upstream_failures_refund_the_whole_hold(funded: Any, scenario: str, status: int) -> None:
    with pytest.raises(UnigateError) as raised:
        run({"model": "embed-test@alpha", "input": [scenario, "second"]})
    assert raised.value.status == status
    assert isinstance(raised.value, UpstreamError) == (status == 502)
    assert assert_money_consistent(ACCOUNT) == START


def test_missing_usage_is_estimated(funded: Any) -> None:
    _, body = run({"model": "embed-test@alpha", "input": ["scenario:nousage"]})
    # One token per 4 bytes of the body sent (issue #29: everything sent can be billed).
    prompt = math.ceil(tokens.payload_bytes(funded.last("embeddings").body) / 4)
    assert body["usage"]["prompt_tokens"] == prompt
    assert charged(body) == get_catalog().endpoints["embed-test@alpha"].cost_micros(prompt, 0)


def test_fallback_to_the_next_provider_on_5xx(funded: Any) -> None:
    funded.failures["alpha"] = [(503, None)]
    headers, body = run({"model": "embed-test@alpha->beta", "input": "x"})
    assert headers["x-unigate-endpoint"] == "embed-test@beta"
    assert body["model"] == "embed-test@beta"
    assert (funded.count("/alpha/v1/embeddings"), funded.count("/beta/v1/embeddings")) == (1, 1)
    assert assert_money_consistent(ACCOUNT) == START - charged(body)


@pytest.mark.parametrize(("mode", "outcome"), [("pass-through", "sent"), ("drop", "dropped"), (None, "dropped"),
                                               ("error", "refused")])
def test_extra_parameters_header(funded: Any, mode: str | None, outcome: str) -> None:
    body = {"model": "embed-test@alpha", "input": "x", "truncate": "END"}
    if outcome == "refused":
        with pytest.raises(ArgumentsMismatch, match="Extra parameter 'truncate'"):
            run(body, extra=mode)
        assert funded.received == []
        return
    headers, _ = run(body, extra=mode)
    sent = funded.last("/embeddings").body
    assert ("truncate" in sent) == (outcome == "sent")
    assert ("x-unigate-dropped-params" in headers) == (outcome == "dropped")


def test_catalog_embedding_entries_have_adapters_that_embed() -> None:
    from unigate.providers import adapter_for

    catalog = get_catalog()
    embedding = [e for e in catalog.endpoints.values() if e.type == "embedding"]
    assert {e.provider for e in embedding} >= {"openai", "aws-bedrock", "gemini", "azure-ai", "echo"}
    for endpoint in embedding:
        assert hasattr(adapter_for(catalog.provider(endpoint.provider).family), "embed"), endpoint.name
        assert endpoint.dimensions, endpoint.name
