"""Embeddings (service layer): OpenAI's request and response shapes, and Azure AI's image embeddings, for
every provider with an embedding model, billed by input tokens (and images) with chat's hold-then-settle,
retries and fallbacks.

Providers are always asked for float vectors; unigate encodes base64 itself (little-endian float32, as
OpenAI does), so `encoding_format` works the same everywhere, including for the `openai` SDK, which asks
for base64 by default.
"""

from __future__ import annotations

import base64
import math
import struct
from dataclasses import dataclass
from typing import Any

from unigate.domain import contentfilter, model_strings, request_models, tokens
from unigate.domain.errors import BadRequest
from unigate.domain.money import format_credits, micros_to_credits
from unigate.domain.records import Caller
from unigate.gateway import chat, routing
from unigate.providers import adapter_for
from unigate.providers.base import UpstreamCall, UpstreamFailure

KNOWN = frozenset({"model", "input", "encoding_format", "dimensions", "user", "input_type"})
# Token arrays are OpenAI's own input form; other APIs take text only.
TOKEN_ARRAY_FAMILIES = frozenset({"openai", "azure-openai", "echo"})


@dataclass
class EmbeddingRequest(chat.Prepared):
    images: int = 0
    encoding: str = "float"

    def list_price(self, prompt_tokens: int, completion_tokens: int) -> int:
        return self.endpoint.cost_micros(prompt_tokens, 0, self.images)


def _inputs(request: request_models.EmbeddingRequest, images: bool) -> list[Any]:
    """`input` as a list: of strings or token arrays, or of {image, text} objects."""
    if images:
        assert isinstance(request, request_models.ImageEmbeddingRequest)
        return [{"image": item.image, **({"text": item.text} if item.text else {})} for item in request.input]
    value = request.input
    if isinstance(value, str) or (value and isinstance(value[0], int)):
        return [value]
    return list(value)


def _text_of(item: Any) -> str:
    if isinstance(item, dict):
        return str(item.get("text") or "")
    return item if isinstance(item, str) else ""


def prepare(body: Any, caller: Caller, *, images: bool = False, extra_parameters: str | None = None,
            prefix: str = "") -> list[EmbeddingRequest]:
    """Every check that can refuse an embeddings request, before any hold: the endpoints to try, in order.
    `prefix` is where the request sits in the body it came in, for the errors' `param`."""
    extra_mode = chat.extra_parameters_mode(extra_parameters)
    model = request_models.ImageEmbeddingRequest if images else request_models.EmbeddingRequest
    request = request_models.parse(model, body, prefix=prefix)
    body = request.model_dump(exclude_unset=True)
    inputs = _inputs(request, images)
    encoding, dimensions, input_type = request.encoding_format or "float", request.dimensions, request.input_type
    extras = chat.unify_extras(request, body)
    text = "\n".join(_text_of(item) for item in inputs)
    token_arrays = any(isinstance(item, list) for item in inputs)
    attempts = []
    fetched: dict[str, str] = {}
    for candidate in routing.plan(model_strings.parse(request.model), caller, kind="embedding"):
        endpoint, provider = candidate.endpoint, candidate.provider
        if images and not endpoint.image_input:
            raise BadRequest(f"{endpoint.name} does not embed images.", param="model")
        if dimensions is not None and not endpoint.accepts_dimensions(dimensions):
            raise BadRequest(f"{endpoint.name} cannot produce {dimensions} dimensions.", param="dimensions")
        if token_arrays and provider.family not in TOKEN_ARRAY_FAMILIES:
            raise BadRequest(f"{provider.name} takes text, not token arrays.", param="input")
        if not hasattr(adapter_for(provider.family), "embed"):
            raise BadRequest(f"{provider.name} has no embeddings API.", param="model")
        _, dropped, extra = chat.split_parameters(body, KNOWN, KNOWN, provider.name, extra_mode=extra_mode)
        if candidate.deployment is not None:
            contentfilter.check_input(candidate.deployment.content_filter, text)
        forwarded = {"input": inputs, "images": images, "dimensions": dimensions, "input_type": input_type,
                     "user": request.user}
        prepared = EmbeddingRequest(
            endpoint, provider, forwarded, False, 0, dropped, **extras,
            own_key=chat.own_key(candidate, body, caller, fetched), deployment=candidate.deployment, extra=extra,
            images=len(inputs) if images else 0, encoding=encoding,
        )
        # Every token covers at least one byte, so the bytes sent bound the tokens a provider can count (token
        # arrays: one token per element); without a count from the provider, one token per 4 bytes is billed.
        sent = adapter_for(provider.family).embedding_body(  # type: ignore[attr-defined]
            UpstreamCall(endpoint, provider, forwarded, {}, 0.0, extra))
        size = tokens.payload_bytes(sent)
        arrays = sum(len(item) for item in inputs if isinstance(item, list))
        prepared.prompt_estimate = prepared.limit_tokens = arrays + math.ceil(size / 4)
        prepared.worst_case_micros = prepared.cost(arrays + size, 0)
        attempts.append(prepared)
    return chat.admit_key(attempts, caller)


def encode(vector: list[float], encoding: str) -> list[float] | str:
    if encoding == "base64":
        return base64.b64encode(struct.pack(f"<{len(vector)}f", *vector)).decode()
    return vector


async def _attempt_with(attempt: chat.Attempt, call: UpstreamCall) -> chat.Completed:
    prepared = attempt.prepared
    assert isinstance(prepared, EmbeddingRequest)
    async with chat.refund_on_failure(attempt):
        result = await adapter_for(prepared.provider.family).embed(call)  # type: ignore[attr-defined]
        expected = prepared.body["dimensions"]
        if len(result.vectors) != len(prepared.body["input"]) or (
                expected is not None and any(len(v) != expected for v in result.vectors)):
            raise UpstreamFailure(None, "The upstream returned embeddings of the wrong number or size.",
                                  kind="protocol")
    prompt = result.prompt_tokens if result.prompt_tokens is not None else prepared.prompt_estimate
    charged = prepared.cost(prompt, 0)
    response = {
        "object": "list",
        "data": [{"object": "embedding", "index": i, "embedding": encode(v, prepared.encoding)}
                 for i, v in enumerate(result.vectors)],
        "model": prepared.endpoint.name,
        "usage": {"prompt_tokens": prompt, "total_tokens": prompt, "cost": micros_to_credits(charged)},
    }
    await attempt.settle(charged, attempt.measurement("ok", 0), tokens=(prompt, 0), response=response)
    return chat.Completed(response, {**prepared.headers, "x-unigate-cost": format_credits(charged)})


async def embed(plan: list[EmbeddingRequest], caller: Caller, *, remaining_ms: int | None = None) -> chat.Completed:
    result: chat.Completed = await chat.complete(list(plan), caller, remaining_ms=remaining_ms, runner=_attempt_with)
    return result
