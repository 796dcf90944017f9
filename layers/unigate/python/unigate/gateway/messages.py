"""Anthropic's Messages API (POST /v1/messages, /v1/messages/count_tokens) on the paid-request pipeline.

The request is checked as a Messages request, put in the chat form (unigate.dialects.anthropic_messages) and
run through unigate.gateway.chat's `prepare` and `complete`, so routing, holds, settles, limits, filters and
the query log are chat's. Per attempt, an endpoint that speaks Messages natively (its catalog entry says
`"native": ["messages"]` and its adapter is a MessagesNative: Anthropic, Claude on Bedrock, Claude on Vertex
AI) gets the client's body as sent, with its `anthropic-version` and `anthropic-beta` headers, and its answer
goes back as it came; any other endpoint gets the chat form, and its answer is translated back.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import re
import time
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass, fields
from typing import Any, TypeVar

import anyio

from unigate.catalog.entries import EndpointSpec, ProviderSpec, get_catalog
from unigate.dialects import anthropic_messages as dialect
from unigate.domain import model_strings, request_models, tokens
from unigate.domain.errors import BadRequest, NotFound, UnigateError
from unigate.domain.money import format_credits
from unigate.domain.records import Caller
from unigate.domain.usage import Usage, from_anthropic
from unigate.gateway import chat, routing
from unigate.infra.config import get_settings
from unigate.infra.observability import get_logger
from unigate.providers import adapter_for
from unigate.providers.base import (
    MessagesNative,
    StreamScrubber,
    UpstreamCall,
    UpstreamFailure,
    scrub,
    scrubbed,
    secrets_of,
)

# Seconds of upstream silence after which a `ping` event keeps the client's and proxies' timers alive.
PING_SECONDS = 10.0
# The Messages fields of the request headers forwarded to native endpoints unchanged.
FORWARDED_HEADERS = ("anthropic-version", "anthropic-beta")
_DATED = re.compile(r"-(\d{8}|latest)$")
_VERSION_DOTS = re.compile(r"(?<=\d)-(?=\d(?:\D|$))")
T = TypeVar("T")


@dataclass
class MessagesPrepared(chat.Prepared):
    """A chat attempt and, for an endpoint that speaks Messages natively, the body it is sent as it is."""

    native: dict[str, Any] | None = None
    model: str = ""


@dataclass(frozen=True)
class Inbound:
    """What of the HTTP request the Messages surface reads besides the body."""

    headers: Mapping[str, str]
    beta: bool = False

    def forwarded(self) -> dict[str, str]:
        return {name: self.headers[name] for name in FORWARDED_HEADERS if self.headers.get(name)}


# ------------------------------------------------------------------------------------------- models
def _claude_names(model: str) -> list[str]:
    """The catalog names an Anthropic model id may have: as it is, undated, with its version dotted."""
    names = [model]
    undated = _DATED.sub("", model)
    for name in (undated, _VERSION_DOTS.sub(".", undated), _VERSION_DOTS.sub(".", model)):
        if name not in names:
            names.append(name)
    return names


def resolve_model(model: str) -> str:
    """A unigate endpoint string for `model`: unigate's own strings as they are; an Anthropic model id
    (`claude-sonnet-4-5`, dated ids) is its endpoint at the provider the operator chose for them
    (UNIGATE_MESSAGES_CLAUDE_PROVIDER, anthropic by default: Bedrock or Vertex work too)."""
    if "@" in model or "->" in model or not model.startswith("claude"):
        return model
    provider = get_settings().messages_claude_provider
    catalog = get_catalog()
    for name in _claude_names(model):
        if f"{name}@{provider}" in catalog.endpoints:
            return f"{name}@{provider}"
    for endpoint in catalog.endpoints.values():
        if endpoint.provider == provider and endpoint.upstream in (model, _DATED.sub("", model)):
            return endpoint.name
    raise NotFound(f"Unknown model: {model}", param="model")


def native_adapter(endpoint: EndpointSpec, provider: ProviderSpec) -> MessagesNative | None:
    """The adapter that takes Anthropic's Messages format as it is at `endpoint` (betas and signatures go only
    there), or None: the catalog must say the endpoint serves Messages and its wire format must be one of
    Anthropic's (an OpenAI-format server marked so is still translated)."""
    if not endpoint.serves_natively(provider, "messages"):
        return None
    adapter = adapter_for(provider.family)
    return adapter if isinstance(adapter, MessagesNative) else None


