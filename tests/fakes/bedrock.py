"""A fake Bedrock runtime on 127.0.0.1 for ConverseStream, and for InvokeModel and
InvokeModelWithResponseStream with Claude's Anthropic Messages body: AWS's binary event-stream encoding over
real HTTP, decoded by botocore's own parser (Stubber cannot fake event streams). The invoke routes check
Bedrock's envelope (no `model`, no `stream`, `anthropic_version: bedrock-2023-05-31`) and answer Anthropic's
message, or Anthropic's events base64-encoded in each `chunk`'s `bytes`, Bedrock's invocation metrics in
the last; "scenario:cached" reports cache reads and writes (5 m and 1 h), "scenario:metrics" reports the
input tokens only in the response headers (InvokeModel) or the invocation metrics (a stream whose
message_start has no usage), "scenario:throttle" fails mid-stream.

With Claude's `thinking` in additionalModelRequestFields, the stream opens with reasoningContent deltas
("thinking it over"). Scripted by the last user message like tests/fakes/upstream.py: "scenario:tool",
"scenario:throttle" (an in-stream throttlingException after one chunk), "scenario:truncate" (no
messageStop), "scenario:cached" (cache reads and writes in the usage); otherwise "fake reply to: <text>"
word by word with usage metadata.
"""

from __future__ import annotations

import base64
import json
import struct
import threading
import time
import zlib
from typing import Any

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

# Converse's usage with cache reads and writes beside the input ("scenario:cached").
CACHED_USAGE = {"inputTokens": 400, "cacheReadInputTokens": 600, "cacheWriteInputTokens": 100, "outputTokens": 50,
                "totalTokens": 1150}


# Anthropic's usage with cache reads and writes by TTL, as Claude on Bedrock reports it ("scenario:cached").
CACHED_MESSAGES_USAGE = {"input_tokens": 400, "cache_read_input_tokens": 600, "cache_creation_input_tokens": 300,
                         "cache_creation": {"ephemeral_5m_input_tokens": 100, "ephemeral_1h_input_tokens": 200},
                         "output_tokens": 50}
MESSAGES_PROMPT_TOKENS = 13


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

    def invoked(body: Any) -> tuple[str, list[str], str] | Response:
        """(the last user text, the reply's words, the scenario), or Bedrock's ValidationException."""
        problem = ("body must be a JSON object" if not isinstance(body, dict)
                   else "model: extraneous key [model] is not permitted" if "model" in body
                   else "stream: extraneous key [stream] is not permitted" if "stream" in body
                   else "anthropic_version: bedrock-2023-05-31 is required"
                   if body.get("anthropic_version") != "bedrock-2023-05-31" else None)
        if problem:
            return Response(json.dumps({"message": problem}), status_code=400, media_type="application/json",
                            headers={"x-amzn-ErrorType": "ValidationException"})
        last = [m for m in body["messages"] if m["role"] == "user"][-1]["content"]
        text = last if isinstance(last, str) else "".join(b.get("text", "") for b in last if b.get("type") == "text")
        words = f"fake reply to: {text}".split(" ")
        return text, [w + (" " if i < len(words) - 1 else "") for i, w in enumerate(words)], text.removeprefix(
            "scenario:")

    def usage_for(scenario: str, words: list[str]) -> dict[str, Any]:
        if scenario == "cached":
            return CACHED_MESSAGES_USAGE
        return {"input_tokens": MESSAGES_PROMPT_TOKENS, "output_tokens": len(words)}

    async def invocation(request: Request) -> Any:
        """The invoke request, recorded and checked: (its checked parts) or the error Response to send."""
        body = json.loads(await request.body())
        received.append({"path": request.url.path, "body": body, "headers": dict(request.headers)})
        return invoked(body)

    async def invoke(request: Request) -> Response:
        checked = await invocation(request)
        if isinstance(checked, Response):
            return checked
        _, words, scenario = checked
        usage = usage_for(scenario, words)
        message = {"id": "msg_bdrk_fake", "type": "message", "role": "assistant",
                   "model": request.path_params["model_id"].rpartition(".")[2],
                   "content": [{"type": "text", "text": "".join(words)}], "stop_reason": "end_turn",
                   "stop_sequence": None, "usage": usage}
        headers = {"x-amzn-bedrock-input-token-count": str(usage["input_tokens"]),
                   "x-amzn-bedrock-output-token-count": str(usage["output_tokens"])}
        if scenario == "metrics":
            del message["usage"]
        return Response(json.dumps(message), media_type="application/json", headers=headers)

    async def invoke_stream(request: Request) -> Response:
        checked = await invocation(request)
        if isinstance(checked, Response):
            return checked
        _, words, scenario = checked
        usage = usage_for(scenario, words)
        start_usage = {k: v for k, v in usage.items() if k != "output_tokens"} | {"output_tokens": 1}
        if scenario == "metrics":  # the input tokens only in the invocation metrics
            start_usage = {"output_tokens": 1}

        def chunk(payload: dict[str, Any]) -> bytes:
            raw = json.dumps(payload).encode()
            return event("chunk", {"bytes": base64.b64encode(raw).decode()})

        frames = [chunk({"type": "message_start", "message": {
            "id": "msg_bdrk_fake", "type": "message", "role": "assistant", "model": "claude", "content": [],
            "stop_reason": None, "stop_sequence": None, "usage": start_usage}}),
            chunk({"type": "content_block_start", "index": 0, "content_block": {"type": "text", "text": ""}})]
        frames += [chunk({"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": w}})
                   for w in words]
        delta_usage = {"usage": {"output_tokens": usage["output_tokens"]}}
        if scenario == "throttle":
            frames = [*frames[:3], exception("throttlingException", "Too many requests")]
        else:
            frames += [chunk({"type": "content_block_stop", "index": 0}),
                       chunk({"type": "message_delta", "delta": {"stop_reason": "end_turn", "stop_sequence": None},
                              **delta_usage}),
                       chunk({"type": "message_stop", "amazon-bedrock-invocationMetrics": {
                           "inputTokenCount": usage["input_tokens"], "outputTokenCount": usage["output_tokens"],
                           "invocationLatency": 7, "firstByteLatency": 3,
                           "cacheReadInputTokenCount": usage.get("cache_read_input_tokens", 0),
                           "cacheWriteInputTokenCount": usage.get("cache_creation_input_tokens", 0)}})]
        return Response(b"".join(frames), media_type="application/vnd.amazon.eventstream")

    return Starlette(routes=[
        Route("/model/{model_id:path}/converse-stream", converse_stream, methods=["POST"]),
        Route("/model/{model_id:path}/invoke-with-response-stream", invoke_stream, methods=["POST"]),
        Route("/model/{model_id:path}/invoke", invoke, methods=["POST"]),
    ])


def start(received: list[dict[str, Any]]) -> tuple[str, uvicorn.Server]:
    """The fake on a free port of 127.0.0.1, recording into `received`: (its URL, the server)."""
    from unigate_tools.emulator import free_port

    port = free_port()
    server = uvicorn.Server(uvicorn.Config(build(received), host="127.0.0.1", port=port, log_level="error",
                                           lifespan="off"))
    threading.Thread(target=server.run, daemon=True).start()
    deadline = time.monotonic() + 10
    while not server.started:
        if time.monotonic() > deadline:
            raise RuntimeError("fake Bedrock runtime did not start")
        time.sleep(0.02)
    return f"http://127.0.0.1:{port}", server
