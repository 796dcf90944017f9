"""The built-in `echo` provider: replies with the last user message, streams it word by word, and
reports real token counts (by unigate's estimator), so the local server and load tests need no network.
"""

from __future__ import annotations

import re
import time
from collections.abc import AsyncIterator
from typing import Any

from unigate import tokens
from unigate.providers.base import UpstreamCall, chunk, completion_id, usage

_PIECES = re.compile(r"\S+\s*|\s+")


def _reply(call: UpstreamCall) -> str:
    for message in reversed(call.body.get("messages", [])):
        if message.get("role") == "user":
            content = message.get("content")
            if isinstance(content, str):
                return content
            if isinstance(content, list):
                return "".join(p.get("text", "") for p in content if isinstance(p, dict) and p.get("type") == "text")
    return ""


def _truncate(pieces: list[str], limit: int) -> tuple[list[str], str]:
    return (pieces[:limit], "length") if len(pieces) > limit else (pieces, "stop")


class Echo:
    async def complete(self, call: UpstreamCall) -> dict[str, Any]:
        pieces, finish = _truncate(_PIECES.findall(_reply(call)), call.max_tokens)
        text = "".join(pieces)
        prompt = tokens.prompt_estimate(call.body.get("messages", []))
        return {
            "id": completion_id(),
            "object": "chat.completion",
            "created": int(time.time()),
            "model": call.endpoint.upstream,
            "choices": [{"index": 0, "message": {"role": "assistant", "content": text}, "finish_reason": finish,
                         "logprobs": None}],
            "usage": usage(prompt, len(pieces)),
        }

    async def stream(self, call: UpstreamCall) -> AsyncIterator[dict[str, Any]]:
        pieces, finish = _truncate(_PIECES.findall(_reply(call)), call.max_tokens)
        chunk_id, model = completion_id(), call.endpoint.upstream
        yield chunk(chunk_id, model, {"role": "assistant", "content": ""})
        for piece in pieces:
            yield chunk(chunk_id, model, {"content": piece})
        yield chunk(chunk_id, model, {}, finish_reason=finish)
        yield chunk(chunk_id, model, usage=usage(tokens.prompt_estimate(call.body.get("messages", [])), len(pieces)))
