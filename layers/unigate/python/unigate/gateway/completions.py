"""Legacy completions (service): OpenAI's `/v1/completions` through the chat pipeline.

The request becomes a chat body (unigate.dialects.completions.to_chat) and is planned and checked by
chat.prepare. Each endpoint whose catalog entry serves completions natively (`"native": ["completions"]`) is
then bound to the request as it came and called at its own `/completions`; the others are called with the
chat body. Either way the attempt runs in chat's loop (one hold per attempt, retries, fallbacks, one settle)
and its answer is turned back into a `text_completion`.

Several text prompts sent to a chat endpoint are one chat call each, inside one attempt: one hold covers
them all, each call is priced on its own (a prompt's long-context tier is its own), and one settle charges
the sum. Each call runs through chat's own attempt code (unigate.gateway.chat.run_attempt) as a _Share of
the attempt, which records its charge for the attempt's settle instead of settling.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field, fields, replace
from decimal import Decimal
from typing import Any

import anyio

from unigate.dialects import completions as dialect
from unigate.domain import request_models, tokens
from unigate.domain.errors import ArgumentsMismatch, BadRequest, UnigateError
from unigate.domain.money import format_credits
from unigate.domain.records import Caller
from unigate.domain.usage import Priced, Usage, from_openai
from unigate.gateway import chat
from unigate.infra.observability import get_logger
from unigate.providers.base import Adapter, UpstreamCall, UpstreamFailure, scrub


@dataclass
class Completion(chat.Prepared):
    # Called at the upstream's own /completions with the request as it came.
    native: bool = False
    # A translated request's prompts, echoed before each choice's text (`echo: true`).
    echo: dialect.Echo | None = None
    # A translated request of several prompts: one chat call each (the request bound to each prompt), and
    # the number of choices each prompt asks for.
    parts: list[chat.Prepared] = field(default_factory=list)
    n: int = 1

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
    # The choices each call answers with: the n sent (a provider without n drops it, and answers one).
    texts, n = dialect.text_prompts(request), int(prepared.body.get("n") or 1)
    completion = _as_completion(prepared, dropped=dropped, extra=extra, n=n,
                                echo=dialect.Echo(texts, n) if request.echo else None)
    if len(texts) > 1:
        _split(completion, texts)
    return completion


def _split(completion: Completion, texts: list[str]) -> None:
    """One chat call per prompt, each bound as chat binds a request (its own payload's worst case and input
    estimate); the attempt holds the sum of their worst cases."""
    parts = []
    for text in texts:
        part = chat.Prepared(**{f.name: getattr(completion, f.name) for f in fields(chat.Prepared)})
        # Each call asks for the usage chunk: it is where a part's usage is read back from.
        part.body, part.usage_chunk = {**completion.body, "messages": [{"role": "user", "content": text}]}, True
        chat.bound(part)
        parts.append(part)
    completion.parts = parts
    completion.worst_case_micros = sum(part.worst_case_micros for part in parts)
    completion.prompt_estimate = sum(part.prompt_estimate for part in parts)
    cap = int(completion.body.get("max_completion_tokens") or completion.body.get("max_tokens") or 0)
    completion.limit_tokens = completion.prompt_estimate + cap * completion.n * len(parts)


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
    if prepared.parts:
        result = await (_stream_parts(attempt, call) if prepared.stream else _complete_parts(attempt, call))
    else:
        result = await chat.run_attempt(attempt, call)
    if isinstance(result, chat.Streamed):
        return chat.Streamed(_legacy_events(result.chunks, dialect.StreamTranslator(prepared.echo)), result.headers)
    return chat.Completed(dialect.to_legacy(result.body, echo=prepared.echo), result.headers)


# ------------------------------------------------------------------------------------- several prompts
# Calls of one request made at once (the rest wait their turn), so a long list neither waits for each call in
# turn nor opens thousands of upstream requests together.
PARALLEL_PROMPTS = 8


class _Share(chat.Attempt):
    """One prompt's chat call inside the request's attempt: chat's attempt code runs it (usage, estimates,
    filters, scrubbing, failures), and its settle records the charge for the attempt's one settle."""

    def __init__(self, attempt: chat.Attempt, part: chat.Prepared) -> None:
        super().__init__(part, attempt.hold, attempt.key_id)
        self.tokens = (0, 0)
        self.details: dict[str, Decimal] = {}

    async def settle(self, cost_micros: int, measurement: Any, **recorded: Any) -> int:
        if self.charged is None:
            self.charged = max(cost_micros, 0)
            self.tokens = recorded.get("tokens") or (0, 0)
            self.details = dict(recorded.get("cost_details") or {})
        return self.charged


