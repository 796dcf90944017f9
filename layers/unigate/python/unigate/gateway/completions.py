"""Legacy completions (service): OpenAI's `/v1/completions` through the chat pipeline.

The request becomes a chat body (unigate.dialects.completions.to_chat) and is planned and checked by
chat.prepare. Each endpoint whose catalog entry serves completions natively (`"native": ["completions"]`) is
then bound to the request as it came and called at its own `/completions`; the others are called with the
chat body. Either way the attempt runs in chat's loop (one hold per attempt, retries, fallbacks, one settle)
and its answer is turned back into a `text_completion`.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from dataclasses import dataclass, fields, replace
from typing import Any

from unigate.dialects import completions as dialect
from unigate.domain import request_models, tokens
from unigate.domain.errors import ArgumentsMismatch, BadRequest
from unigate.domain.records import Caller
from unigate.gateway import chat
from unigate.providers.base import Adapter, UpstreamCall


@dataclass
class Completion(chat.Prepared):
    # Called at the upstream's own /completions with the request as it came.
    native: bool = False
    # A translated request's prompt, echoed before each choice's text (`echo: true`).
    echo: str | None = None

    def adapter(self) -> Adapter:
        adapter = super().adapter()
        return _Native(adapter) if self.native else adapter


class _Native:
    """The provider's own completions API, answering in the chat form the pipeline bills and relays."""

    def __init__(self, adapter: Any) -> None:
        self.adapter = adapter

    def request_body(self, call: UpstreamCall, *, stream: bool) -> Any:
        return self.adapter.completions_payload(call, stream=stream)

    async def complete(self, call: UpstreamCall) -> dict[str, Any]:
        return dialect.native_to_chat(await self.adapter.text_complete(call))

    async def stream(self, call: UpstreamCall) -> AsyncIterator[dict[str, Any]]:
        upstream = self.adapter.text_stream(call)
        try:
            async for chunk in upstream:
                yield dialect.native_to_chat(chunk, stream=True) if isinstance(chunk, dict) else chunk
        finally:
            await upstream.aclose()  # cancels the upstream request when the client leaves


def _serves_natively(prepared: chat.Prepared) -> bool:
    from unigate.providers import adapter_for

    return (prepared.endpoint.serves_natively(prepared.provider, "completions")
            and hasattr(adapter_for(prepared.provider.family), "text_complete"))


def _as_completion(prepared: chat.Prepared, **changes: Any) -> Completion:
    return Completion(**{**{f.name: getattr(prepared, f.name) for f in fields(prepared)}, **changes})


def _native(prepared: chat.Prepared, request: dialect.CompletionRequest, sent: dict[str, Any],
            extra_mode: str | None) -> Completion:
    """The request as the endpoint's own completions API takes it, and the most it can cost there: every
    prompt, and max_tokens for each of the n (or best_of) completions of each prompt."""
    forwarded, dropped, extra = chat.split_parameters(sent, dialect.PARAMS, dialect.PARAMS, prepared.provider.name,
                                                      extra_mode=extra_mode)
    limit = dialect.max_tokens(request)
    # Always explicit, so the upstream generates no more than the hold covers.
    forwarded.update(model=prepared.endpoint.upstream, max_tokens=limit)
    items = dialect.prompts(request)
    fair = sum(len(item) if isinstance(item, list) else tokens.estimate(item) for item in items)
    n = request.n or 1
    completion = _as_completion(prepared, native=True, body=forwarded, dropped=dropped, extra=extra,
                                prompt_estimate=fair, limit_tokens=fair + limit * n * len(items))
    completion.worst_case_micros = completion.cost(dialect.worst_case_prompt(items),
                                                   limit * max(n, request.best_of or 1) * len(items))
    return completion