def is_native(prepared: chat.Prepared) -> bool:
    """Whether the attempt passes the body through. A deployment with an output filter is translated
    instead, so that chat's filter sees what comes back."""
    return native_adapter(prepared.endpoint, prepared.provider) is not None and not prepared.output_filter


# ------------------------------------------------------------------------------------------- checks
def _checked(body: Any, kind: type[request_models.Body]) -> dict[str, Any]:
    if not isinstance(body, dict):
        raise BadRequest("The request body must be a JSON object.")
    request_models.parse(kind, body)
    return body


def _max_tokens_cap(model: str, caller: Caller) -> int:
    """The largest max_tokens every candidate takes. Clients send one max_tokens for any model (Claude Code
    32,000), so it is lowered to what the endpoint can produce rather than refused, as OpenRouter does."""
    candidates = routing.plan(model_strings.parse(model), caller)
    return min(c.endpoint.max_output for c in candidates)


def prepare(body: Any, caller: Caller, inbound: Inbound) -> list[MessagesPrepared]:
    """Every check before any hold: the Messages request, its model, then chat's own checks of its chat form."""
    body = _checked(body, dialect.MessagesRequest)
    model = resolve_model(body["model"].strip())
    cap = _max_tokens_cap(model, caller)
    chat_body, dropped = dialect.to_chat({**body, "model": model, "max_tokens": min(body["max_tokens"], cap)})
    attempts: list[MessagesPrepared] = []
    for prepared in chat.prepare(chat_body, caller):
        attempt = MessagesPrepared(**{f.name: getattr(prepared, f.name) for f in fields(chat.Prepared)},
                                   model=body["model"])
        if attempt.logged_request is not None:  # log_query_body: the query log keeps what the client sent
            attempt.logged_request = body
        if is_native(attempt):
            native = {k: v for k, v in body.items() if k not in dialect.EXTRAS}
            native["model"] = attempt.endpoint.upstream
            native["max_tokens"] = min(body["max_tokens"], attempt.endpoint.max_output)
            attempt.native = native
            attempt.dropped = []
            # The hold covers the body sent (issue #29); a 1M-token context beta widens the window it is capped at.
            long = chat.LONG_CONTEXT_BETA in inbound.headers.get("anthropic-beta", "")
            chat.cover(attempt, native, native["max_tokens"],
                       context=max(attempt.endpoint.context, chat.LONG_CONTEXT) if long else None)
        else:
            attempt.dropped = sorted({*attempt.dropped, *dropped})
            attempt.usage_chunk = True
        attempts.append(attempt)
    return attempts


async def create(body: Any, caller: Caller, inbound: Inbound, *, remaining_ms: int | None = None
                 ) -> chat.Completed | chat.Streamed:
    plan = prepare(body, caller, inbound)

    async def runner(attempt: chat.Attempt, call: UpstreamCall) -> chat.Completed | chat.Streamed:
        prepared = attempt.prepared
        assert isinstance(prepared, MessagesPrepared)
        if prepared.native is not None:
            return await _native(attempt, call, prepared.native, inbound)
        return _translated(prepared, await chat.run_attempt(attempt, call))

    attempts: list[chat.Prepared] = list(plan)
    result: chat.Completed | chat.Streamed = await chat.complete(attempts, caller, remaining_ms=remaining_ms,
                                                                 runner=runner)
    return result


