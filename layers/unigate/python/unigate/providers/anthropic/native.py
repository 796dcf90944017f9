"""Native pass-through for the Messages surface (unigate.gateway.messages): a client's Messages body goes
to Anthropic as it is, with the client's anthropic-version and anthropic-beta, and the answer comes
back untranslated. The answer and event checks here are shared with Claude on Vertex AI, which answers
in Anthropic's own shapes.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

from unigate.providers.anthropic.transformation import API_VERSION
from unigate.providers.base import NativeEvent, UpstreamCall, UpstreamFailure
from unigate.providers.upstream import open_stream, parse_json, post_json, sse_data


def native_headers(call: UpstreamCall, forwarded: dict[str, str]) -> dict[str, str]:
    headers = {"x-api-key": str(call.credentials.get("api_key", "")), "anthropic-version": API_VERSION}
    headers.update(forwarded)
    return headers


def _native_url(call: UpstreamCall, path: str, beta: bool) -> str:
    return f"{call.base_url()}/{path}" + ("?beta=true" if beta else "")


def checked_message(answer: Any, who: str = "Anthropic") -> dict[str, Any]:
    if not isinstance(answer, dict) or answer.get("type") != "message":
        raise UpstreamFailure(None, f"{who} answered something that is not a message.", kind="protocol")
    return answer


def checked_count(answer: Any, who: str = "Anthropic") -> int:
    counted = answer.get("input_tokens") if isinstance(answer, dict) else None
    if not isinstance(counted, int) or isinstance(counted, bool) or counted < 0:
        raise UpstreamFailure(None, f"{who}'s count_tokens answered no count.", kind="protocol")
    return counted


async def sse_events(response: Any, who: str = "Anthropic") -> AsyncIterator[NativeEvent]:
    """(event name, its data as sent, the data parsed) for each event of an Anthropic event stream."""
    async for event, data in sse_data(response):
        payload = parse_json(data)
        if not isinstance(payload, dict):
            raise UpstreamFailure(None, f"The {who} stream sent an event that is not an object.", kind="protocol")
        yield str(payload.get("type") or event or ""), data, payload


async def native_complete(call: UpstreamCall, body: dict[str, Any], forwarded: dict[str, str], *,
                          beta: bool = False) -> dict[str, Any]:
    answer = await post_json(_native_url(call, "messages", beta), {**body, "stream": False},
                             native_headers(call, forwarded), call.timeout)
    return checked_message(answer)


async def native_stream(call: UpstreamCall, body: dict[str, Any], forwarded: dict[str, str], *,
                        beta: bool = False) -> AsyncIterator[NativeEvent]:
    async with open_stream(_native_url(call, "messages", beta), {**body, "stream": True},
                           native_headers(call, forwarded), call.timeout) as response:
        async for item in sse_events(response):
            yield item


async def native_count_tokens(call: UpstreamCall, body: dict[str, Any], forwarded: dict[str, str], *,
                              beta: bool = False) -> int:
    answer = await post_json(_native_url(call, "messages/count_tokens", beta), body,
                             native_headers(call, forwarded), call.timeout)
    return checked_count(answer)
