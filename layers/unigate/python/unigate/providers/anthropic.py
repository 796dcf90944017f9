"""Anthropic's Messages API (POST /v1/messages), to and from OpenAI's chat shapes.

Request: system and developer messages become `system`; tool results become user `tool_result`
blocks; consecutive messages of one role are merged (Anthropic requires alternating turns); tools and
tool_choice are translated. Response and stream: text and tool_use blocks become content and
tool_calls, stop reasons become finish reasons, usage becomes OpenAI usage.
"""

from __future__ import annotations

import json
import time
from collections.abc import AsyncIterator
from typing import Any

from unigate.providers.base import UpstreamCall, UpstreamFailure
from unigate.providers.messages import merge_turn, stop_sequences, tool_arguments
from unigate.providers.openai_format import chunk, completion_id, usage
from unigate.providers.upstream import open_stream, parse_json, post_json, sse_data

API_VERSION = "2023-06-01"
FINISH = {"end_turn": "stop", "stop_sequence": "stop", "max_tokens": "length", "tool_use": "tool_calls",
          "pause_turn": "stop", "refusal": "content_filter"}


def _image_block(url: str) -> dict[str, Any]:
    if url.startswith("data:") and ";base64," in url:
        media_type, _, data = url[5:].partition(";base64,")
        return {"type": "image", "source": {"type": "base64", "media_type": media_type, "data": data}}
    return {"type": "image", "source": {"type": "url", "url": url}}


def _blocks(content: Any) -> list[dict[str, Any]]:
    if content is None:
        return []
    if isinstance(content, str):
        return [{"type": "text", "text": content}] if content else []
    blocks = []
    for part in content:
        if part.get("type") == "text":
            blocks.append({"type": "text", "text": part.get("text", "")})
        elif part.get("type") == "image_url":
            blocks.append(_image_block((part.get("image_url") or {}).get("url", "")))
    return blocks


def _text(content: Any) -> str:
    return "".join(b["text"] for b in _blocks(content) if b["type"] == "text")


def _tool_choice(choice: Any, parallel: Any) -> dict[str, Any] | None:
    if choice is None and parallel is None:
        return None
    if choice in (None, "auto"):
        out: dict[str, Any] = {"type": "auto"}
    elif choice == "required":
        out = {"type": "any"}
    elif choice == "none":
        return {"type": "none"}
    elif isinstance(choice, dict):
        out = {"type": "tool", "name": (choice.get("function") or {}).get("name", "")}
    else:
        out = {"type": "auto"}
    if parallel is False:
        out["disable_parallel_tool_use"] = True
    return out


def to_anthropic(call: UpstreamCall, *, stream: bool) -> dict[str, Any]:
    body = call.body
    system: list[str] = []
    turns: list[dict[str, Any]] = []


    for message in body["messages"]:
        role = message["role"]
        if role in ("system", "developer"):
            system.append(_text(message.get("content")))
        elif role == "user":
            merge_turn(turns, "user", _blocks(message.get("content")))
        elif role == "assistant":
            blocks = _blocks(message.get("content"))
            for tool_call in message.get("tool_calls") or []:
                blocks.append({"type": "tool_use", "id": tool_call.get("id", ""),
                               "name": (tool_call.get("function") or {}).get("name", ""),
                               "input": tool_arguments(tool_call)})
            merge_turn(turns, "assistant", blocks)
        elif role in ("tool", "function"):
            merge_turn(turns, "user", [{"type": "tool_result", "tool_use_id": message.get("tool_call_id", ""),
                                        "content": _text(message.get("content"))}])

    out: dict[str, Any] = {"model": call.endpoint.upstream, "max_tokens": call.max_tokens, "messages": turns}
    if system:
        out["system"] = "\n\n".join(s for s in system if s)
    for ours, theirs in (("temperature", "temperature"), ("top_p", "top_p")):
        if body.get(ours) is not None:
            out[theirs] = body[ours]
    if stop_sequences(body):
        out["stop_sequences"] = stop_sequences(body)
    if body.get("tools"):
        out["tools"] = [
            {"name": t["function"]["name"], "description": t["function"].get("description", ""),
             "input_schema": t["function"].get("parameters") or {"type": "object", "properties": {}}}
            for t in body["tools"] if t.get("type", "function") == "function"
        ]
    choice = _tool_choice(body.get("tool_choice"), body.get("parallel_tool_calls"))
    if choice and body.get("tools"):
        out["tool_choice"] = choice
    if body.get("user"):
        out["metadata"] = {"user_id": str(body["user"])}
    if stream:
        out["stream"] = True
    return {**out, **call.extra}


def _usage(raw: dict[str, Any]) -> dict[str, int]:
    prompt = int(raw.get("input_tokens") or 0) + int(raw.get("cache_creation_input_tokens") or 0) + int(
        raw.get("cache_read_input_tokens") or 0
    )
    return usage(prompt, int(raw.get("output_tokens") or 0))


def from_anthropic(body: dict[str, Any], model: str) -> dict[str, Any]:
    text, tool_calls = [], []
    for block in body.get("content") or []:
        if block.get("type") == "text":
            text.append(block.get("text", ""))
        elif block.get("type") == "tool_use":
            tool_calls.append({"id": block.get("id"), "type": "function",
                               "function": {"name": block.get("name"),
                                            "arguments": json.dumps(block.get("input", {}))}})
    message: dict[str, Any] = {"role": "assistant", "content": "".join(text) if text or not tool_calls else None}
    if tool_calls:
        message["tool_calls"] = tool_calls
    return {
        "id": body.get("id") or completion_id(),
        "object": "chat.completion",
        "created": int(time.time()),
        "model": model,
        "choices": [{"index": 0, "message": message, "finish_reason": FINISH.get(body.get("stop_reason") or "", "stop"),
                     "logprobs": None}],
        "usage": _usage(body.get("usage") or {}),
    }


