"""Chat completions: validate, resolve the endpoint, hold the worst case, call upstream, settle once.

The order is the contract: every check that can refuse a request runs before the hold, and the hold
runs before the upstream call; after the call, exactly one settle charges what was produced and gives
back the rest, whether the upstream succeeded, failed, timed out, or the client went away mid-stream.
"""

from __future__ import annotations

import json
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

import anyio
import anyio.to_thread

from unigate import billing, endpoints, tokens
from unigate.catalog import EndpointSpec, ProviderSpec, get_catalog
from unigate.config import get_settings
from unigate.errors import (
    BadRequest,
    Forbidden,
    NotFound,
    RateLimited,
    UnigateError,
    UpstreamError,
    UpstreamTimeout,
)
from unigate.models import Caller, Hold
from unigate.money import format_credits, micros_to_credits
from unigate.observability import get_logger
from unigate.providers import adapter_for
from unigate.providers.base import UpstreamCall, UpstreamFailure

MAX_MESSAGES = 2048
MAX_N = 8
ROLES = frozenset({"system", "developer", "user", "assistant", "tool", "function"})
# The OpenAI chat parameters unigate knows; anything else is dropped (and listed in a header).
OPENAI_PARAMS = frozenset({
    "model", "messages", "temperature", "top_p", "n", "stream", "stream_options", "stop", "max_tokens",
    "max_completion_tokens", "presence_penalty", "frequency_penalty", "logit_bias", "logprobs", "top_logprobs",
    "user", "seed", "tools", "tool_choice", "parallel_tool_calls", "response_format", "functions",
    "function_call", "modalities", "audio", "prediction", "store", "metadata", "service_tier", "reasoning_effort",
})
# Unify's extras: read by unigate, never forwarded.
UNIFY_EXTRAS = frozenset({"tags", "drop_params", "use_custom_keys", "log_query_body", "log_response_body"})
ALWAYS_FORWARDED = frozenset({"model", "messages", "stream"})


@dataclass
class Prepared:
    """A checked request bound to one endpoint: everything needed to hold, call and settle."""

    endpoint: EndpointSpec
    provider: ProviderSpec
    body: dict[str, Any]
    stream: bool
    worst_case_micros: int
    dropped: list[str] = field(default_factory=list)

    @property
    def headers(self) -> dict[str, str]:
        headers = {"x-unigate-endpoint": self.endpoint.name}
        if self.dropped:
            headers["x-unigate-dropped-params"] = ",".join(sorted(self.dropped))
        return headers


@dataclass
class Completed:
    body: dict[str, Any]
    headers: dict[str, str]


@dataclass
class Streamed:
    chunks: AsyncIterator[bytes]
    headers: dict[str, str]


def _int_param(body: dict[str, Any], name: str, *, low: int, high: int) -> int | None:
    value = body.get(name)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int):
        raise BadRequest(f"'{name}' must be an integer.", param=name)
    if not low <= value <= high:
        raise BadRequest(f"'{name}' must be between {low} and {high} for this model.", param=name)
    return value


def _check_messages(messages: Any) -> list[dict[str, Any]]:
    if not isinstance(messages, list) or not messages:
        raise BadRequest("'messages' must be a non-empty list.", param="messages")
    if len(messages) > MAX_MESSAGES:
        raise BadRequest(f"At most {MAX_MESSAGES} messages are accepted.", param="messages")
    for index, message in enumerate(messages):
        if not isinstance(message, dict):
            raise BadRequest(f"messages[{index}] must be an object.", param=f"messages.{index}")
        role = message.get("role")
        if role not in ROLES:
            raise BadRequest(f"messages[{index}].role must be one of {', '.join(sorted(ROLES))}.",
                             param=f"messages.{index}.role")
        content = message.get("content")
        if content is not None and not isinstance(content, str | list):
            raise BadRequest(f"messages[{index}].content must be a string or a list of parts.",
                             param=f"messages.{index}.content")
        if role in ("user", "system", "developer") and content is None:
            raise BadRequest(f"messages[{index}] needs content.", param=f"messages.{index}.content")
    return messages


def _resolve(body: dict[str, Any], caller: Caller) -> tuple[EndpointSpec, ProviderSpec]:
    chain = endpoints.parse(body.get("model"))
    if len(chain) > 1 or not chain[0].is_endpoint:
        target = chain[0]
        if target.provider is None:
            raise NotFound(f"No deployment named {target.model!r}.", param="model")
        raise BadRequest(
            "Fallback chains and meta-providers are not enabled on this gateway yet; name one model@provider.",
            param="model",
        )
    target = chain[0]
    assert isinstance(target.provider, str)
    catalog = get_catalog()
    endpoint = catalog.endpoint(target.model, target.provider)
    if endpoint.type != "chat":
        raise BadRequest(f"{endpoint.name} is not a chat model.", param="model")
    if caller.allowed_models and not {endpoint.name, endpoint.model} & set(caller.allowed_models):
        raise Forbidden(f"This API key may not use {endpoint.name}.", param="model")
    return endpoint, catalog.provider(endpoint.provider)