# --------------------------------------------------------------------------------------- translated
def _translated(prepared: MessagesPrepared, result: chat.Completed | chat.Streamed) -> chat.Completed | chat.Streamed:
    if isinstance(result, chat.Completed):
        return chat.Completed(dialect.from_chat(result.body, prepared.endpoint.name), result.headers)
    translator = dialect.StreamTranslator(prepared.endpoint.name, prepared.prompt_estimate)
    return chat.Streamed(_events(translator, result.chunks), result.headers)


_ERROR_STATUS = {"rate_limit_error": 429, "upstream_timeout": 504, "service_unavailable": 503}


async def _events(translator: dialect.StreamTranslator, chunks: AsyncIterator[bytes]) -> AsyncIterator[bytes]:
    """chat's event stream (its chunks as they are settled and billed there) as Anthropic's events."""
    yield translator.start()
    yield dialect.event("ping", {})
    output, details = 0, None
    async for raw in _with_pings(chunks):
        if raw is None:
            yield dialect.event("ping", {})
            continue
        for line in raw.split(b"\n"):
            if not line.startswith(b"data: "):
                continue
            data = line[6:]
            if data == b"[DONE]":
                for item in translator.finish(output, details):
                    yield item
                return
            item = json.loads(data)
            if "error" in item:
                error = item["error"] or {}
                status = _ERROR_STATUS.get(str(error.get("type"))) or _ERROR_STATUS.get(str(error.get("code"))) or 502
                for out in translator.error(status, str(error.get("message", "The upstream failed."))):
                    yield out
                return
            if isinstance(item.get("usage"), dict) and not item.get("choices"):
                details = item["usage"]
                output = int(details.get("completion_tokens") or 0)
                translator.input_tokens = int(details.get("prompt_tokens") or translator.input_tokens)
                continue
            for out in translator.chunk(item):
                yield out


async def _with_pings(source: AsyncIterator[T], interval: float = PING_SECONDS) -> AsyncIterator[T | None]:
    """The source's items, and None after each `interval` seconds without one. Closing this closes the
    source (which settles and cancels the upstream call)."""
    iterator = source.__aiter__()
    pending: asyncio.Future[T] | None = None
    try:
        while True:
            if pending is None:
                pending = asyncio.ensure_future(iterator.__anext__())
            done, _ = await asyncio.wait({pending}, timeout=interval)
            if not done:
                yield None
                continue
            finished, pending = pending, None
            try:
                item = finished.result()
            except StopAsyncIteration:
                return
            yield item
    finally:
        if pending is not None:
            pending.cancel()
            with contextlib.suppress(BaseException):
                await pending
        closer = getattr(iterator, "aclose", None)
        if closer is not None:
            with anyio.CancelScope(shield=True):
                await closer()


# ------------------------------------------------------------------------------------------- native
def _native_usage(usage: dict[str, Any], fallback_prompt: int, fallback_completion: int) -> Usage:
    """Anthropic's usage as the usage record: input, cache reads and cache writes (by TTL) apart, each
    billed at its own price. Invalid counts (strings, negative, absurd) become the estimates, as on every
    other path."""
    return chat._usage_tokens(from_anthropic(usage).to_chat(), fallback_prompt, fallback_completion)


def _native_text(content: Any) -> str:
    parts = []
    for block in content if isinstance(content, list) else []:
        if isinstance(block, dict):
            parts.append(str(block.get("text") or block.get("thinking") or ""))
            if block.get("type") == "tool_use":
                parts.append(json.dumps(block.get("input") or {}))
    return "".join(parts)


