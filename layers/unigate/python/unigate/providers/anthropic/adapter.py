"""Anthropic's Messages API as a chat adapter: the calls over the shared transport, and its stream
events translated to chat chunks as they arrive.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

from unigate.providers.anthropic import native
from unigate.providers.anthropic.transformation import API_VERSION, FINISH, from_anthropic, to_anthropic, usage_of
from unigate.providers.base import NativeEvent, UpstreamCall, UpstreamFailure
from unigate.providers.openai_format import chunk, completion_id
from unigate.providers.upstream import open_stream, parse_json, post_json, sse_data


class Anthropic:
    def request_body(self, call: UpstreamCall, *, stream: bool) -> dict[str, Any]:
        return to_anthropic(call, stream=stream)

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

    # The Messages surface's pass-through (unigate.providers.base.MessagesNative).
    async def messages_complete(self, call: UpstreamCall, body: dict[str, Any], forwarded: dict[str, str], *,
                                beta: bool = False) -> dict[str, Any]:
        return await native.native_complete(call, body, forwarded, beta=beta)

    def messages_stream(self, call: UpstreamCall, body: dict[str, Any], forwarded: dict[str, str], *,
                        beta: bool = False) -> AsyncIterator[NativeEvent]:
        return native.native_stream(call, body, forwarded, beta=beta)

    async def messages_count_tokens(self, call: UpstreamCall, body: dict[str, Any], forwarded: dict[str, str], *,
                                    beta: bool = False) -> int | None:
        return await native.native_count_tokens(call, body, forwarded, beta=beta)

    async def _translate(self, response: Any, model: str) -> AsyncIterator[dict[str, Any]]:
        chunk_id, completion_tokens = completion_id(), 0
        prompt_usage: dict[str, Any] = {}
        tool_index: dict[int, int] = {}  # Anthropic content block index -> OpenAI tool_calls index
        stopped = False
        async for event, data in sse_data(response):
            payload = parse_json(data)
            if not isinstance(payload, dict):
                raise UpstreamFailure(None, "Anthropic sent an event that is not an object.", kind="protocol")
            kind = payload.get("type", event)
            if kind == "message_start":
                started = payload.get("message")
                message: dict[str, Any] = started if isinstance(started, dict) else {}
                chunk_id = message.get("id") or chunk_id
                reported_usage = message.get("usage")
                prompt_usage = reported_usage if isinstance(reported_usage, dict) else {}
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
                reported = payload.get("usage")
                delta_usage: dict[str, Any] = reported if isinstance(reported, dict) else {}
                # Invalid counts are passed on for the gateway to replace with its estimate.
                completion_tokens = delta_usage.get("output_tokens") or completion_tokens
                # message_delta's usage is cumulative and may restate the input and cache counts.
                prompt_usage = {**prompt_usage, **{k: v for k, v in delta_usage.items()
                                                   if k != "output_tokens" and v is not None}}
                reason = (payload.get("delta") or {}).get("stop_reason")
                if reason:
                    yield chunk(chunk_id, model, {}, finish_reason=FINISH.get(reason, "stop"))
            elif kind == "message_stop":
                stopped = True
                final = usage_of({**prompt_usage, "output_tokens": completion_tokens})
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