def _call_for(call: UpstreamCall, part: chat.Prepared, deadline: float) -> UpstreamCall:
    timeout = deadline - time.monotonic()
    if timeout <= 0:
        raise UpstreamFailure(None, "No time was left for the request's next prompt.", kind="timeout")
    return replace(call, body=part.body, timeout=timeout)


async def _settle_shares(attempt: chat.Attempt, shares: list[_Share], measurement: Any, *, outcome: str = "",
                         response: Any = None) -> int:
    """The attempt's one settle: the sum of what each prompt's call charged."""
    details = _details(shares)
    prompt = sum(share.tokens[0] for share in shares)
    completion = sum(share.tokens[1] for share in shares)
    charged = sum(share.charged or 0 for share in shares)
    return await attempt.settle(charged, measurement, outcome=outcome, tokens=(prompt, completion),
                                response=response, cost_details=details)


def _usage_of(usage: Any) -> Usage:
    return from_openai(usage) or Usage() if isinstance(usage, dict) else Usage()


def _total(usages: list[Usage]) -> Usage:
    return Usage(*(sum(getattr(u, name) for u in usages) for name in ("input", "cache_read", "cache_write_5m",
                                                                       "cache_write_1h", "output", "reasoning")))


def _produced_failure(attempt: chat.Attempt, failure: UpstreamFailure, credentials: dict[str, Any]) -> UnigateError:
    """A prompt's call failed after others were answered: those were produced and are billed, so the request
    is not tried again (as a stream is never retried after its first byte); the failure is the answer."""
    get_logger().warning("a prompt of several failed", extra={"endpoint": attempt.prepared.endpoint.name,
                                                             "kind": failure.kind})
    return chat.failure_to_error(scrub(failure, credentials), attempt.prepared.provider.name)


async def _complete_parts(attempt: chat.Attempt, call: UpstreamCall) -> chat.Completed:
    """The prompts' calls, several at a time; a failure starts no more of them. One that fails before any
    was answered refunds the attempt (retried or fallen back like any call); after some were answered,
    those are billed and the failure is the answer."""
    prepared = attempt.prepared
    assert isinstance(prepared, Completion)
    deadline = time.monotonic() + call.timeout
    shares = [_Share(attempt, part) for part in prepared.parts]
    answers: list[dict[str, Any] | None] = [None] * len(shares)
    failures: list[UpstreamFailure] = []
    gate = asyncio.Semaphore(PARALLEL_PROMPTS)

    async def run(index: int) -> None:
        async with gate:
            if failures:
                return
            share = shares[index]
            try:
                result = await chat.run_attempt(share, _call_for(call, share.prepared, deadline))
            except UpstreamFailure as failure:
                failures.append(failure)
                return
            assert isinstance(result, chat.Completed)
            answers[index] = result.body

    try:
        async with asyncio.TaskGroup() as group:
            for index in range(len(shares)):
                group.create_task(run(index))
    except BaseException as exc:
        # Cancelled (the client left) or broken: what the calls that ended produced is what is charged.
        await _settle_shares(attempt, shares, None)
        if isinstance(exc, BaseExceptionGroup):
            raise exc.exceptions[0] from None
        raise
    if failures:
        failure = failures[0]
        if not any(answers):
            await attempt.settle(0, attempt.measurement(chat.outcome_of(failure), 0))
            raise failure
        await _settle_shares(attempt, shares, attempt.measurement(chat.outcome_of(failure), 0))
        raise _produced_failure(attempt, failure, call.credentials)
    bodies = [answer for answer in answers if answer is not None]
    choices = [{**choice, "index": dialect.chat_index(p, choice.get("index", 0), prepared.n)}
               for p, body in enumerate(bodies) for choice in body.get("choices") or []]
    used = _total([_usage_of(body.get("usage")) for body in bodies])
    merged = {**bodies[0], "choices": choices}
    cost = sum(share.charged or 0 for share in shares)
    merged["usage"] = chat.usage_body(used, Priced(cost, _details(shares)), cost)
    charged = await _settle_shares(attempt, shares, attempt.measurement("ok", used.completion_tokens),
                                   response=merged)
    return chat.Completed(merged, {**prepared.headers, "x-unigate-cost": format_credits(charged)})