def _translated(prepared: chat.Prepared, request: dialect.CompletionRequest, sent: dict[str, Any],
                extra_mode: str | None) -> Completion:
    """The chat-bound request, with what chat cannot carry dropped, or refused with drop_params: false; chat's
    own parameters sent to the completions API are foreign to it, as they are to a native endpoint."""
    dropped = [*prepared.dropped, *(name for name in dialect.UNTRANSLATABLE if sent.get(name) is not None)]
    if not request.drop_params:
        for name in dropped:
            if name in dialect.PARAMS or name in dialect.FROM_CHAT:  # others are foreign: dropped, never refused
                param = dialect.FROM_CHAT.get(name, name)
                raise BadRequest(f"{prepared.endpoint.name} does not support '{param}' (set drop_params to drop it).",
                                 param=param)
    extra = dict(prepared.extra)
    for name in (key for key in sent if key in dialect.CHAT_ONLY):
        if extra_mode == "error":
            raise ArgumentsMismatch(f"Extra parameter '{name}' is not allowed (extra-parameters: error).", param=name)
        if extra_mode == "pass-through":
            extra[name] = sent[name]
        elif sent[name] is not None:
            dropped.append(name)
    # Listed by the names the client sent (chat's top_logprobs is the request's logprobs).
    dropped = list(dict.fromkeys(dialect.FROM_CHAT.get(name, name) for name in dropped))
    return _as_completion(prepared, dropped=dropped, extra=extra,
                          echo=dialect.prompt_text(request) if request.echo else None)


def prepare(body: Any, caller: Caller, *, extra_parameters: str | None = None) -> list[Completion]:
    """Every check that can refuse a completions request, before any hold: the endpoints to try, in order."""
    if isinstance(body, list):
        raise BadRequest("The completions API takes one request object; list fallbacks in the model string "
                         "(a->b).")
    request = request_models.parse(dialect.CompletionRequest, body)
    sent = request.model_dump(exclude_unset=True)
    n = request.n or 1
    if request.best_of is not None and request.best_of < n:
        raise BadRequest("'best_of' must be at least 'n'.", param="best_of")
    if request.stream and (request.best_of or 1) > 1:
        raise BadRequest("'best_of' results cannot be streamed.", param="best_of")
    # The key's own limits are counted once, for the plan as it ends up (chat.admit_key below).
    planned = chat.prepare(dialect.to_chat(sent, request), replace(caller, rpm=None, tpm=None),
                           extra_parameters=extra_parameters)
    extra_mode = chat.extra_parameters_mode(extra_parameters)
    obstacle = dialect.untranslatable(request)
    attempts = []
    for prepared in planned:
        if _serves_natively(prepared):
            attempts.append(_native(prepared, request, sent, extra_mode))
        elif obstacle is None:
            attempts.append(_translated(prepared, request, sent, extra_mode))
    if not attempts:
        assert obstacle is not None
        raise BadRequest(obstacle[0], param=obstacle[1])
    for attempt in attempts:
        if attempt.logged_request is not None:
            attempt.logged_request = sent
    return chat.admit_key(attempts, caller)


def _sse(payload: Any) -> bytes:
    return b"data: " + json.dumps(payload, separators=(",", ":"), ensure_ascii=False).encode() + b"\n\n"


async def _legacy_events(chunks: AsyncIterator[bytes], translator: dialect.StreamTranslator) -> AsyncIterator[bytes]:
    """Chat's relayed events (each one `data: <chunk>`, or `data: [DONE]`) as text_completion events."""
    try:
        async for event in chunks:
            if not event.startswith(b"data: {"):
                yield event
                continue
            legacy = translator.chunk(json.loads(event[6:]))
            if legacy is not None:
                yield _sse(legacy)
    finally:
        closer = getattr(chunks, "aclose", None)
        if closer is not None:
            await closer()  # chat's relay settles what was produced, also when the client left


async def _attempt_with(attempt: chat.Attempt, call: UpstreamCall) -> chat.Completed | chat.Streamed:
    prepared = attempt.prepared
    assert isinstance(prepared, Completion)
    result = await chat.run_attempt(attempt, call)
    if isinstance(result, chat.Streamed):
        return chat.Streamed(_legacy_events(result.chunks, dialect.StreamTranslator(prepared.echo)), result.headers)
    return chat.Completed(dialect.to_legacy(result.body, echo=prepared.echo), result.headers)


async def complete(plan: list[Completion], caller: Caller, *, remaining_ms: int | None = None
                   ) -> chat.Completed | chat.Streamed:
    result: chat.Completed | chat.Streamed = await chat.complete(list(plan), caller, remaining_ms=remaining_ms,
                                                                 runner=_attempt_with)
    return result