class Anthropic:
    def _headers(self, call: UpstreamCall) -> dict[str, str]:
        return {"x-api-key": str(call.credentials.get("api_key", "")), "anthropic-version": API_VERSION}

    async def complete(self, call: UpstreamCall) -> dict[str, Any]:
        body = await post_json(f"{call.base_url()}/messages", to_anthropic(call, stream=False), self._headers(call),
                               call.timeout)
        return from_anthropic(body, call.endpoint.upstream)

    async def stream(self, call: UpstreamCall) -> AsyncIterator[dict[str, Any]]:
        async with open_stream(f"{call.base_url()}/messages", to_anthropic(call, stream=True), self._headers(call),
                               call.timeout) as response:
            async for item in self._translate(response, call.endpoint.upstream):
                yield item

    async def _translate(self, response: Any, model: str) -> AsyncIterator[dict[str, Any]]:
        chunk_id, completion_tokens = completion_id(), 0
        prompt_usage: dict[str, Any] = {}
        tool_index: dict[int, int] = {}  # Anthropic content block index -> OpenAI tool_calls index
        stopped = False
        async for event, data in sse_data(response):
            payload = parse_json(data)
            kind = payload.get("type", event)
            if kind == "message_start":
                message = payload.get("message") or {}
                chunk_id = message.get("id") or chunk_id
                prompt_usage = message.get("usage") or {}
                yield chunk(chunk_id, model, {"role": "assistant", "content": ""})
            elif kind == "content_block_start":
                block = payload.get("content_block") or {}
                if block.get("type") == "tool_use":
                    position = tool_index.setdefault(payload.get("index", 0), len(tool_index))
                    yield chunk(chunk_id, model, {"tool_calls": [{
                        "index": position, "id": block.get("id"), "type": "function",
                        "function": {"name": block.get("name"), "arguments": ""}}]})
                elif block.get("type") == "text" and block.get("text"):
                    yield chunk(chunk_id, model, {"content": block["text"]})
            elif kind == "content_block_delta":
                delta = payload.get("delta") or {}
                if delta.get("type") == "text_delta":
                    yield chunk(chunk_id, model, {"content": delta.get("text", "")})
                elif delta.get("type") == "input_json_delta":
                    position = tool_index.get(payload.get("index", 0), 0)
                    yield chunk(chunk_id, model, {"tool_calls": [{
                        "index": position, "function": {"arguments": delta.get("partial_json", "")}}]})
            elif kind == "message_delta":
                completion_tokens = int((payload.get("usage") or {}).get("output_tokens") or completion_tokens)
                reason = (payload.get("delta") or {}).get("stop_reason")
                if reason:
                    yield chunk(chunk_id, model, {}, finish_reason=FINISH.get(reason, "stop"))
            elif kind == "message_stop":
                stopped = True
                final = _usage({**prompt_usage, "output_tokens": completion_tokens})
                yield chunk(chunk_id, model, usage=final)
                break
            elif kind == "error":
                error = payload.get("error") or {}
                status = 429 if error.get("type") == "rate_limit_error" else 529 if error.get(
                    "type") == "overloaded_error" else None
                raise UpstreamFailure(status, f"Anthropic error mid-stream: {error.get('message', error)}",
                                      kind="protocol")
        if not stopped:
            raise UpstreamFailure(None, "The Anthropic stream ended before message_stop.", kind="protocol")


# --------------------------------------------------------------------------- native pass-through
# The Messages surface (unigate.gateway.messages) sends a client's Messages body to Anthropic as it is: the
# client's anthropic-version and anthropic-beta go with it, and the answer comes back untranslated.
def native_headers(call: UpstreamCall, forwarded: dict[str, str]) -> dict[str, str]:
    headers = {"x-api-key": str(call.credentials.get("api_key", "")), "anthropic-version": API_VERSION}
    headers.update(forwarded)
    return headers


def _native_url(call: UpstreamCall, path: str, beta: bool) -> str:
    return f"{call.base_url()}/{path}" + ("?beta=true" if beta else "")


async def native_complete(call: UpstreamCall, body: dict[str, Any], headers: dict[str, str], *,
                          beta: bool = False) -> dict[str, Any]:
    answer = await post_json(_native_url(call, "messages", beta), {**body, "stream": False}, headers, call.timeout)
    if not isinstance(answer, dict) or answer.get("type") != "message":
        raise UpstreamFailure(None, "Anthropic answered something that is not a message.", kind="protocol")
    return answer


async def native_stream(call: UpstreamCall, body: dict[str, Any], headers: dict[str, str], *,
                        beta: bool = False) -> AsyncIterator[tuple[str, str, dict[str, Any]]]:
    """(event name, its data as sent, the data parsed) for each event of the stream."""
    async with open_stream(_native_url(call, "messages", beta), {**body, "stream": True}, headers,
                           call.timeout) as response:
        async for event, data in sse_data(response):
            payload = parse_json(data)
            if not isinstance(payload, dict):
                raise UpstreamFailure(None, "The Anthropic stream sent an event that is not an object.",
                                      kind="protocol")
            yield str(payload.get("type") or event or ""), data, payload


async def native_count_tokens(call: UpstreamCall, body: dict[str, Any], headers: dict[str, str], *,
                              beta: bool = False) -> int:
    answer = await post_json(_native_url(call, "messages/count_tokens", beta), body, headers, call.timeout)
    counted = answer.get("input_tokens") if isinstance(answer, dict) else None
    if not isinstance(counted, int) or isinstance(counted, bool) or counted < 0:
        raise UpstreamFailure(None, "Anthropic's count_tokens answered no count.", kind="protocol")
    return counted
