"""A fake upstream on 127.0.0.1 that speaks each provider's wire format, over real HTTP.

Scripted by the last user message:
  "scenario:error:<status>"  that HTTP status with the provider's error body (Retry-After on 429/503)
  "scenario:malformed"       a non-JSON body, or a broken chunk after one good chunk when streaming
  "scenario:truncate"        a stream cut after 3 content chunks (no terminator)
  "scenario:nousage"         no usage anywhere
  "scenario:tool"            a tool call to `get_weather` with {"city": "Paris"}
  "scenario:stall"           waits 5 s before answering
  "scenario:paced"           streams its words 150 ms apart (to see chunks pass through unbuffered)
  "scenario:overloaded"      (Anthropic) an `event: error` after the first text when streaming
anything else                  "fake reply to: <text>" (5 words), streamed word by word
"""

from __future__ import annotations

import asyncio
import json
import threading
import time
from dataclasses import dataclass, field
from typing import Any

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response, StreamingResponse
from starlette.routing import Route

from unigate_tools.emulator import free_port

PROMPT_TOKENS = 11


@dataclass
class Received:
    path: str
    query: str
    headers: dict[str, str]
    body: dict[str, Any]
    client_port: int | None = None  # the same port on two calls: the client reused its connection


@dataclass
class FakeUpstream:
    url: str = ""
    received: list[Received] = field(default_factory=list)
    disconnects: int = 0
    # Per path prefix of the OpenAI-compatible route ("alpha", "beta"...): seconds to wait before the
    # first byte, and a queue of (status, Retry-After) failures to answer before succeeding.
    delays: dict[str, float] = field(default_factory=dict)
    failures: dict[str, list[tuple[int, str | None]]] = field(default_factory=dict)

    def count(self, path_part: str) -> int:
        return sum(1 for r in self.received if path_part in r.path)

    def last(self, path_part: str = "") -> Received:
        return [r for r in self.received if path_part in r.path][-1]


def _last_user_text(messages: list[dict[str, Any]]) -> str:
    for message in reversed(messages):
        if message.get("role") == "user":
            content = message.get("content")
            if isinstance(content, str):
                return content
            if isinstance(content, list):
                return "".join(p.get("text", "") for p in content if isinstance(p, dict))
    return ""


def _scenario(text: str) -> tuple[str, str]:
    if text.startswith("scenario:"):
        _, name, *arg = text.split(":")
        return name, (arg[0] if arg else "")
    return "ok", ""


def _words(text: str) -> list[str]:
    words = f"fake reply to: {text}".split(" ")
    return [w + (" " if i < len(words) - 1 else "") for i, w in enumerate(words)]


def _error(status: int, family: str) -> Response:
    headers = {"retry-after": "1"} if status in (429, 503) else {}
    if family == "anthropic":
        kind = {429: "rate_limit_error", 400: "invalid_request_error", 401: "authentication_error"}.get(
            status, "api_error"
        )
        body: Any = {"type": "error", "error": {"type": kind, "message": f"fake {status}"}}
    elif family == "gemini":
        body = {"error": {"code": status, "message": f"fake {status}", "status": "UNAVAILABLE"}}
    else:
        body = {"error": {"message": f"fake {status}", "type": "fake_error", "code": None}}
    return JSONResponse(body, status_code=status, headers=headers)


EMBEDDING_SIZE = 8


def fake_vector(text: str, size: int | None) -> list[float]:
    """What the fake embeds a text as: its length first, so tests can tell inputs apart and in order."""
    return [float(len(text))] + [0.25] * ((size or EMBEDDING_SIZE) - 1)


def _embedding_text(item: Any) -> str:
    if isinstance(item, dict):
        return str(item.get("text") or "") + str(item.get("image", ""))[:0]
    return item if isinstance(item, str) else " ".join(str(t) for t in item)


