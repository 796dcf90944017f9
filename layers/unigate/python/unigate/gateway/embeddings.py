"""Embeddings (service layer): OpenAI's request and response shapes, and Azure AI's image embeddings, for
every provider with an embedding model, billed by input tokens (and images) with chat's hold-then-settle,
retries and fallbacks.

Providers are always asked for float vectors; unigate encodes base64 itself (little-endian float32, as
OpenAI does), so `encoding_format` works the same everywhere, including for the `openai` SDK, which asks
for base64 by default.
"""

from __future__ import annotations

import base64
import binascii
import re
import struct
from dataclasses import dataclass
from typing import Any

from unigate.domain import contentfilter, model_strings, tokens
from unigate.domain.errors import BadRequest
from unigate.domain.money import format_credits, micros_to_credits
from unigate.domain.records import Caller
from unigate.gateway import chat, routing
from unigate.providers import adapter_for
from unigate.providers.base import UpstreamCall, UpstreamFailure

MAX_INPUTS = 2048
ENCODINGS = ("float", "base64")
INPUT_TYPES = ("text", "query", "document")
KNOWN = frozenset({"model", "input", "encoding_format", "dimensions", "user", "input_type"})
# Token arrays are OpenAI's own input form; other APIs take text only.
TOKEN_ARRAY_FAMILIES = frozenset({"openai", "azure-openai", "echo"})
_DATA_URL = re.compile(r"data:image/(png|jpeg|jpg|gif|webp);base64,", re.IGNORECASE)


@dataclass
class EmbeddingRequest(chat.Prepared):
    images: int = 0
    encoding: str = "float"

    def list_price(self, prompt_tokens: int, completion_tokens: int) -> int:
        return self.endpoint.cost_micros(prompt_tokens, 0, self.images)


def _is_tokens(value: Any) -> bool:
    return isinstance(value, list) and bool(value) and all(
        isinstance(t, int) and not isinstance(t, bool) and t >= 0 for t in value)


def _texts(value: Any) -> list[Any]:
    """`input` as a list of non-empty strings or of token arrays."""
    if isinstance(value, str) or _is_tokens(value):
        value = [value]
    if not isinstance(value, list) or not value:
        raise BadRequest("'input' must be a non-empty string, a list of strings, or token arrays.", param="input")
    if len(value) > MAX_INPUTS:
        raise BadRequest(f"At most {MAX_INPUTS} inputs are accepted per request.", param="input")
    for index, item in enumerate(value):
        if not (isinstance(item, str) and item) and not _is_tokens(item):
            raise BadRequest(f"input[{index}] must be a non-empty string or a token array.", param=f"input.{index}")
    return value


def _images(value: Any) -> list[dict[str, str]]:
    """`input` of an image embeddings request: [{"image": "data:image/png;base64,...", "text": "..."}]."""
    if not isinstance(value, list) or not value:
        raise BadRequest("'input' must be a non-empty list of {image, text} objects.", param="input")
    if len(value) > MAX_INPUTS:
        raise BadRequest(f"At most {MAX_INPUTS} inputs are accepted per request.", param="input")
    out = []
    for index, item in enumerate(value):
        image = item.get("image") if isinstance(item, dict) else None
        if not isinstance(image, str) or not _DATA_URL.match(image):
            raise BadRequest(f"input[{index}].image must be a base64 data URL (data:image/png;base64,...).",
                             param=f"input.{index}.image")
        try:
            base64.b64decode(image.partition(";base64,")[2], validate=True)
        except (binascii.Error, ValueError):
            raise BadRequest(f"input[{index}].image is not valid base64.", param=f"input.{index}.image") from None
        text = item.get("text")
        if text is not None and not isinstance(text, str):
            raise BadRequest(f"input[{index}].text must be a string.", param=f"input.{index}.text")
        out.append({"image": image, **({"text": text} if text else {})})
    return out


def _text_of(item: Any) -> str:
    if isinstance(item, dict):
        return str(item.get("text") or "")
    return item if isinstance(item, str) else ""


def _options(body: dict[str, Any]) -> tuple[str, int | None, str | None]:
    encoding = body.get("encoding_format") or "float"
    if encoding not in ENCODINGS:
        raise BadRequest("'encoding_format' is float or base64.", param="encoding_format")
    dimensions = body.get("dimensions")
    if dimensions is not None and (isinstance(dimensions, bool) or not isinstance(dimensions, int) or dimensions < 1):
        raise BadRequest("'dimensions' must be a positive integer.", param="dimensions")
    input_type = body.get("input_type")
    if input_type is not None and input_type not in INPUT_TYPES:
        raise BadRequest(f"'input_type' is one of {', '.join(INPUT_TYPES)}.", param="input_type")
    return encoding, dimensions, input_type


def prepare(body: Any, caller: Caller, *, images: bool = False, extra_parameters: str | None = None
            ) -> list[EmbeddingRequest]:
    """Every check that can refuse an embeddings request, before any hold: the endpoints to try, in order."""
    extra_mode = chat.extra_parameters_mode(extra_parameters)
    if not isinstance(body, dict):
        raise BadRequest("The request body must be a JSON object.")
    inputs = _images(body.get("input")) if images else _texts(body.get("input"))
    encoding, dimensions, input_type = _options(body)
    extras = chat.unify_extras(body)
    text = "\n".join(_text_of(item) for item in inputs)
    # Every token covers at least one byte, so bytes bound the tokens a provider can count.
    worst = sum(len(item) if isinstance(item, list) else len(_text_of(item).encode()) + 1 for item in inputs)
    fair = sum(len(item) if isinstance(item, list) else tokens.estimate(_text_of(item)) for item in inputs)
    token_arrays = any(isinstance(item, list) for item in inputs)
    attempts = []
    fetched: dict[str, str] = {}
    for candidate in routing.plan(model_strings.parse(body.get("model")), caller, kind="embedding"):
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
                     "user": body.get("user")}
        prepared = EmbeddingRequest(
            endpoint, provider, forwarded, False, 0, dropped, **extras,
            own_key=chat.own_key(candidate, body, caller, fetched), deployment=candidate.deployment, extra=extra,
            prompt_estimate=fair, limit_tokens=fair, images=len(inputs) if images else 0, encoding=encoding,
        )
        prepared.worst_case_micros = prepared.cost(worst, 0)
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
    charged = min(prepared.cost(prompt, 0), attempt.hold.amount_micros)
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
