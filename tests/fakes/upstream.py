"""A fake upstream on 127.0.0.1 that speaks each provider's wire format, over real HTTP.

Scripted by the last user message:
  "scenario:error:<status>"  that HTTP status with the provider's error body (Retry-After on 429/503)
  "scenario:malformed"       a non-JSON body, or a broken chunk after one good chunk when streaming
  "scenario:truncate"        a stream cut after 3 content chunks (no terminator)
  "scenario:nousage"         no usage anywhere
  "scenario:tool"            a tool call to `get_weather` with {"city": "Paris"}
  "scenario:stall"           waits 5 s before answering (chat, Messages, Responses)
  "scenario:gate"            waits until the test opens `FakeUpstream.gate` (at most 60 s), counted in `gated`
  "scenario:paced"           streams its words 150 ms apart (to see chunks pass through unbuffered)
  "scenario:echokey"         (OpenAI-compatible) a reply that contains the key it was called with
  "scenario:splitkey"        (chat, Messages, Responses) that key streamed in three pieces, across chunks
  "scenario:overloaded"      (Anthropic) an `event: error` after the first text when streaming
  "scenario:usage:<kind>"    reports USAGE[<family>][<kind>]: cache reads and writes, reasoning, a long prompt
anything else                  "fake reply to: <text>" (5 words), streamed word by word

Anthropic with `thinking` enabled (refused, as Anthropic does, when the budget is not under max_tokens, or
beside a temperature other than 1, a top_p under 0.95 or a forced tool) and Gemini with
thinkingConfig.includeThoughts answer a thought first: "thinking about: <text>" (THOUGHT_TOKENS tokens).

Claude on Vertex AI (`.../publishers/anthropic/models/<model>:rawPredict`, `:streamRawPredict`) answers as the
Anthropic route does, after checking Vertex's envelope (bearer token, `anthropic_version`, no `model`).

Legacy completions (`/completions`, OpenAI's text_completion wire format) are scripted by each prompt the
same way, and honour n, max_tokens (finish reason "length"), echo and logprobs.
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
THOUGHT_TOKENS = 7
# Each family's own usage report for "scenario:usage:<kind>", as its API words it.
USAGE: dict[str, dict[str, dict[str, Any]]] = {
    "openai": {
        "cached": {"prompt_tokens": 1000, "completion_tokens": 500, "total_tokens": 1500,
                   "prompt_tokens_details": {"cached_tokens": 600},
                   "completion_tokens_details": {"reasoning_tokens": 200}},
        "long": {"prompt_tokens": 250_000, "completion_tokens": 100, "total_tokens": 250_100,
                 "prompt_tokens_details": {"cached_tokens": 50_000}},
        # What a hostile or broken upstream reports (issue #29): negative, absurd, not a number.
        "invalid": {"prompt_tokens": -7, "completion_tokens": 1e300, "total_tokens": "lots"},
    },
    "anthropic": {
        "cached": {"input_tokens": 400, "cache_read_input_tokens": 600, "cache_creation_input_tokens": 300,
                   "cache_creation": {"ephemeral_5m_input_tokens": 100, "ephemeral_1h_input_tokens": 200},
                   "output_tokens": 500},
        "long": {"input_tokens": 150_001, "cache_read_input_tokens": 50_000, "cache_creation_input_tokens": 0,
                 "output_tokens": 100},
    },
    "gemini": {
        "cached": {"promptTokenCount": 1000, "cachedContentTokenCount": 600, "candidatesTokenCount": 300,
                   "thoughtsTokenCount": 200, "totalTokenCount": 1500},
        "long": {"promptTokenCount": 250_000, "cachedContentTokenCount": 50_000, "candidatesTokenCount": 100,
                 "totalTokenCount": 250_100},
    },
}


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
    gate: threading.Event = field(default_factory=threading.Event)
    gated: int = 0

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


def _split_key(key: str) -> list[str]:
    """A reply carrying `key` cut into three chunks (a stream scrubbed chunk by chunk would let it through)."""
    third = len(key) // 3
    return ["your key is ", key[:third], key[third:2 * third], key[2 * third:], " in pieces"]


def _words(text: str) -> list[str]:
    words = f"fake reply to: {text}".split(" ")
    return [w + (" " if i < len(words) - 1 else "") for i, w in enumerate(words)]


def _thinking_refusal(body: dict[str, Any]) -> str | None:
    """Why Anthropic would refuse the request's thinking, if it would."""
    thinking = body.get("thinking") or {}
    budget = thinking.get("budget_tokens")
    if not isinstance(budget, int) or budget >= body["max_tokens"]:
        return "`max_tokens` must be greater than `thinking.budget_tokens`"
    if body.get("temperature", 1) != 1 or body.get("top_p", 1) < 0.95:
        return "temperature may only be set to 1 and top_p to 0.95 or more when thinking is enabled"
    if (body.get("tool_choice") or {}).get("type") in ("any", "tool"):
        return "Thinking may not be enabled when tool_choice forces tool use."
    return None


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
        if name == "gate":
            fake.gated += 1
            deadline = time.monotonic() + 60
            while not fake.gate.is_set() and time.monotonic() < deadline:
                await asyncio.sleep(0.01)
        text = _last_user_text(body["messages"])
        if name == "echokey":  # a provider made to put its key into a successful answer
            text = "your key is " + str(request.headers.get("authorization", "")).removeprefix("Bearer ")
        words = _words(text)
        if name == "splitkey":
            words = _split_key(str(request.headers.get("authorization", "")).removeprefix("Bearer "))
        usage = {
            "prompt_tokens": PROMPT_TOKENS,
            "completion_tokens": len(words),
            "total_tokens": PROMPT_TOKENS + len(words),
        }
        if name == "usage":
            usage = USAGE["openai"][arg]
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

    # --- OpenAI legacy completions (vLLM, TGI, together-ai, fireworks-ai, gpt-3.5-turbo-instruct) ------------
    async def openai_completions(request: Request) -> Response:
        body = await record(request)
        scripted = await script(request)
        if scripted is not None:
            return scripted
        prompt = body.get("prompt")
        if isinstance(prompt, str) or (prompt and isinstance(prompt[0], int)):
            prompt = [prompt]
        texts = [p if isinstance(p, str) else " ".join(str(t) for t in p) for p in prompt]
        name, arg = _scenario(texts[0])
        if name == "error":
            return _error(int(arg), "openai")
        n, limit = body.get("n") or 1, body.get("max_tokens", 16)
        logprobs, echo = body.get("logprobs"), bool(body.get("echo"))
        model = body.get("model", "")

        def legacy_logprobs(words: list[str], offset: int) -> dict[str, Any]:
            offsets = []
            for word in words:
                offsets.append(offset)
                offset += len(word)
            return {"tokens": words, "token_logprobs": [-0.5] * len(words),
                    "top_logprobs": [{w: -0.5} for w in words], "text_offset": offsets}

        outputs = []  # (index, prefix, words, finish)
        for p_index, text in enumerate(texts):
            words = _words(text)
            finish = "length" if len(words) > limit else "stop"
            for j in range(n):
                outputs.append((p_index * n + j, text if echo else "", words[:limit], finish))
        produced = sum(len(w) for _, _, w, _ in outputs)
        usage = {"prompt_tokens": PROMPT_TOKENS * len(texts), "completion_tokens": produced,
                 "total_tokens": PROMPT_TOKENS * len(texts) + produced}
        if not body.get("stream"):
            choices = [{"text": prefix + "".join(words), "index": index,
                        "logprobs": legacy_logprobs(words, len(prefix)) if logprobs is not None else None,
                        "finish_reason": finish} for index, prefix, words, finish in outputs]
            out: dict[str, Any] = {"id": "cmpl-fake", "object": "text_completion", "created": int(time.time()),
                                   "model": model, "choices": choices}
            if name != "nousage":
                out["usage"] = usage
            return JSONResponse(out)

        def c(index: int, text: str, finish: str | None = None, lp: Any = None) -> dict[str, Any]:
            return {"id": "cmpl-fake", "object": "text_completion", "created": 1, "model": model,
                    "choices": [{"text": text, "index": index, "logprobs": lp, "finish_reason": finish}]}

        events: list[Any] = []
        for index, prefix, words, finish in outputs:
            if prefix:
                events.append(c(index, prefix))
            offset = len(prefix)
            for word in words:
                events.append(c(index, word, lp=legacy_logprobs([word], offset) if logprobs is not None else None))
                offset += len(word)
            events.append(c(index, "", finish))
        if name == "truncate":
            return sse(events[:3])
        if (body.get("stream_options") or {}).get("include_usage") and name != "nousage":
            events.append({"id": "cmpl-fake", "object": "text_completion", "created": 1, "model": model,
                           "choices": [], "usage": usage})
        return sse(events, tail=[b"data: [DONE]\n\n"], pace=0.15 if name == "paced" else 0.002)

    # --- Anthropic Messages ----------------------------------------------------------------------------
    async def anthropic_messages(request: Request) -> Response:
        body = await record(request)
        return await anthropic_answer(body, body["model"], str(request.headers.get("x-api-key")),
                                      stream=bool(body.get("stream")))

    async def anthropic_answer(body: dict[str, Any], model: str, key: str, *, stream: bool) -> Response:
        """Anthropic's answer (or event stream) to a Messages body, for Anthropic's own API and for Vertex's
        (`key` is the credential it was called with)."""
        user = [m for m in body["messages"] if m["role"] == "user"]
        last = user[-1]["content"] if user else []
        text = "".join(b.get("text", "") for b in last if b.get("type") == "text") if isinstance(last, list) else last
        name, arg = _scenario(text)
        if name == "error":
            return _error(int(arg), "anthropic")
        if name == "stall":
            await asyncio.sleep(5)
        words = _split_key(key) if name == "splitkey" else _words(text)
        thinks = (body.get("thinking") or {}).get("type") == "enabled"
        if thinks and (refusal := _thinking_refusal(body)) is not None:
            return JSONResponse({"type": "error", "error": {"type": "invalid_request_error", "message": refusal}},
                                status_code=400)
        thought = f"thinking about: {text}"
        if not stream:
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
            if thinks:
                content.insert(0, {"type": "thinking", "thinking": thought, "signature": "c2lnbmF0dXJl"})
            return JSONResponse(
                {
                    "id": "msg_fake",
                    "type": "message",
                    "role": "assistant",
                    "model": model,
                    "content": content,
                    "stop_reason": stop,
                    "stop_sequence": None,
                    "usage": USAGE["anthropic"][arg] if name == "usage" else {
                        "input_tokens": PROMPT_TOKENS, "output_tokens": len(words) + (THOUGHT_TOKENS if thinks else 0)},
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
                        "model": model,
                        "usage": {**USAGE["anthropic"][arg], "output_tokens": 1} if name == "usage"
                        else {"input_tokens": PROMPT_TOKENS, "output_tokens": 1},
                    }
                },
            ),
            b'event: ping\ndata: {"type": "ping"}\n\n',
        ]
        first = 1 if thinks else 0  # the index of the first block after the thinking
        if thinks:
            half = len(thought) // 2
            events += [
                ev("content_block_start", {"index": 0, "content_block": {"type": "thinking", "thinking": "",
                                                                         "signature": ""}}),
                ev("content_block_delta", {"index": 0, "delta": {"type": "thinking_delta",
                                                                 "thinking": thought[:half]}}),
                ev("content_block_delta", {"index": 0, "delta": {"type": "thinking_delta",
                                                                 "thinking": thought[half:]}}),
                ev("content_block_delta", {"index": 0, "delta": {"type": "signature_delta",
                                                                 "signature": "c2lnbmF0dXJl"}}),
                ev("content_block_stop", {"index": 0}),
            ]
        if name == "tool":
            events += [
                ev(
                    "content_block_start",
                    {
                        "index": first,
                        "content_block": {"type": "tool_use", "id": "toolu_1", "name": "get_weather", "input": {}},
                    },
                ),
                ev(
                    "content_block_delta",
                    {"index": first, "delta": {"type": "input_json_delta", "partial_json": '{"city": '}},
                ),
                ev(
                    "content_block_delta",
                    {"index": first, "delta": {"type": "input_json_delta", "partial_json": '"Paris"}'}},
                ),
                ev("content_block_stop", {"index": first}),
            ]
            stop = "tool_use"
        else:
            events.append(ev("content_block_start", {"index": first, "content_block": {"type": "text", "text": ""}}))
            events += [
                ev("content_block_delta", {"index": first, "delta": {"type": "text_delta", "text": w}}) for w in words
            ]
            events.append(ev("content_block_stop", {"index": first}))
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
                {"delta": {"stop_reason": stop, "stop_sequence": None},
                 "usage": {"output_tokens": USAGE["anthropic"][arg]["output_tokens"] if name == "usage"
                           else len(words) + (THOUGHT_TOKENS if thinks else 0)}},
            ),
            ev("message_stop", {}),
        ]
        return sse(events, pace=0.15 if name == "paced" else 0.002)

    async def anthropic_count_tokens(request: Request) -> Response:
        body = await record(request)
        return JSONResponse({"input_tokens": 1000 + len(json.dumps(body.get("messages")))})

    # --- Claude on Vertex AI: rawPredict / streamRawPredict / count-tokens:rawPredict -------------------
    async def vertex_anthropic(request: Request) -> Response:
        body = await record(request)
        model, _, action = request.path_params["target"].rpartition(":")
        if not request.headers.get("authorization", "").startswith("Bearer "):
            return _error(401, "anthropic")
        if body.get("anthropic_version") != "vertex-2023-10-16":
            return JSONResponse({"error": {"code": 400, "message": "anthropic_version: vertex-2023-10-16 is required",
                                           "status": "INVALID_ARGUMENT"}}, status_code=400)
        if model == "count-tokens" and action == "rawPredict":
            return JSONResponse({"input_tokens": 2000 + len(json.dumps(body.get("messages")))})
        # Vertex takes the model from the URL only, and the operation must agree with the body's `stream`.
        if "model" in body or action not in ("rawPredict", "streamRawPredict") or \
                bool(body.get("stream")) != (action == "streamRawPredict"):
            return JSONResponse({"error": {"code": 400, "message": "invalid rawPredict request",
                                           "status": "INVALID_ARGUMENT"}}, status_code=400)
        token = request.headers["authorization"].removeprefix("Bearer ")
        return await anthropic_answer(body, model, token, stream=action == "streamRawPredict")

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
        thinking = (body.get("generationConfig") or {}).get("thinkingConfig") or {}
        thought = [{"text": f"thinking about: {text}", "thought": True}] if thinking.get("includeThoughts") else []
        if thought:
            meta = {**meta, "thoughtsTokenCount": THOUGHT_TOKENS,
                    "totalTokenCount": meta["totalTokenCount"] + THOUGHT_TOKENS}
        if name == "usage":
            meta = USAGE["gemini"][arg]
        if name == "tool":
            parts = [*thought, {"functionCall": {"name": "get_weather", "args": {"city": "Paris"}}}]
        else:
            parts = [*thought, {"text": "".join(words)}]
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
                {"candidates": [{"content": {"role": "model", "parts": [{"text": w}]}, "index": 0}]}
                for w in words
            ]
            if thought:
                events.insert(0, {"candidates": [{"content": {"role": "model", "parts": thought}, "index": 0}]})
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

    # --- OpenAI Responses (native, for the pass-through) ---------------------------------------------
    async def openai_responses(request: Request) -> Response:
        body = await record(request)
        items = body.get("input")
        text = items if isinstance(items, str) else ""
        for item in items if isinstance(items, list) else []:
            if isinstance(item, dict) and item.get("role") == "user":
                content = item.get("content")
                text = content if isinstance(content, str) else "".join(
                    p.get("text", "") for p in content or [] if isinstance(p, dict))
        name, arg = _scenario(text)
        if name == "error":
            return _error(int(arg), "openai")
        if name == "stall":
            await asyncio.sleep(5)
        words = _words(text)
        if name == "splitkey":
            words = _split_key(str(request.headers.get("authorization", "")).removeprefix("Bearer "))
        usage = {"input_tokens": PROMPT_TOKENS, "input_tokens_details": {"cached_tokens": 3},
                 "output_tokens": len(words), "output_tokens_details": {"reasoning_tokens": 2},
                 "total_tokens": PROMPT_TOKENS + len(words)}
        message = {"type": "message", "id": "msg_native", "status": "completed", "role": "assistant",
                   "content": [{"type": "output_text", "text": "".join(words), "annotations": []}]}
        reasoning = {"type": "reasoning", "id": "rs_native", "summary": [], "encrypted_content": "opaque-native"}

        def response(status: str, output: list[Any], with_usage: bool) -> dict[str, Any]:
            return {"id": "resp_native", "object": "response", "created_at": 1, "status": status,
                    "model": body.get("model"), "output": output, "usage": usage if with_usage else None,
                    "error": None, "incomplete_details": None, "tools": [], "tool_choice": "auto",
                    "parallel_tool_calls": True}

        if not body.get("stream"):
            return JSONResponse(response("completed", [reasoning, message], True))
        events: list[Any] = [
            {"type": "response.created", "sequence_number": 0, "response": response("in_progress", [], False)},
            {"type": "response.output_item.added", "sequence_number": 1, "output_index": 0, "item": reasoning},
            {"type": "response.output_item.done", "sequence_number": 2, "output_index": 0, "item": reasoning},
            {"type": "response.output_item.added", "sequence_number": 3, "output_index": 1,
             "item": {**message, "status": "in_progress", "content": []}},
        ]
        events += [{"type": "response.output_text.delta", "sequence_number": 4 + i, "output_index": 1,
                    "item_id": "msg_native", "content_index": 0, "delta": w} for i, w in enumerate(words)]
        if name == "truncate":
            return sse([f"event: {e['type']}\ndata: {json.dumps(e)}\n\n".encode() for e in events[:6]])
        events += [{"type": "response.output_item.done", "sequence_number": 4 + len(words), "output_index": 1,
                    "item": message},
                   {"type": "response.completed", "sequence_number": 5 + len(words),
                    "response": response("completed", [reasoning, message], True)}]
        return sse([f"event: {e['type']}\ndata: {json.dumps(e)}\n\n".encode() for e in events],
                   pace=0.15 if name == "paced" else 0.002)

    return Starlette(
        routes=[
            Route("/v1/messages", anthropic_messages, methods=["POST"]),
            Route("/v1/messages/count_tokens", anthropic_count_tokens, methods=["POST"]),
            Route("/{prefix:path}/publishers/anthropic/models/{target}", vertex_anthropic, methods=["POST"]),
            Route("/v1beta/models/{rest:path}", gemini, methods=["POST"]),
            Route("/{prefix:path}/chat/completions", openai_chat, methods=["POST"]),
            Route("/{prefix:path}/responses", openai_responses, methods=["POST"]),
            Route("/{prefix:path}/completions", openai_completions, methods=["POST"]),
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
    "GROQ_API_KEY": "groq",
    "CEREBRAS_API_KEY": "cerebras",
    "DEEPINFRA_API_KEY": "deepinfra",
    "OPENAI_API_KEY": "openai",
    "TOGETHER_API_KEY": "together-ai",
    "ANTHROPIC_API_KEY": "anthropic",
    "VERTEX_ANTHROPIC_ACCESS_TOKEN": "vertex-anthropic",
    "GEMINI_API_KEY": "gemini",
    "AZURE_OPENAI_API_KEY": "azure-openai",
    "AZURE_AI_API_KEY": "azure-ai",
}
CANARY_KEYS = {
    "groq": "gsk-canary-0123456789",
    "cerebras": "csk-canary-0123456789",
    "deepinfra": "di-canary-0123456789",
    "openai": "sk-canary-openai-0123456789",
    "anthropic": "sk-ant-canary-0123456789",
    "vertex-anthropic": "ya29.canary-0123456789",
    "gemini": "gm-canary-0123456789",
    "azure-openai": "az-canary-0123456789",
    "azure-ai": "azai-canary-0123456789",
    "together-ai": "tg-canary-0123456789",
}


def catalog_override(url: str) -> dict[str, Any]:
    """Points the built-in providers at the fake and adds a self-hosted OpenAI-compatible server."""
    # Three hosts of the built-in catalog's models (gpt-oss-120b among them), each under its own path.
    hosts = {name: {"family": "openai", "base_url": f"{url}/{name}/v1", "secret": name, "env": env,
                    "params": ["temperature", "max_tokens", "stream", "stream_options", "stop"]}
             for env, name in (("GROQ_API_KEY", "groq"), ("CEREBRAS_API_KEY", "cerebras"),
                               ("DEEPINFRA_API_KEY", "deepinfra"))}
    return {
        "providers": {
            **hosts,
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
                "native": ["completions"],
            },
            "anthropic": {
                "family": "anthropic",
                "base_url": f"{url}/v1",
                "secret": "anthropic",
                "env": "ANTHROPIC_API_KEY",
                "params": ["temperature", "max_tokens", "stream", "stop", "tools", "tool_choice"],
                "native": ["messages"],
            },
            "vertex-anthropic": {
                "family": "vertex-anthropic",
                "base_url": f"{url}/v1/projects/test-project/locations/us-east5/publishers/anthropic/models",
                "secret": "vertex-anthropic",
                "env": "VERTEX_ANTHROPIC_ACCESS_TOKEN",
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
                # As in the built-in catalog: its Responses API is passed through (at Azure's v1 route, since
                # 2024-10-21 predates the dated one).
                "native": ["responses"],
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
            # OpenAI's own API, serving the Responses API natively (passed through, not translated).
            "openai-native": {
                "family": "openai",
                "base_url": f"{url}/native/v1",
                "secret": None,
                "native": ["responses"],
                "params": ["temperature", "max_tokens", "max_completion_tokens", "stream", "stream_options",
                           "tools", "tool_choice"],
            },
            "local-vllm": {
                "family": "openai",
                "base_url": f"{url}/vllm/v1",
                "secret": None,
                "params": ["temperature", "max_tokens", "stream", "stream_options"],
                # A self-hosted vLLM serves /v1/completions itself.
                "native": ["completions"],
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
            # The same two again, for the one test that counts its own samples on the shared test server.
            "ranking-test@alpha": {
                "upstream": "routing-test",
                "input": "0.50",
                "output": "2.00",
                "context": 8192,
                "max_output": 1024,
            },
            "ranking-test@beta": {
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
            # The operator prices Azure AI's Cohere image embeddings, which the built-in source prices only by token.
            "cohere-embed-v3-english@azure-ai": {
                "upstream": "Cohere-embed-v3-english",
                "input": "0.10",
                "output": "0",
                "context": 512,
                "max_output": 1,
                "type": "embedding",
                "dimensions": 1024,
                "image_input": True,
                "image": "0.0001",
            },
            "gpt-4o@openai-native": {
                "upstream": "gpt-4o-2024-08-06",
                "input": "2.50",
                "output": "10.00",
                "context": 128000,
                "max_output": 16384,
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