def prepare(body: Any, caller: Caller) -> Prepared:
    """All the checks that can refuse a request, before any hold or upstream call."""
    if not isinstance(body, dict):
        raise BadRequest("The request body must be a JSON object.")
    messages = _check_messages(body.get("messages"))
    stream = body.get("stream", False)
    if not isinstance(stream, bool):
        raise BadRequest("'stream' must be true or false.", param="stream")
    if body.get("use_custom_keys"):
        raise BadRequest("Bring-your-own provider keys are not enabled on this gateway yet.", param="use_custom_keys")
    drop_params = body.get("drop_params", True)
    if not isinstance(drop_params, bool):
        raise BadRequest("'drop_params' must be true or false.", param="drop_params")
    tags = body.get("tags")
    if tags is not None and (not isinstance(tags, list) or not all(isinstance(t, str) for t in tags)):
        raise BadRequest("'tags' must be a list of strings.", param="tags")

    endpoint, provider = _resolve(body, caller)
    max_out = None
    for name in ("max_tokens", "max_completion_tokens"):
        max_out = _int_param(body, name, low=1, high=endpoint.max_output) or max_out
    n = _int_param(body, "n", low=1, high=MAX_N) or 1

    forwarded: dict[str, Any] = {}
    dropped = []
    for key, value in body.items():
        if key in UNIFY_EXTRAS:
            continue
        if key in ALWAYS_FORWARDED or (key in OPENAI_PARAMS and key in provider.params):
            forwarded[key] = value
        elif value is not None:
            if not drop_params and key in OPENAI_PARAMS:
                raise BadRequest(f"{provider.name} does not support '{key}' (set drop_params to drop it).", param=key)
            dropped.append(key)
    forwarded["model"] = endpoint.upstream
    worst = endpoint.cost_micros(
        tokens.worst_case_prompt(messages, body.get("tools")), (max_out or endpoint.max_output) * n
    )
    return Prepared(endpoint, provider, forwarded, stream, max(worst, 1), dropped)


def _credentials(provider: ProviderSpec) -> dict[str, Any]:
    if provider.secret is None:
        return {}
    from unigate.stores.secrets import provider_credentials

    return provider_credentials(provider.secret)


def _timeout(remaining_ms: int | None) -> float:
    limit = get_settings().upstream_timeout_seconds
    if remaining_ms is not None:
        # Keep two seconds to settle and answer before Lambda stops the function.
        limit = min(limit, remaining_ms / 1000 - 2.0)
    return max(limit, 1.0)


def failure_to_error(failure: UpstreamFailure, provider: str) -> UnigateError:
    """How an upstream failure reaches the caller (the contract's 429 / 502 / 504)."""
    if failure.kind == "timeout" or failure.status in (408, 504):
        return UpstreamTimeout(f"{provider} did not answer in time.")
    if failure.status == 429:
        retry = int(failure.retry_after) if failure.retry_after is not None else None
        return RateLimited(f"{provider} is rate limiting requests; retry later.", retry_after=retry)
    if failure.status in (400, 404, 413, 422):
        return BadRequest(f"{provider} rejected the request: {failure.message}")
    if failure.status in (401, 403):
        return UpstreamError(f"{provider} refused the gateway's credentials; the operator must update them.")
    return UpstreamError(f"{provider} failed: {failure.message}")


def _usage_tokens(usage: Any, fallback_prompt: int, fallback_completion: int) -> tuple[int, int]:
    """Token counts from an upstream usage object, or the estimates when it has none usable."""
    if isinstance(usage, dict):
        prompt, completion = usage.get("prompt_tokens"), usage.get("completion_tokens")
        if isinstance(prompt, int) and isinstance(completion, int) and not isinstance(prompt, bool):
            return max(prompt, 0), max(completion, 0)
    return fallback_prompt, fallback_completion


def _output_text(choices: Any) -> str:
    parts = []
    for choice in choices if isinstance(choices, list) else []:
        source = choice.get("message") or choice.get("delta") or {}
        if isinstance(source.get("content"), str):
            parts.append(source["content"])
        for call in source.get("tool_calls") or []:
            parts.append(str((call.get("function") or {}).get("arguments", "")))
    return "".join(parts)


class Settlement:
    """Settles one hold exactly once, shielded from cancellation (a client disconnect must still settle)."""

    def __init__(self, hold: Hold) -> None:
        self.hold = hold
        self.charged: int | None = None

    async def settle(self, cost_micros: int) -> int:
        if self.charged is None:
            self.charged = min(max(cost_micros, 0), self.hold.amount_micros)
            with anyio.CancelScope(shield=True):
                await anyio.to_thread.run_sync(billing.settle, self.hold, self.charged)
        return self.charged


@asynccontextmanager
async def _refund_on_failure(settlement: Settlement, provider: str) -> AsyncIterator[None]:
    """Nothing was produced if the upstream call fails here: the whole hold goes back, then the failure
    reaches the caller as the contract's status."""
    try:
        yield
    except UpstreamFailure as failure:
        await settlement.settle(0)
        raise failure_to_error(failure, provider) from None
    except BaseException:
        await settlement.settle(0)
        raise


