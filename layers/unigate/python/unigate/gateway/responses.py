"""OpenAI's Responses API through the paid-request pipeline: a request is translated to the chat form
(unigate.dialects.openai_responses), checked and planned by chat.prepare, run by chat.complete (one
hold per attempt, retries, fallbacks, meta-providers, deployments), and its answer or stream translated
back. With `store` (the default) the response, its input items and the conversation so far are kept in
the caller's partition (unigate.stores.responses), so `previous_response_id` continues it and the
response can be read, listed and deleted; `store: false` keeps nothing.
"""

from __future__ import annotations

import json
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import anyio

from unigate.dialects import openai_responses as dialect
from unigate.domain import tokens
from unigate.domain.errors import BadRequest, NotFound
from unigate.domain.money import format_credits, micros_to_credits
from unigate.domain.records import Caller
from unigate.gateway import chat
from unigate.infra.observability import get_logger
from unigate.providers import adapter_for
from unigate.providers.base import StreamScrubber, UpstreamCall, UpstreamFailure, scrub, scrubbed, secrets_of
from unigate.providers.openai import responses as native
from unigate.stores import responses as store

MAX_LIST = 100


@dataclass
class Created:
    body: dict[str, Any]
    headers: dict[str, str]


@dataclass
class Streaming:
    chunks: AsyncIterator[bytes]
    headers: dict[str, str]


@dataclass
class _Run:
    """A checked request: what it continues, its own input items and the plan to run it."""

    request: dialect.ResponsesRequest
    response_id: str
    history: list[dict[str, Any]]
    items: list[dict[str, Any]]
    translated: dialect.Translated
    plan: list[chat.Prepared]
    # The attempts whose endpoint serves the Responses API natively: passed through, not translated.
    native: set[int]


def _not_found(response_id: str, *, param: str | None = None, code: str | None = None) -> NotFound:
    kind = "Previous response" if param else "Response"
    return NotFound(f"{kind} with id '{response_id}' not found.", param=param, code=code)


def _history(caller: Caller, previous: str | None) -> list[dict[str, Any]]:
    if previous is None:
        return []
    stored = store.get(caller.account_id, previous, parts=("conversation",))
    if stored is None:
        raise _not_found(previous, param="previous_response_id", code="previous_response_not_found")
    return list(stored["conversation"])