def _details(shares: list[_Share]) -> dict[str, Decimal]:
    details: dict[str, Decimal] = {}
    for share in shares:
        for name, amount in share.details.items():
            details[name] = details.get(name, Decimal(0)) + amount
    return details


async def _stream_parts(attempt: chat.Attempt, call: UpstreamCall) -> chat.Streamed:
    """The prompts' streams one after the other, as one stream: choices renumbered, each call's usage chunk
    kept back and their sum sent at the end (when the client asked), one settle of the sum."""
    prepared = attempt.prepared
    assert isinstance(prepared, Completion)
    deadline = time.monotonic() + call.timeout
    shares = [_Share(attempt, part) for part in prepared.parts]
    async with chat.refund_on_failure(attempt):  # before the first byte: refunded, retried or fallen back
        first = await chat.run_attempt(shares[0], _call_for(call, shares[0].prepared, deadline))
    assert isinstance(first, chat.Streamed)
    attempt.first_token = time.monotonic()
    return chat.Streamed(_relay_parts(attempt, shares, first.chunks, call, deadline),
                         {**prepared.headers, "cache-control": "no-cache"})


async def _relay_parts(attempt: chat.Attempt, shares: list[_Share], first: AsyncIterator[bytes], call: UpstreamCall,
                       deadline: float) -> AsyncIterator[bytes]:
    prepared = attempt.prepared
    assert isinstance(prepared, Completion)
    usages: list[Usage] = []
    produced: list[str] = []
    last: dict[str, Any] = {}
    current: AsyncIterator[bytes] | None = first
    started: list[_Share] = [shares[0]]
    try:
        for position, share in enumerate(shares):
            if current is None:
                try:
                    result = await chat.run_attempt(share, _call_for(call, share.prepared, deadline))
                except UpstreamFailure as failure:
                    started.append(share)  # settled 0 by chat: nothing of it was produced
                    await _settle_shares(attempt, started, attempt.measurement(chat.outcome_of(failure), 0),
                                         response="".join(produced))
                    error = _produced_failure(attempt, failure, call.credentials)
                    yield _sse({"error": {"message": error.message, "type": error.openai_type, "code": error.code,
                                          "param": None}})
                    return
                started.append(share)
                assert isinstance(result, chat.Streamed)
                current = result.chunks
            async for event in current:
                if not event.startswith(b"data: {"):
                    continue  # [DONE] of one call: the stream goes on with the next prompt
                chunk = json.loads(event[6:])
                if chunk.get("object") != "chat.completion.chunk":
                    # chat's relay settled the call and sent its error: the stream ends here
                    await _settle_shares(attempt, started, attempt.measurement("server_error", 0),
                                         response="".join(produced))
                    yield event
                    return
                if not chunk.get("choices") and isinstance(chunk.get("usage"), dict):
                    usages.append(_usage_of(chunk["usage"]))  # this call's, kept for the sum
                    last = chunk
                    continue
                for choice in chunk.get("choices") or []:
                    choice["index"] = dialect.chat_index(position, choice.get("index", 0), prepared.n)
                    content = (choice.get("delta") or {}).get("content")
                    if isinstance(content, str):
                        produced.append(content)
                last = chunk
                yield _sse(chunk)
            current = None
        used = _total(usages)
        charged = await _settle_shares(attempt, shares, attempt.measurement("ok", used.completion_tokens),
                                       response="".join(produced))
        if prepared.usage_chunk:
            yield _sse({"id": last.get("id"), "object": "chat.completion.chunk", "created": last.get("created"),
                        "model": prepared.endpoint.name, "choices": [],
                        "usage": chat.usage_body(used, Priced(charged, _details(shares)), charged)})
        yield b"data: [DONE]\n\n"
    finally:
        # A client leaving mid-stream: closing the current call's relay cancels its upstream request and
        # records what it produced; the attempt settles the sum of the calls that ran.
        if current is not None:
            with anyio.CancelScope(shield=True):
                await current.aclose()  # type: ignore[attr-defined]
        await _settle_shares(attempt, started, None, outcome="client_disconnected", response="".join(produced))


async def complete(plan: list[Completion], caller: Caller, *, remaining_ms: int | None = None
                   ) -> chat.Completed | chat.Streamed:
    result: chat.Completed | chat.Streamed = await chat.complete(list(plan), caller, remaining_ms=remaining_ms,
                                                                 runner=_attempt_with)
    return result