async def complete(prepared: Prepared, caller: Caller, *, remaining_ms: int | None = None) -> Completed | Streamed:
    credentials = _credentials(prepared.provider)  # before the hold: a missing key must not hold money
    hold = await anyio.to_thread.run_sync(
        billing.hold, caller.account_id, prepared.worst_case_micros, {"endpoint": prepared.endpoint.name}
    )
    call = UpstreamCall(prepared.endpoint, prepared.provider, prepared.body, credentials, _timeout(remaining_ms))
    settlement = Settlement(hold)
    if prepared.stream:
        return await _stream(prepared, call, settlement)
    async with _refund_on_failure(settlement, prepared.provider.name):
        response = await adapter_for(prepared.provider.family).complete(call)
    prompt_estimate = tokens.prompt_estimate(prepared.body["messages"], prepared.body.get("tools"))
    prompt, completion = _usage_tokens(
        response.get("usage"), prompt_estimate, tokens.estimate(_output_text(response.get("choices")))
    )
    charged = await settlement.settle(prepared.endpoint.cost_micros(prompt, completion))
    response["model"] = prepared.endpoint.name
    upstream_usage = response.get("usage")
    response["usage"] = {
        **(upstream_usage if isinstance(upstream_usage, dict) else {}),
        "prompt_tokens": prompt, "completion_tokens": completion, "total_tokens": prompt + completion,
        "cost": micros_to_credits(charged),
    }
    return Completed(response, {**prepared.headers, "x-unigate-cost": format_credits(charged)})


def _sse(payload: Any) -> bytes:
    return b"data: " + json.dumps(payload, separators=(",", ":")).encode() + b"\n\n"


async def _stream(prepared: Prepared, call: UpstreamCall, settlement: Settlement) -> Streamed:
    upstream = adapter_for(prepared.provider.family).stream(call).__aiter__()
    # The first chunk is awaited before answering, so a refused or failing upstream still gets a proper
    # HTTP status (429, 502...) instead of a 200 with an error inside the stream.
    async with _refund_on_failure(settlement, prepared.provider.name):
        first = await anext(upstream, None)
    return Streamed(_relay(prepared, upstream, first, settlement), {**prepared.headers, "cache-control": "no-cache"})


async def _relay(
    prepared: Prepared, upstream: AsyncIterator[dict[str, Any]], first: dict[str, Any] | None, settlement: Settlement
) -> AsyncIterator[bytes]:
    name = prepared.endpoint.name
    produced: list[str] = []
    usage: Any = None
    chunk_id = "chatcmpl-unigate"
    prompt_estimate = tokens.prompt_estimate(prepared.body["messages"], prepared.body.get("tools"))

    def cost_so_far() -> int:
        completion = tokens.estimate("".join(produced)) if produced else 0
        prompt, completion = _usage_tokens(usage, prompt_estimate, completion)
        return prepared.endpoint.cost_micros(prompt, completion)

    async def chunks() -> AsyncIterator[dict[str, Any]]:
        if first is not None:
            yield first
        async for item in upstream:
            yield item

    try:
        async for item in chunks():
            if not isinstance(item, dict):
                continue
            chunk_id = str(item.get("id") or chunk_id)
            if isinstance(item.get("usage"), dict):
                usage = item["usage"]
            choices = item.get("choices") or []
            if not choices:
                continue
            produced.append(_output_text(choices))
            relayed = {key: value for key, value in item.items() if key != "usage"}
            relayed["model"] = name
            yield _sse(relayed)
        charged = await settlement.settle(cost_so_far())
        prompt, completion = _usage_tokens(usage, prompt_estimate, tokens.estimate("".join(produced)))
        yield _sse({
            "id": chunk_id, "object": "chat.completion.chunk", "created": int(time.time()), "model": name,
            "choices": [],
            "usage": {"prompt_tokens": prompt, "completion_tokens": completion,
                      "total_tokens": prompt + completion, "cost": micros_to_credits(charged)},
        })
        yield b"data: [DONE]\n\n"
    except UpstreamFailure as failure:
        # Bill what was generated before the failure; the rest of the hold goes back.
        await settlement.settle(cost_so_far() if any(produced) else 0)
        error = failure_to_error(failure, prepared.provider.name)
        get_logger().warning("stream failed", extra={"endpoint": name, "kind": failure.kind})
        yield _sse({"error": {"message": error.message, "type": error.openai_type, "code": error.code,
                              "param": None}})
    finally:
        # Client disconnects and unexpected errors land here with the settlement still open. Closing the
        # upstream generator cancels the upstream request, so nothing more is generated unbilled.
        with anyio.CancelScope(shield=True):
            closer = getattr(upstream, "aclose", None)
            if closer is not None:
                await closer()
        await settlement.settle(cost_so_far() if any(produced) else 0)