def _resolve(caller: Caller, history: list[dict[str, Any]], items: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The input with each `item_reference` replaced by the item it names: one of the conversation being
    continued, or of another of the caller's stored responses (found from the id, see dialect.item_id)."""
    known = {item.get("id"): item for item in history}
    read: dict[str, dict[str, Any]] = {}
    out = []
    for index, item in enumerate(items):
        if item["type"] != "item_reference":
            out.append(item)
            continue
        found = known.get(item["id"])
        response_id = dialect.response_of(item["id"])
        if found is None and response_id is not None:
            if response_id not in read:
                stored = store.get(caller.account_id, response_id, parts=("conversation",))
                read[response_id] = {i.get("id"): i for i in (stored or {}).get("conversation", [])}
            found = read[response_id].get(item["id"])
        if found is None:
            raise BadRequest(f"Item with id '{item['id']}' not found.", param=f"input[{index}].id")
        out.append(found)
    return out


def prepare(body: Any, caller: Caller) -> _Run:
    """Every check that can refuse the request, before any hold (chat.prepare's, on the translated body)."""
    request, sent = dialect.parse(body)
    history = _history(caller, request.previous_response_id)
    response_id = dialect.new_id("resp")
    items = _resolve(caller, history, dialect.input_items(request.input, response_id))
    translated = dialect.to_chat(request, sent, history, items)
    try:
        plan = chat.prepare(translated.body, caller)
    except BadRequest as exc:
        if exc.param == "max_tokens":  # the chat form's name for the request's own field
            raise BadRequest(exc.message.replace("'max_tokens'", "'max_output_tokens'"),
                             param="max_output_tokens") from None
        raise
    passed: set[int] = set()
    for prepared in plan:
        if serves_natively(prepared):
            cap = int(prepared.body.get("max_completion_tokens") or prepared.body.get("max_tokens") or 0)
            # The client's own request, whole: the conversation is unigate's, so it goes as input.
            prepared.body = {**{k: v for k, v in sent.items() if k not in NOT_PASSED},
                             "input": [_upstream_item(item) for item in [*history, *items]], "store": False}
            chat.cover(prepared, prepared.body, cap)  # the hold covers what is sent (input_file parts...)
            prepared.dropped = []
            passed.add(id(prepared))
            continue
        # Named as the request has them (the chat form's reasoning_effort is the request's reasoning.effort).
        dropped = (CHAT_NAMES.get(name, name) for name in prepared.dropped)
        prepared.dropped = sorted({*dropped, *translated.dropped})
        # Reasoning models refuse max_tokens; where the provider knows both, the newer name is sent.
        if "max_tokens" in prepared.body and "max_completion_tokens" in prepared.provider.params:
            prepared.body["max_completion_tokens"] = prepared.body.pop("max_tokens")
    return _Run(request, response_id, history, items, translated, plan, passed)


CHAT_NAMES = {"reasoning_effort": "reasoning.effort"}
# What a pass-through never sends: the gateway's own state and fields (unigate keeps the conversation).
NOT_PASSED = frozenset({"model", "input", "previous_response_id", "store", "stream"})


def _upstream_item(item: dict[str, Any]) -> dict[str, Any]:
    """An item as a pass-through sends it: without the ids unigate gave it, which the upstream never stored
    (a reasoning item keeps its own, which came from the upstream with its encrypted content)."""
    if item.get("type") == "reasoning":
        return item
    return {k: v for k, v in item.items() if k != "id"}


# The families whose adapter knows where the Responses API is (responses_url) and how to send it the key.
NATIVE_FAMILIES = frozenset({"openai", "azure-openai"})


def serves_natively(prepared: chat.Prepared) -> bool:
    """OpenAI and Azure OpenAI endpoints the catalog marks `"native": ["responses"]`, unless a deployment's
    output filter must read the answer (chat's relay applies it)."""
    flags = prepared.endpoint.native if prepared.endpoint.native is not None else prepared.provider.native
    return "responses" in flags and prepared.provider.family in NATIVE_FAMILIES and not prepared.output_filter


def _save(caller: Caller, run: _Run, response: dict[str, Any]) -> None:
    if run.request.stored and not store.put(caller.account_id, response, run.items,
                                           [*run.history, *run.items, *response["output"]]):
        # The answer is paid for and stands; only its copy is lost (documented in docs/api.md).
        get_logger().warning("response too large to store", extra={"response_id": response["id"]})


async def create(run: _Run, caller: Caller, *, remaining_ms: int | None = None) -> Created | Streaming:
    response_id = run.response_id
    result = await chat.complete(run.plan, caller, remaining_ms=remaining_ms,
                                 runner=_runner(run, caller, response_id) if run.native else None)
    if isinstance(result, Created | Streaming):  # passed through
        return result
    if isinstance(result, chat.Streamed):
        stream = dialect.EventStream(run.request, run.translated.names, response_id=response_id,
                                     model=result.headers.get("x-unigate-endpoint", run.request.model))
        return Streaming(_events(caller, run, stream, result.chunks), result.headers)
    completion = result.body
    output, finish = dialect.output_of(completion, run.translated.names, response_id,
                                       summary=dialect.summarized(run.request))
    status, incomplete = dialect.status_of(finish)
    response = dialect.response_object(run.request, response_id=response_id, model=str(completion.get("model")),
                                       created_at=int(completion.get("created") or time.time()), status=status,
                                       output=output, usage=dialect.usage(completion.get("usage")),
                                       incomplete=incomplete)
    _save(caller, run, response)
    return Created(response, result.headers)


def _chunk(raw: bytes) -> dict[str, Any] | None:
    """One event of chat's own stream (each is one `data:` line) as JSON, or None for [DONE]."""
    data = raw.removeprefix(b"data: ").strip()
    if not data or data == b"[DONE]":
        return None
    parsed = json.loads(data)
    return parsed if isinstance(parsed, dict) else None


_FAILURE_CODES = {"rate_limit_error": "rate_limit_exceeded"}


async def _events(caller: Caller, run: _Run, stream: dialect.EventStream, chunks: AsyncIterator[bytes]
                  ) -> AsyncIterator[bytes]:
    try:
        for event in stream.start():
            yield dialect.sse(event)
        async for raw in chunks:
            payload = _chunk(raw)
            if payload is None:
                continue
            error = payload.get("error")
            if isinstance(error, dict) and "choices" not in payload:
                # chat settled what was produced before it sent this; the stream ends typed, never bare
                ending = stream.failed(str(error.get("message") or "The upstream failed."),
                                       _FAILURE_CODES.get(str(error.get("type")), "server_error"))
                break
            for event in stream.feed(payload):
                yield dialect.sse(event)
        else:
            ending = stream.finished()
        assert stream.response is not None
        _save(caller, run, stream.response)
        for event in ending:
            yield dialect.sse(event)
    finally:
        # A client leaving mid-stream lands here: closing chat's stream cancels the upstream call and
        # settles what was produced.
        closer = getattr(chunks, "aclose", None)
        if closer is not None:
            with anyio.CancelScope(shield=True):
                await closer()


# ----------------------------------------------------------------------------------- pass-through
def _own(response: dict[str, Any], run: _Run, response_id: str, prepared: chat.Prepared) -> dict[str, Any]:
    """An upstream response as unigate's: its id, the endpoint as the model, the request's own state fields."""
    return {**response, "id": response_id, "model": prepared.endpoint.name,
            "previous_response_id": run.request.previous_response_id, "store": run.request.stored,
            "metadata": run.request.metadata or {}}


def _counts(prepared: chat.Prepared, usage: Any, produced: str) -> tuple[int, int]:
    """Input and output tokens from the upstream's usage, or the estimates without it."""
    usage = usage if isinstance(usage, dict) else {}
    prompt, completion = usage.get("input_tokens"), usage.get("output_tokens")
    if isinstance(prompt, int) and isinstance(completion, int) and not isinstance(prompt, bool):
        return prompt, completion
    return prepared.prompt_estimate, tokens.estimate(produced) if produced else 0


def _priced(response: dict[str, Any], charged: int) -> dict[str, Any]:
    usage = response.get("usage")
    if isinstance(usage, dict):
        response["usage"] = {**usage, "cost": micros_to_credits(charged)}
    return response


def _runner(run: _Run, caller: Caller, response_id: str) -> chat.Runner:
    async def runner(attempt: chat.Attempt, call: UpstreamCall) -> Any:
        prepared = attempt.prepared
        if id(prepared) not in run.native:
            return await chat.run_attempt(attempt, call)
        adapter = adapter_for(prepared.provider.family)
        url, headers = adapter.responses_url(call), adapter.headers(call)  # type: ignore[attr-defined]
        if prepared.stream:
            upstream = native.stream(call, url, headers).__aiter__()
            async with chat.refund_on_failure(attempt):  # before the first byte: retried or refunded
                first = await anext(upstream)
            attempt.first_token = time.monotonic()
            return Streaming(_passed_events(caller, run, response_id=response_id, attempt=attempt, upstream=upstream,
                                            first=first, credentials=call.credentials),
                             {**prepared.headers, "cache-control": "no-cache"})
        async with chat.refund_on_failure(attempt):
            answer = scrubbed(await native.complete(call, url, headers), secrets_of(call.credentials))
        prompt, completion = _counts(prepared, answer.get("usage"), dialect.output_text(answer["output"]))
        charged = await attempt.settle(prepared.cost(prompt, completion), attempt.measurement("ok", completion),
                                       tokens=(prompt, completion), response=answer)
        response = _priced(_own(answer, run, response_id, prepared), charged)
        _save(caller, run, response)
        return Created(response, {**prepared.headers, "x-unigate-cost": format_credits(charged)})

    return runner


def _channel(event: dict[str, Any]) -> tuple[Any, ...]:
    """Which text a delta event adds to: its kind (output_text, function_call_arguments...) and its place."""
    return (str(event.get("type", "")).removesuffix(".delta"), event.get("output_index"),
            event.get("content_index", event.get("summary_index")), event.get("item_id"))


def _held_deltas(scrubber: StreamScrubber, produced: list[str], done: dict[str, Any]) -> list[dict[str, Any]]:
    """Delta events with the text held back for the output item a `done` event is of (everything, for a terminal
    one): what could have begun a key did not."""
    out = []
    for channel in scrubber.channels():
        if done.get("type") in native.TERMINAL_EVENTS or channel[1] == done.get("output_index"):
            text = scrubber.flush(channel)
            produced.append(text)
            out.append({"type": f"{channel[0]}.delta", "output_index": channel[1], "item_id": channel[3],
                        "content_index": channel[2], "delta": text})
    return out


async def _passed_events(caller: Caller, run: _Run, *, response_id: str, attempt: chat.Attempt,
                         upstream: AsyncIterator[dict[str, Any]], first: dict[str, Any],
                         credentials: dict[str, Any]) -> AsyncIterator[bytes]:
    """The upstream's events as unigate's: renumbered from 0, its responses under unigate's id, the terminal
    one priced after the settle; a stream the upstream breaks ends in response.failed, billed for what came."""
    prepared = attempt.prepared
    sequence, produced = 0, []
    latest: dict[str, Any] = {"id": response_id, "object": "response", "status": "in_progress", "output": []}

    def emit(event: dict[str, Any]) -> bytes:
        nonlocal sequence
        event = {**event, "sequence_number": sequence}
        sequence += 1
        return dialect.sse(event)

    async def events() -> AsyncIterator[dict[str, Any]]:
        yield first
        async for item in upstream:
            yield item

    secrets = secrets_of(credentials)
    scrubber = StreamScrubber(secrets)  # the call's credentials never reach the client, split or not (issue #29)
    try:
        async for received in events():
            event = scrubbed(received, secrets)
            if isinstance(event.get("delta"), str):
                event = {**event, "delta": scrubber.feed(_channel(event), event["delta"])}
                produced.append(event["delta"])
            elif str(event.get("type", "")).endswith(".done") or event.get("type") in native.TERMINAL_EVENTS:
                for held in _held_deltas(scrubber, produced, event):
                    yield emit(held)
            if isinstance(event.get("response"), dict):
                latest = _own(event["response"], run, response_id, prepared)
                event = {**event, "response": latest}
            if event["type"] in native.TERMINAL_EVENTS:
                prompt, completion = _counts(prepared, latest.get("usage"), "".join(produced))
                charged = await attempt.settle(prepared.cost(prompt, completion),
                                               attempt.measurement("ok", completion), tokens=(prompt, completion),
                                               response=latest)
                event = {**event, "response": _priced(latest, charged)}
                _save(caller, run, event["response"])
            yield emit(event)
    except UpstreamFailure as failure:
        prompt, completion = _counts(prepared, None, "".join(produced))
        charged = await attempt.settle(prepared.cost(prompt, completion) if produced else 0,
                                       attempt.measurement(chat.outcome_of(failure), completion),
                                       tokens=(prompt, completion) if produced else (0, 0))
        error = chat.failure_to_error(scrub(failure, credentials), prepared.provider.name)
        failed = {**latest, "status": "failed", "error": {"code": "server_error", "message": error.message},
                  "usage": None}
        get_logger().warning("stream failed", extra={"endpoint": prepared.endpoint.name, "kind": failure.kind,
                                                     "charged": charged})
        _save(caller, run, failed)
        yield emit({"type": "response.failed", "response": failed})
    finally:
        # A client leaving mid-stream: the upstream request is cancelled, and what came is billed.
        closer = getattr(upstream, "aclose", None)
        if closer is not None:
            with anyio.CancelScope(shield=True):
                await closer()
        prompt, completion = _counts(prepared, None, "".join(produced))
        await attempt.settle(prepared.cost(prompt, completion) if produced else 0, None,
                             outcome="client_disconnected", tokens=(prompt, completion) if produced else (0, 0))


# ----------------------------------------------------------------------------------- stored responses
def retrieve(caller: Caller, response_id: str, *, stream: bool = False) -> dict[str, Any]:
    stored = store.get(caller.account_id, response_id, parts=("response",))
    if stored is None:
        raise _not_found(response_id)
    if stream:
        # OpenAI streams a stored response again only while a background one runs; unigate runs none.
        raise BadRequest("Only responses created with background=true can be streamed after creation; "
                         "this response is complete: retrieve it without stream.", param="stream")
    return dict(stored["response"])


def cancel(caller: Caller, response_id: str) -> dict[str, Any]:
    """OpenAI's answer for a response that was not created in the background, which every unigate response is
    (the caller's own; another's is not found)."""
    if store.get(caller.account_id, response_id, parts=()) is None:
        raise _not_found(response_id)
    raise BadRequest("Only responses created with background=true can be cancelled.")


def delete(caller: Caller, response_id: str) -> dict[str, Any]:
    if not store.delete(caller.account_id, response_id):
        raise _not_found(response_id)
    return {"id": response_id, "object": "response", "deleted": True}


def input_items(caller: Caller, response_id: str, *, after: str | None = None, before: str | None = None,
                limit: int = 20, order: str = "desc") -> dict[str, Any]:
    """The response's input items as OpenAI lists them: newest first unless order is asc, paged by item id."""
    if not 1 <= limit <= MAX_LIST:
        raise BadRequest(f"'limit' must be between 1 and {MAX_LIST}.", param="limit")
    if order not in ("asc", "desc"):
        raise BadRequest("'order' is asc or desc.", param="order")
    stored = store.get(caller.account_id, response_id, parts=("input_items",))
    if stored is None:
        raise _not_found(response_id)
    items = list(stored["input_items"])
    if order == "desc":
        items.reverse()
    ids = [item.get("id") for item in items]
    for cursor, name in ((after, "after"), (before, "before")):
        if cursor is not None and cursor not in ids:
            raise BadRequest(f"No input item with id '{cursor}'.", param=name)
    if after is not None:
        items = items[ids.index(after) + 1:]
    if before is not None:
        items = items[:[item.get("id") for item in items].index(before)] if before in [
            item.get("id") for item in items] else []
    page = items[:limit]
    return {"object": "list", "data": page, "first_id": page[0]["id"] if page else None,
            "last_id": page[-1]["id"] if page else None, "has_more": len(items) > limit}


def input_tokens(body: Any, caller: Caller) -> dict[str, Any]:
    """What a request's input counts (unigate's estimate, as it bills when a provider reports none)."""
    from unigate.domain.request_models import parse

    request = parse(dialect.InputTokensRequest, body)
    history = _history(caller, request.previous_response_id)
    items = _resolve(caller, history, dialect.input_items(request.input))
    names = dialect.ToolNames()
    messages = dialect.to_messages([*history, *items], names, instructions=request.instructions,
                                   stored=len(history))
    tools = dialect.tools_of(request.tools or [], names, [])
    return {"object": "response.input_tokens", "input_tokens": tokens.prompt_estimate(messages, tools or None)}