def build(fake: FakeUpstream) -> Starlette:
    async def record(request: Request) -> dict[str, Any]:
        body = await request.json()
        fake.received.append(Received(request.url.path, request.url.query, dict(request.headers), body,
                                      request.client.port if request.client else None))
        return body

    def sse(events: list[Any], *, tail: list[bytes] | None = None, pace: float = 0.002) -> StreamingResponse:
        async def gen() -> Any:
            try:
                for event in events:
                    yield event if isinstance(event, bytes) else f"data: {json.dumps(event)}\n\n".encode()
                    await asyncio.sleep(pace)
                for raw in tail or []:
                    yield raw
            except asyncio.CancelledError:
                fake.disconnects += 1
                raise

        return StreamingResponse(gen(), media_type="text/event-stream")

    async def script(request: Request) -> Response | None:
        """The scripted failure or delay of the route's path prefix ("alpha", "beta"...), if any."""
        prefix = request.path_params["prefix"].split("/")[0]
        queued = fake.failures.get(prefix)
        if queued:
            status, retry_after = queued.pop(0)
            return JSONResponse(
                {"error": {"message": f"scripted {status}", "type": "fake", "code": None}},
                status_code=status,
                headers={"retry-after": retry_after} if retry_after else {},
            )
        await asyncio.sleep(fake.delays.get(prefix, 0.0))
        return None

    # --- OpenAI-compatible (also Azure OpenAI, Azure AI inference, self-hosted) -----------------------
    async def openai_chat(request: Request) -> Response:
        body = await record(request)
        if request.path_params["prefix"].startswith("redirect"):
            return Response(status_code=307, headers={"location": "/alpha/v1/chat/completions"})
        scripted = await script(request)
        if scripted is not None:
            return scripted
        name, arg = _scenario(_last_user_text(body.get("messages", [])))
        model = body.get("model", "deployment")
        if name == "error":
            return _error(int(arg), "openai")
        if name == "leak":  # a provider that echoes the key it was given (some do, in 401 messages)
            return JSONResponse(
                {
                    "error": {
                        "message": f"Incorrect API key provided: {request.headers.get('authorization')}"
                        f" / {request.headers.get('api-key')}",
                        "type": "invalid_request_error",
                    }
                },
                status_code=int(arg or 400),
            )
        if name == "stall":
            await asyncio.sleep(5)
        words = _words(_last_user_text(body["messages"]))
        usage = {
            "prompt_tokens": PROMPT_TOKENS,
            "completion_tokens": len(words),
            "total_tokens": PROMPT_TOKENS + len(words),
        }
        if not body.get("stream"):
            if name == "malformed":
                return PlainTextResponse("{not json")
            message: dict[str, Any] = {"role": "assistant", "content": "".join(words)}
            finish = "stop"
            if name == "tool":
                message = {
                    "role": "assistant",
                    "content": None,
                    "tool_calls": [
                        {
                            "id": "call_1",
                            "type": "function",
                            "function": {"name": "get_weather", "arguments": '{"city": "Paris"}'},
                        }
                    ],
                }
                finish = "tool_calls"
            out: dict[str, Any] = {
                "id": "chatcmpl-fake",
                "object": "chat.completion",
                "created": int(time.time()),
                "model": model,
                "choices": [{"index": 0, "message": message, "finish_reason": finish}],
            }
            if name != "nousage":
                out["usage"] = usage
            return JSONResponse(out)

        def c(delta: dict[str, Any], finish: str | None = None) -> dict[str, Any]:
            return {
                "id": "chatcmpl-fake",
                "object": "chat.completion.chunk",
                "created": 1,
                "model": model,
                "choices": [{"index": 0, "delta": delta, "finish_reason": finish}],
            }

        events: list[Any] = [c({"role": "assistant", "content": ""})]
        if name == "tool":
            events += [
                c(
                    {
                        "tool_calls": [
                            {
                                "index": 0,
                                "id": "call_1",
                                "type": "function",
                                "function": {"name": "get_weather", "arguments": ""},
                            }
                        ]
                    }
                ),
                c({"tool_calls": [{"index": 0, "function": {"arguments": '{"city": "Paris"}'}}]}),
                c({}, "tool_calls"),
            ]
        else:
            events += [c({"content": w}) for w in words]
            events.append(c({}, "stop"))
        if name == "malformed":
            return sse([events[0], events[1], b"data: {broken\n\n"])
        if name == "truncate":
            return sse(events[:4])
        include_usage = (body.get("stream_options") or {}).get("include_usage")
        if include_usage and name != "nousage":
            events.append(
                {
                    "id": "chatcmpl-fake",
                    "object": "chat.completion.chunk",
                    "created": 1,
                    "model": model,
                    "choices": [],
                    "usage": usage,
                }
            )
        return sse(events, tail=[b"data: [DONE]\n\n"], pace=0.15 if name == "paced" else 0.002)

    # --- Anthropic Messages ----------------------------------------------------------------------------
    async def anthropic_messages(request: Request) -> Response:
        body = await record(request)
        user = [m for m in body["messages"] if m["role"] == "user"]
        last = user[-1]["content"] if user else []
        text = "".join(b.get("text", "") for b in last if b.get("type") == "text") if isinstance(last, list) else last
        name, arg = _scenario(text)
        if name == "error":
            return _error(int(arg), "anthropic")
        words = _words(text)
        if not body.get("stream"):
            if name == "malformed":
                return PlainTextResponse("<html>oops")
            content: list[dict[str, Any]] = [{"type": "text", "text": "".join(words)}]
            stop = "end_turn"
            if name == "tool":
                content = [
                    {"type": "text", "text": "Let me check."},
                    {"type": "tool_use", "id": "toolu_1", "name": "get_weather", "input": {"city": "Paris"}},
                ]
                stop = "tool_use"
            return JSONResponse(
                {
                    "id": "msg_fake",
                    "type": "message",
                    "role": "assistant",
                    "model": body["model"],
                    "content": content,
                    "stop_reason": stop,
                    "stop_sequence": None,
                    "usage": {"input_tokens": PROMPT_TOKENS, "output_tokens": len(words)},
                }
            )

        def ev(kind: str, payload: dict[str, Any]) -> bytes:
            return f"event: {kind}\ndata: {json.dumps({'type': kind, **payload})}\n\n".encode()

        events = [
            ev(
                "message_start",
                {
                    "message": {
                        "id": "msg_fake",
                        "type": "message",
                        "role": "assistant",
                        "content": [],
                        "model": body["model"],
                        "usage": {"input_tokens": PROMPT_TOKENS, "output_tokens": 1},
                    }
                },
            ),
            b'event: ping\ndata: {"type": "ping"}\n\n',
        ]
        if name == "tool":
            events += [
                ev(
                    "content_block_start",
                    {
                        "index": 0,
                        "content_block": {"type": "tool_use", "id": "toolu_1", "name": "get_weather", "input": {}},
                    },
                ),
                ev(
                    "content_block_delta",
                    {"index": 0, "delta": {"type": "input_json_delta", "partial_json": '{"city": '}},
                ),
                ev(
                    "content_block_delta",
                    {"index": 0, "delta": {"type": "input_json_delta", "partial_json": '"Paris"}'}},
                ),
                ev("content_block_stop", {"index": 0}),
            ]
            stop = "tool_use"
        else:
            events.append(ev("content_block_start", {"index": 0, "content_block": {"type": "text", "text": ""}}))
            events += [
                ev("content_block_delta", {"index": 0, "delta": {"type": "text_delta", "text": w}}) for w in words
            ]
            events.append(ev("content_block_stop", {"index": 0}))
            stop = "end_turn"
        if name == "malformed":
            return sse([*events[:4], b"event: content_block_delta\ndata: {nope\n\n"])
        if name == "truncate":
            return sse(events[:5])
        if name == "overloaded":  # Anthropic's error event after some text
            return sse([*events[:4], ev("error", {"error": {"type": "overloaded_error", "message": "Overloaded"}})])
        events += [
            ev(
                "message_delta",
                {"delta": {"stop_reason": stop, "stop_sequence": None}, "usage": {"output_tokens": len(words)}},
            ),
            ev("message_stop", {}),
        ]
        return sse(events, pace=0.15 if name == "paced" else 0.002)

    async def anthropic_count_tokens(request: Request) -> Response:
        body = await record(request)
        return JSONResponse({"input_tokens": 1000 + len(json.dumps(body.get("messages")))})

    # --- OpenAI-compatible and Azure embeddings (text, and Azure AI's image embeddings) ----------------
    async def openai_embeddings(request: Request) -> Response:
        body = await record(request)
        scripted = await script(request)
        if scripted is not None:
            return scripted
        inputs = body["input"] if isinstance(body["input"], list) else [body["input"]]
        if inputs and isinstance(inputs[0], int):
            inputs = [inputs]
        texts = [_embedding_text(item) for item in inputs]
        name, arg = _scenario(texts[0])
        if name == "error":
            return _error(int(arg), "openai")
        if name == "short":
            texts = texts[:-1]
        data = [{"object": "embedding", "index": i, "embedding": fake_vector(t, body.get("dimensions"))}
                for i, t in enumerate(texts)]
        out: dict[str, Any] = {"object": "list", "data": list(reversed(data)), "model": body.get("model", "")}
        if name != "nousage":
            out["usage"] = {"prompt_tokens": 3 * len(texts), "total_tokens": 3 * len(texts)}
        return JSONResponse(out)

    # --- Gemini ------------------------------------------------------------------------------------------
    async def gemini(request: Request) -> Response:
        body = await record(request)
        model, _, method = request.path_params["rest"].partition(":")
        if method == "batchEmbedContents":
            texts = ["".join(p["text"] for p in r["content"]["parts"]) for r in body["requests"]]
            name, arg = _scenario(texts[0])
            if name == "error":
                return _error(int(arg), "gemini")
            return JSONResponse({"embeddings": [
                {"values": fake_vector(t, r.get("outputDimensionality"))} for t, r in zip(texts, body["requests"],
                                                                                          strict=True)]})
        text = "".join(p.get("text", "") for p in body["contents"][-1]["parts"])
        name, arg = _scenario(text)
        if name == "error":
            return _error(int(arg), "gemini")
        words = _words(text)
        meta = {
            "promptTokenCount": PROMPT_TOKENS,
            "candidatesTokenCount": len(words),
            "totalTokenCount": PROMPT_TOKENS + len(words),
        }
        if name == "tool":
            parts = [{"functionCall": {"name": "get_weather", "args": {"city": "Paris"}}}]
        else:
            parts = [{"text": "".join(words)}]
        if method == "generateContent":
            if name == "malformed":
                return PlainTextResponse("nope")
            out: dict[str, Any] = {
                "candidates": [{"content": {"role": "model", "parts": parts}, "finishReason": "STOP", "index": 0}],
                "modelVersion": model,
            }
            if name != "nousage":
                out["usageMetadata"] = meta
            return JSONResponse(out)
        assert request.query_params.get("alt") == "sse"
        if name == "tool":
            events: list[Any] = [
                {
                    "candidates": [{"content": {"role": "model", "parts": parts}, "finishReason": "STOP", "index": 0}],
                    "usageMetadata": meta,
                }
            ]
        else:
            events = [
                {"candidates": [{"content": {"role": "model", "parts": [{"text": w}]}, "index": 0}]} for w in words
            ]
            final: dict[str, Any] = {
                "candidates": [
                    {"content": {"role": "model", "parts": [{"text": ""}]}, "finishReason": "STOP", "index": 0}
                ]
            }
            if name != "nousage":
                final["usageMetadata"] = meta
            events.append(final)
        if name == "malformed":
            return sse([events[0], b"data: {oops\n\n"])
        if name == "truncate":
            return sse(events[:3])
        return sse(events)

    return Starlette(
        routes=[
            Route("/v1/messages", anthropic_messages, methods=["POST"]),
            Route("/v1/messages/count_tokens", anthropic_count_tokens, methods=["POST"]),
            Route("/v1beta/models/{rest:path}", gemini, methods=["POST"]),
            Route("/{prefix:path}/chat/completions", openai_chat, methods=["POST"]),
            Route("/{prefix:path}/embeddings", openai_embeddings, methods=["POST"]),
        ]
    )


