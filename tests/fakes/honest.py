"""An honest provider on 127.0.0.1 for each wire format (OpenAI-compatible, Anthropic, Gemini), and the
same bill for Bedrock's Converse requests.

It bills what a real provider could at most: one token per 4 bytes of everything it is sent, plus
IMAGE_TOKENS for every image it is shown, and it generates exactly up to the output limit in its request
(4,096 tokens when there is none), for every choice asked. It reports that bill as its usage, so a gateway
that charges less than `bills` is losing money to its callers.
"""

from __future__ import annotations

import json
import math
import threading
import time
from dataclasses import dataclass, field
from typing import Any

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route

from unigate_tools.emulator import free_port

DEFAULT_LIMIT = 4096
# What one image costs here: at most the catalog's per-image maximum of every format.
IMAGE_TOKENS = 1_000


@dataclass
class Bill:
    path: str
    prompt: int
    completion: int


@dataclass
class Honest:
    url: str = ""
    bills: list[Bill] = field(default_factory=list)


def images(value: Any) -> int:
    """Image references in any wire format's request, counted independently of unigate's own count."""
    text = json.dumps(value, default=lambda b: "")
    return (text.count('"type": "image_url"') + text.count('"type": "image"') + text.count('"inlineData"')
            + text.count('"fileData"') + text.count('"format": "png"') + text.count('"format": "jpeg"'))


def prompt_bill(raw: bytes, body: Any) -> int:
    return math.ceil(len(raw) / 4) + IMAGE_TOKENS * images(body)


def _limit(*values: Any) -> int:
    for value in values:
        if isinstance(value, int) and not isinstance(value, bool):
            return value
    return DEFAULT_LIMIT


def converse_bill(request: dict[str, Any]) -> tuple[int, int]:
    """The bill for a Bedrock Converse request (bytes as boto3 sends them: base64 in JSON)."""
    import base64

    raw = json.dumps(request, default=lambda b: base64.b64encode(b).decode()).encode()
    config = request.get("inferenceConfig") or {}
    return prompt_bill(raw, request), _limit(config.get("maxTokens"))


def build(honest: Honest) -> Starlette:
    async def read(request: Request) -> tuple[bytes, Any]:
        raw = await request.body()
        return raw, json.loads(raw)

    def sse(lines: list[bytes]) -> StreamingResponse:
        async def gen() -> Any:
            for line in lines:
                yield line

        return StreamingResponse(gen(), media_type="text/event-stream")

    async def openai_chat(request: Request) -> Response:
        raw, body = await read(request)
        prompt = prompt_bill(raw, body)
        per_choice = _limit(body.get("max_completion_tokens"), body.get("max_tokens"))
        n = body.get("n") or 1
        honest.bills.append(Bill(request.url.path, prompt, per_choice * n))
        usage = {"prompt_tokens": prompt, "completion_tokens": per_choice * n,
                 "total_tokens": prompt + per_choice * n}
        text = "a" * per_choice
        if not body.get("stream"):
            return JSONResponse({"id": "c1", "object": "chat.completion", "created": 1, "model": body.get("model"),
                                 "choices": [{"index": i, "message": {"role": "assistant", "content": text},
                                              "finish_reason": "length"} for i in range(n)], "usage": usage})
        lines = [b"data: " + json.dumps({"id": "c1", "object": "chat.completion.chunk", "created": 1,
                                         "model": body.get("model"), "choices": [
                {"index": i, "delta": {"content": text}, "finish_reason": "length"}]}).encode() + b"\n\n"
                 for i in range(n)]
        lines.append(b"data: " + json.dumps({"id": "c1", "object": "chat.completion.chunk", "created": 1,
                                             "model": body.get("model"), "choices": [], "usage": usage}).encode()
                     + b"\n\n")
        return sse([*lines, b"data: [DONE]\n\n"])

    async def openai_embeddings(request: Request) -> Response:
        raw, body = await read(request)
        prompt = prompt_bill(raw, body)
        honest.bills.append(Bill(request.url.path, prompt, 0))
        inputs = body["input"] if isinstance(body["input"], list) else [body["input"]]
        return JSONResponse({"object": "list", "model": body.get("model"),
                             "data": [{"object": "embedding", "index": i, "embedding": [0.5] * 8}
                                      for i in range(len(inputs))],
                             "usage": {"prompt_tokens": prompt, "total_tokens": prompt}})

    async def anthropic(request: Request) -> Response:
        raw, body = await read(request)
        prompt, limit = prompt_bill(raw, body), _limit(body.get("max_tokens"))
        honest.bills.append(Bill(request.url.path, prompt, limit))
        text = "a" * limit
        if not body.get("stream"):
            return JSONResponse({"id": "msg_1", "type": "message", "role": "assistant", "model": body.get("model"),
                                 "content": [{"type": "text", "text": text}], "stop_reason": "max_tokens",
                                 "usage": {"input_tokens": prompt, "output_tokens": limit}})

        def ev(kind: str, payload: dict[str, Any]) -> bytes:
            return f"event: {kind}\ndata: {json.dumps({'type': kind, **payload})}\n\n".encode()

        return sse([
            ev("message_start", {"message": {"id": "msg_1", "usage": {"input_tokens": prompt, "output_tokens": 1}}}),
            ev("content_block_start", {"index": 0, "content_block": {"type": "text", "text": ""}}),
            ev("content_block_delta", {"index": 0, "delta": {"type": "text_delta", "text": text}}),
            ev("content_block_stop", {"index": 0}),
            ev("message_delta", {"delta": {"stop_reason": "max_tokens"}, "usage": {"output_tokens": limit}}),
            ev("message_stop", {}),
        ])

    async def gemini(request: Request) -> Response:
        raw, body = await read(request)
        method = request.path_params["target"].rpartition(":")[2]
        prompt = prompt_bill(raw, body)
        if method == "batchEmbedContents":
            honest.bills.append(Bill(request.url.path, prompt, 0))
            return JSONResponse({"embeddings": [{"values": [0.5] * 8} for _ in body["requests"]]})
        config = body.get("generationConfig") or {}
        limit, n = _limit(config.get("maxOutputTokens")), config.get("candidateCount") or 1
        honest.bills.append(Bill(request.url.path, prompt, limit * n))
        answer = {"candidates": [{"index": i, "content": {"role": "model", "parts": [{"text": "a" * limit}]},
                                  "finishReason": "MAX_TOKENS"} for i in range(n)],
                  "usageMetadata": {"promptTokenCount": prompt, "candidatesTokenCount": limit * n}}
        if method == "generateContent":
            return JSONResponse(answer)
        return sse([b"data: " + json.dumps(answer).encode() + b"\r\n\r\n"])

    return Starlette(routes=[
        Route("/openai/v1/chat/completions", openai_chat, methods=["POST"]),
        Route("/openai/v1/embeddings", openai_embeddings, methods=["POST"]),
        Route("/anthropic/v1/messages", anthropic, methods=["POST"]),
        Route("/gemini/v1beta/models/{target}", gemini, methods=["POST"]),
    ])


def start() -> tuple[Honest, uvicorn.Server]:
    honest = Honest()
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(build(honest), host="127.0.0.1", port=port, log_level="error",
                                           lifespan="off"))
    threading.Thread(target=server.run, daemon=True).start()
    deadline = time.monotonic() + 10
    while not server.started:
        if time.monotonic() > deadline:
            raise RuntimeError("honest fake did not start")
        time.sleep(0.02)
    honest.url = f"http://127.0.0.1:{port}"
    return honest, server