async def _native(attempt: chat.Attempt, call: UpstreamCall, body: dict[str, Any], inbound: Inbound
                  ) -> chat.Completed | chat.Streamed:
    prepared = attempt.prepared
    adapter = native_adapter(prepared.endpoint, prepared.provider)
    assert adapter is not None
    if prepared.stream:
        upstream = adapter.messages_stream(call, body, inbound.forwarded(), beta=inbound.beta).__aiter__()
        async with chat.refund_on_failure(attempt):
            first = await anext(upstream, None)
        attempt.first_token = time.monotonic()
        return chat.Streamed(_native_relay(attempt, upstream, first, call.credentials),
                             {**prepared.headers, "cache-control": "no-cache"})
    async with chat.refund_on_failure(attempt):
        response = scrubbed(await adapter.messages_complete(call, body, inbound.forwarded(), beta=inbound.beta),
                            secrets_of(call.credentials))
    raw_usage: dict[str, Any] = response["usage"] if isinstance(response.get("usage"), dict) else {}
    used = _native_usage(raw_usage, prepared.prompt_estimate, tokens.estimate(_native_text(response.get("content"))))
    priced = prepared.bill(used)
    charged = priced.micros  # never clamped to the hold (issue #29)
    await attempt.settle(charged, attempt.measurement("ok", used.completion_tokens), tokens=used.pair(),
                         response=response, cost_details=priced.details)
    return chat.Completed(response, {**prepared.headers, "x-unigate-cost": format_credits(charged)})


def _note_usage(name: str, payload: dict[str, Any], usage: dict[str, Any]) -> None:
    """What one native event reports of the usage: message_start's, message_delta's (cumulative, so it
    replaces), and a message_stop's (Bedrock's invocation metrics) only where the others said nothing."""
    if name == "message_start":
        usage.update((payload.get("message") or {}).get("usage") or {})
    elif name == "message_delta":
        usage.update({k: v for k, v in (payload.get("usage") or {}).items() if v is not None})
    elif name == "message_stop":
        for key, value in (payload.get("usage") or {}).items():
            usage.setdefault(key, value)


# The text field of each content block delta type, and the delta type of each field.
_DELTA_FIELDS = {"text": "text_delta", "thinking": "thinking_delta", "partial_json": "input_json_delta"}


def _held_back(payload: dict[str, Any], data: str, scrubber: StreamScrubber, produced: list[str]) -> str:
    """A content_block_delta's data with its text through the scrubber: as it came when nothing was held back
    or replaced, else written again with the text that can go out now."""
    delta: dict[str, Any] = payload["delta"] if isinstance(payload.get("delta"), dict) else {}
    field = next((name for name in _DELTA_FIELDS if isinstance(delta.get(name), str)), None)
    if field is None:
        return data
    text = scrubber.feed((payload.get("index"), field), delta[field])
    produced.append(text)
    if text == delta[field]:
        return data
    changed = scrubbed({**payload, "delta": {**delta, field: text}}, scrubber.secrets)
    return json.dumps(changed, separators=(",", ":"), ensure_ascii=False)


def _held_deltas(scrubber: StreamScrubber, produced: list[str], index: Any = None) -> list[bytes]:
    """content_block_delta events with the text held back for block `index` (every block by default)."""
    out = []
    for channel in scrubber.channels():
        if index is None or channel[0] == index:
            text = scrubber.flush(channel)
            produced.append(text)
            out.append(dialect.event("content_block_delta", {"index": channel[0], "delta": {
                "type": _DELTA_FIELDS[channel[1]], channel[1]: text}}))
    return out


