"""A fake Bedrock runtime on 127.0.0.1 for ConverseStream: AWS's binary event-stream encoding over real
HTTP, decoded by botocore's own parser (Stubber cannot fake event streams).

With Claude's `thinking` in additionalModelRequestFields, the stream opens with reasoningContent deltas
("thinking it over"). Scripted by the last user message like tests/fakes/upstream.py: "scenario:tool",
"scenario:throttle" (an in-stream throttlingException after one chunk), "scenario:truncate" (no
messageStop), "scenario:cached" (cache reads and writes in the usage); otherwise "fake reply to: <text>"
word by word with usage metadata.
"""

from __future__ import annotations

import json
import struct
import zlib
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

# Converse's usage with cache reads and writes beside the input ("scenario:cached").
CACHED_USAGE = {"inputTokens": 400, "cacheReadInputTokens": 600, "cacheWriteInputTokens": 100, "outputTokens": 50,
                "totalTokens": 1150}


def _header(name: str, value: str) -> bytes:
    raw_name, raw_value = name.encode(), value.encode()
    return bytes([len(raw_name)]) + raw_name + bytes([7]) + struct.pack(">H", len(raw_value)) + raw_value


def message(headers: dict[str, str], payload: dict[str, Any]) -> bytes:
    """One event-stream message: prelude (lengths + CRC), headers, payload, message CRC."""
    head = b"".join(_header(k, v) for k, v in headers.items())
    body = json.dumps(payload).encode()
    total = 12 + len(head) + len(body) + 4
    prelude = struct.pack(">II", total, len(head))
    prelude += struct.pack(">I", zlib.crc32(prelude) & 0xFFFFFFFF)
    without_crc = prelude + head + body
    return without_crc + struct.pack(">I", zlib.crc32(without_crc) & 0xFFFFFFFF)


def event(kind: str, payload: dict[str, Any]) -> bytes:
    return message({":event-type": kind, ":content-type": "application/json", ":message-type": "event"}, payload)


def exception(kind: str, text: str) -> bytes:
    return message(
        {":exception-type": kind, ":content-type": "application/json", ":message-type": "exception"}, {"message": text}
    )


def build(received: list[dict[str, Any]]) -> Starlette:
    async def converse_stream(request: Request) -> Response:
        body = await request.json()
        received.append({"path": request.url.path, "body": body})
        text = "".join(b.get("text", "") for b in body["messages"][-1]["content"])
        words = f"fake reply to: {text}".split(" ")
        words = [w + (" " if i < len(words) - 1 else "") for i, w in enumerate(words)]
        frames = [event("messageStart", {"role": "assistant"})]
        if "thinking" in (body.get("additionalModelRequestFields") or {}):  # Claude thinks first
            frames += [event("contentBlockDelta", {"contentBlockIndex": 0, "delta": {"reasoningContent": part}})
                       for part in ({"text": "thinking "}, {"text": "it over"}, {"signature": "c2ln"})]
            frames.append(event("contentBlockStop", {"contentBlockIndex": 0}))
        if text == "scenario:tool":
            frames += [
                event(
                    "contentBlockStart",
                    {"contentBlockIndex": 0, "start": {"toolUse": {"toolUseId": "tu_1", "name": "get_weather"}}},
                ),
                event("contentBlockDelta", {"contentBlockIndex": 0, "delta": {"toolUse": {"input": '{"city":'}}}),
                event("contentBlockDelta", {"contentBlockIndex": 0, "delta": {"toolUse": {"input": '"Paris"}'}}}),
                event("contentBlockStop", {"contentBlockIndex": 0}),
                event("messageStop", {"stopReason": "tool_use"}),
            ]
        else:
            frames += [event("contentBlockDelta", {"contentBlockIndex": 0, "delta": {"text": w}}) for w in words]
            if text == "scenario:throttle":
                frames = [*frames[:2], exception("throttlingException", "Too many requests")]
            elif text == "scenario:truncate":
                frames = frames[:3]
            else:
                frames += [
                    event("contentBlockStop", {"contentBlockIndex": 0}),
                    event("messageStop", {"stopReason": "end_turn"}),
                ]
        if text not in ("scenario:throttle", "scenario:truncate"):
            frames.append(
                event(
                    "metadata",
                    {
                        "usage": CACHED_USAGE if text == "scenario:cached" else
                        {"inputTokens": 11, "outputTokens": len(words), "totalTokens": 11 + len(words)},
                        "metrics": {"latencyMs": 7},
                    },
                )
            )
        return Response(b"".join(frames), media_type="application/vnd.amazon.eventstream")

    return Starlette(routes=[Route("/model/{model_id:path}/converse-stream", converse_stream, methods=["POST"])])
