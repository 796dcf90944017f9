"""Claude on Vertex AI over the shared transport: chat requests translated to Anthropic's format (as the
anthropic adapter does) in Vertex's envelope, and the Messages surface's pass-through.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

from unigate.providers.anthropic.adapter import Anthropic
from unigate.providers.anthropic.native import checked_count, checked_message, sse_events
from unigate.providers.anthropic.transformation import from_anthropic, to_anthropic
from unigate.providers.base import NativeEvent, UpstreamCall
from unigate.providers.upstream import open_stream, post_json
from unigate.providers.vertex_anthropic.transformation import count_tokens_url, headers, predict_url, to_vertex

WHO = "Vertex AI"


def _headers(call: UpstreamCall, forwarded: dict[str, str] | None = None) -> dict[str, str]:
    return headers(str(call.credentials.get("api_key", "")), forwarded or {})


class VertexAnthropic(Anthropic):
    def request_body(self, call: UpstreamCall, *, stream: bool) -> dict[str, Any]:
        return to_vertex(to_anthropic(call, stream=stream))

    async def complete(self, call: UpstreamCall) -> dict[str, Any]:
        answer = await post_json(predict_url(call.base_url(), call.endpoint.upstream, stream=False),
                                 self.request_body(call, stream=False), _headers(call), call.timeout)
        return from_anthropic(answer, call.endpoint.upstream)

    async def stream(self, call: UpstreamCall) -> AsyncIterator[dict[str, Any]]:
        async with open_stream(predict_url(call.base_url(), call.endpoint.upstream, stream=True),
                               self.request_body(call, stream=True), _headers(call), call.timeout) as response:
            async for item in self._translate(response, call.endpoint.upstream):
                yield item

    # The Messages surface's pass-through (unigate.providers.base.MessagesNative). Vertex has no `?beta=true`.
    async def messages_complete(self, call: UpstreamCall, body: dict[str, Any], forwarded: dict[str, str], *,
                                beta: bool = False) -> dict[str, Any]:
        answer = await post_json(predict_url(call.base_url(), body["model"], stream=False),
                                 to_vertex({**body, "stream": False}), _headers(call, forwarded), call.timeout)
        return checked_message(answer, WHO)

    async def messages_stream(self, call: UpstreamCall, body: dict[str, Any], forwarded: dict[str, str], *,
                              beta: bool = False) -> AsyncIterator[NativeEvent]:
        async with open_stream(predict_url(call.base_url(), body["model"], stream=True),
                               to_vertex({**body, "stream": True}), _headers(call, forwarded),
                               call.timeout) as response:
            async for item in sse_events(response, WHO):
                yield item

    async def messages_count_tokens(self, call: UpstreamCall, body: dict[str, Any], forwarded: dict[str, str], *,
                                    beta: bool = False) -> int | None:
        # Vertex's count-tokens takes the model in the body, beside Vertex's anthropic_version.
        answer = await post_json(count_tokens_url(call.base_url()), {**to_vertex(body), "model": body["model"]},
                                 _headers(call, forwarded), call.timeout)
        return checked_count(answer, WHO)
