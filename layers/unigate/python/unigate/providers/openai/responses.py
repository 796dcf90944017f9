"""OpenAI's Responses API, passed through to an upstream that serves it natively (the catalog's
`"native": ["responses"]`): the request as the client sent it, the response and the events as the
upstream sends them. Pure request and stream handling over the shared transport; where to send it and
with which key header is the provider adapter's (`responses_url`, `headers`): OpenAI's `/responses`,
Azure OpenAI's `/openai/responses`."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

from unigate.providers.base import UpstreamCall, UpstreamFailure
from unigate.providers.upstream import open_stream, parse_json, post_json, sse_data

TERMINAL_EVENTS = frozenset({"response.completed", "response.incomplete", "response.failed"})


def _payload(call: UpstreamCall, *, stream: bool) -> dict[str, Any]:
    return {**call.body, "model": call.endpoint.upstream, "stream": stream}


async def complete(call: UpstreamCall, url: str, headers: dict[str, str]) -> dict[str, Any]:
    body = await post_json(url, _payload(call, stream=False), headers, call.timeout)
    if not isinstance(body, dict) or body.get("object") != "response" or not isinstance(body.get("output"), list):
        raise UpstreamFailure(None, "The upstream's answer is not a response.", kind="protocol")
    return body


async def stream(call: UpstreamCall, url: str, headers: dict[str, str]) -> AsyncIterator[dict[str, Any]]:
    """The upstream's events up to its terminal one; a stream that ends before it fails."""
    async with open_stream(url, _payload(call, stream=True), headers, call.timeout) as response:
        async for _, data in sse_data(response):
            event = parse_json(data)
            if not isinstance(event, dict) or not isinstance(event.get("type"), str):
                raise UpstreamFailure(None, "The upstream sent an event that is not a Responses event.",
                                      kind="protocol")
            if event["type"] == "error":
                raise UpstreamFailure(None, f"Upstream error mid-stream: {event.get('message')}", kind="protocol")
            yield event
            if event["type"] in TERMINAL_EVENTS:
                return
    raise UpstreamFailure(None, "The upstream stream ended before its terminal event.", kind="protocol")