async def _native_relay(attempt: chat.Attempt, upstream: AsyncIterator[tuple[str, str, dict[str, Any]]],
                        first: tuple[str, str, dict[str, Any]] | None, credentials: dict[str, Any]
                        ) -> AsyncIterator[bytes]:
    """The upstream's events as they came (their data byte for byte), billed from their usage: what was
    produced when the upstream fails or the client leaves, all of it at message_stop."""
    prepared = attempt.prepared
    usage: dict[str, Any] = {}
    produced: list[str] = []

    def record() -> Usage:
        return _native_usage(usage, prepared.prompt_estimate,
                             tokens.estimate("".join(produced)) if any(produced) else 0)

    async def settle_partial(measured: str | None, *, outcome: str = "") -> None:
        """What was produced before the stream ended early (the upstream failed, or the client left)."""
        used = record()
        cost = prepared.bill(used).micros if any(produced) or usage.get("output_tokens") else 0
        await attempt.settle(cost, attempt.measurement(measured, used.completion_tokens) if measured else None,
                             outcome=outcome, tokens=used.pair() if any(produced) else (0, 0),
                             response="".join(produced))

    async def events() -> AsyncIterator[tuple[str, str, dict[str, Any]]]:
        if first is not None:
            yield first
        async for item in _with_pings(upstream):
            yield ("ping", "", {}) if item is None else item

    secrets = secrets_of(credentials)
    scrubber = StreamScrubber(secrets)  # a credential split across two deltas too
    try:
        async for name, raw_data, payload in events():
            data = scrubbed(raw_data, secrets)  # the call's credentials never reach the client (issue #29)
            if name == "ping" and not data:
                yield dialect.event("ping", {})
                continue
            _note_usage(name, payload, usage)
            if name == "content_block_delta":
                data = _held_back(payload, data, scrubber, produced)
            elif name == "content_block_stop":
                for held in _held_deltas(scrubber, produced, payload.get("index")):
                    yield held
            elif name == "error":
                await settle_partial("server_error")
                yield f"event: {name}\ndata: {data}\n\n".encode()
                return
            if name == "message_stop":
                priced = prepared.bill(used := record())
                await attempt.settle(priced.micros, attempt.measurement("ok", used.completion_tokens),
                                     tokens=used.pair(), response="".join(produced), cost_details=priced.details)
            yield f"event: {name}\ndata: {data}\n\n".encode()
            if name == "message_stop":
                return
        raise UpstreamFailure(None, "The Anthropic stream ended before message_stop.", kind="protocol")
    except UpstreamFailure as failure:
        for held in _held_deltas(scrubber, produced):  # all that came before the failure
            yield held
        await settle_partial(chat.outcome_of(failure))
        error = chat.failure_to_error(scrub(failure, credentials), prepared.provider.name)
        get_logger().warning("stream failed", extra={"endpoint": prepared.endpoint.name, "kind": failure.kind})
        yield dialect.event("error", {"error": dialect.error_body(error.status, error.message)["error"]})
    finally:
        with anyio.CancelScope(shield=True):
            closer = getattr(upstream, "aclose", None)
            if closer is not None:
                await closer()
        await settle_partial(None, outcome="client_disconnected")


# -------------------------------------------------------------------------------------- count_tokens
async def count_tokens(body: Any, caller: Caller, inbound: Inbound) -> dict[str, int]:
    """{"input_tokens": N} for a Messages prompt (system, tools and messages): the provider's own count
    where it has one (Anthropic's free count_tokens), unigate's estimate otherwise. Nothing is held or
    charged."""
    body = _checked(body, dialect.CountTokensRequest)
    model = resolve_model(body["model"].strip())
    candidates = routing.plan(model_strings.parse(model), caller)
    first = candidates[0]
    adapter = native_adapter(first.endpoint, first.provider)
    if adapter is not None:
        credentials = {"api_key": first.credential} if first.credential else chat.provider_credentials(first.provider)
        call = UpstreamCall(first.endpoint, first.provider, {}, credentials, get_settings().upstream_timeout_seconds)
        native = {**{k: v for k, v in body.items() if k not in dialect.EXTRAS}, "model": first.endpoint.upstream}
        try:
            counted = await adapter.messages_count_tokens(call, native, inbound.forwarded(), beta=inbound.beta)
            if counted is not None:
                return {"input_tokens": counted}
        except UpstreamFailure as failure:
            scrub(failure, credentials)
            get_logger().info("count_tokens fell back to the estimate", extra={"endpoint": first.endpoint.name,
                                                                              "status": failure.status})
        except UnigateError:  # no key for the provider: the estimate still answers
            pass
    messages, tools = dialect.count_estimate_input(body)
    return {"input_tokens": tokens.prompt_estimate(messages, tools)}