def start() -> tuple[FakeUpstream, uvicorn.Server]:
    fake = FakeUpstream()
    port = free_port()
    config = uvicorn.Config(build(fake), host="127.0.0.1", port=port, log_level="error", lifespan="off")
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        if time.monotonic() > deadline:
            raise RuntimeError("fake upstream did not start")
        time.sleep(0.02)
    fake.url = f"http://127.0.0.1:{port}"
    return fake, server


ENV_KEYS = {
    "OPENAI_API_KEY": "openai",
    "TOGETHER_API_KEY": "together-ai",
    "ANTHROPIC_API_KEY": "anthropic",
    "GEMINI_API_KEY": "gemini",
    "AZURE_OPENAI_API_KEY": "azure-openai",
    "AZURE_AI_API_KEY": "azure-ai",
}
CANARY_KEYS = {
    "openai": "sk-canary-openai-0123456789",
    "anthropic": "sk-ant-canary-0123456789",
    "gemini": "gm-canary-0123456789",
    "azure-openai": "az-canary-0123456789",
    "azure-ai": "azai-canary-0123456789",
    "together-ai": "tg-canary-0123456789",
}


def catalog_override(url: str) -> dict[str, Any]:
    """Points the built-in providers at the fake and adds a self-hosted OpenAI-compatible server."""
    return {
        "providers": {
            "openai": {
                "family": "openai",
                "base_url": f"{url}/v1",
                "secret": "openai",
                "env": "OPENAI_API_KEY",
                "params": [
                    "temperature",
                    "max_tokens",
                    "stream",
                    "stream_options",
                    "tools",
                    "tool_choice",
                    "stop",
                    "n",
                ],
            },
            "together-ai": {
                "family": "openai",
                "base_url": f"{url}/together/v1",
                "secret": "together-ai",
                "env": "TOGETHER_API_KEY",
                "params": ["temperature", "max_tokens", "stream", "stream_options", "stop"],
            },
            "anthropic": {
                "family": "anthropic",
                "base_url": f"{url}/v1",
                "secret": "anthropic",
                "env": "ANTHROPIC_API_KEY",
                "params": ["temperature", "max_tokens", "stream", "stop", "tools", "tool_choice"],
                "native": ["messages"],
            },
            "gemini": {
                "family": "gemini",
                "base_url": f"{url}/v1beta",
                "secret": "gemini",
                "env": "GEMINI_API_KEY",
                "params": ["temperature", "max_tokens", "stream", "stop", "tools", "tool_choice"],
            },
            "azure-openai": {
                "family": "azure-openai",
                "base_url": url,
                "secret": "azure-openai",
                "env": "AZURE_OPENAI_API_KEY",
                "api_version": "2024-10-21",
                "params": ["temperature", "max_tokens", "stream", "stream_options"],
            },
            "azure-ai": {
                "family": "azure-ai",
                "base_url": f"{url}/models",
                "secret": "azure-ai",
                "env": "AZURE_AI_API_KEY",
                "api_version": "2024-05-01-preview",
                "params": ["temperature", "max_tokens", "stream", "stream_options"],
            },
            "alpha": {
                "family": "openai",
                "base_url": f"{url}/alpha/v1",
                "secret": None,
                "params": ["temperature", "max_tokens", "stream", "stream_options"],
            },
            "beta": {
                "family": "openai",
                "base_url": f"{url}/beta/v1",
                "secret": None,
                "params": ["temperature", "max_tokens", "stream", "stream_options"],
            },
            "local-vllm": {
                "family": "openai",
                "base_url": f"{url}/vllm/v1",
                "secret": None,
                "params": ["temperature", "max_tokens", "stream", "stream_options"],
            },
        },
        "endpoints": {
            # One model at two providers: alpha is cheaper on input, beta on output.
            "routing-test@alpha": {
                "upstream": "routing-test",
                "input": "0.50",
                "output": "2.00",
                "context": 8192,
                "max_output": 1024,
            },
            "routing-test-mini@alpha": {
                "upstream": "routing-test-mini",
                "input": "0.10",
                "output": "0.10",
                "context": 8192,
                "max_output": 1024,
            },
            "routing-test@beta": {
                "upstream": "routing-test",
                "input": "1.00",
                "output": "1.00",
                "context": 8192,
                "max_output": 1024,
            },
            "embed-test@alpha": {
                "upstream": "embed-test",
                "input": "0.10",
                "output": "0",
                "context": 8192,
                "max_output": 1,
                "type": "embedding",
                "dimensions": 8,
                "any_dimensions": True,
            },
            "embed-test@beta": {
                "upstream": "embed-test",
                "input": "0.20",
                "output": "0",
                "context": 8192,
                "max_output": 1,
                "type": "embedding",
                "dimensions": 8,
            },
            "llama-3.1-8b-chat@local-vllm": {
                "upstream": "meta-llama/Llama-3.1-8B-Instruct",
                "input": "0.10",
                "output": "0.10",
                "context": 131072,
                "max_output": 4096,
            },
        },
    }
