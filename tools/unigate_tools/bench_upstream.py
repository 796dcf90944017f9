"""The bench's upstream: a minimal OpenAI-compatible server (raw ASGI, so the baseline is as fast as the
machine allows). A last message "paced" streams 20 chunks 5 ms apart; anything else answers at once.

    python -m unigate_tools.bench_upstream --port 8001
"""

from __future__ import annotations

import argparse
import asyncio
import json
from typing import Any

CHUNKS = 20
PACE_SECONDS = 0.005


def _completion(model: str) -> bytes:
    return json.dumps({
        "id": "chatcmpl-bench", "object": "chat.completion", "created": 1, "model": model,
        "choices": [{"index": 0, "message": {"role": "assistant", "content": "ok"}, "finish_reason": "stop"}],
        "usage": {"prompt_tokens": 8, "completion_tokens": 1, "total_tokens": 9},
    }).encode()


def _chunk(model: str, delta: dict[str, Any], finish: str | None = None, usage: dict[str, int] | None = None) -> bytes:
    body: dict[str, Any] = {"id": "chatcmpl-bench", "object": "chat.completion.chunk", "created": 1, "model": model,
                            "choices": [] if usage else [{"index": 0, "delta": delta, "finish_reason": finish}]}
    if usage:
        body["usage"] = usage
    return b"data: " + json.dumps(body).encode() + b"\n\n"


async def read_body(receive: Any) -> bytes:
    """A request's whole body, from its ASGI messages."""
    raw = b""
    while True:
        message = await receive()
        raw += message.get("body", b"")
        if not message.get("more_body"):
            return raw


async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
    if scope["type"] != "http":
        return
    request = json.loads(await read_body(receive) or b"{}")
    model = request.get("model", "bench")
    if not request.get("stream"):
        body = _completion(model)
        await send({"type": "http.response.start", "status": 200,
                    "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]})
        await send({"type": "http.response.body", "body": body})
        return
    paced = (request.get("messages") or [{}])[-1].get("content") == "paced"
    await send({"type": "http.response.start", "status": 200, "headers": [(b"content-type", b"text/event-stream")]})
    await send({"type": "http.response.body", "body": _chunk(model, {"role": "assistant", "content": ""}),
                "more_body": True})
    for index in range(CHUNKS if paced else 1):
        if paced:
            await asyncio.sleep(PACE_SECONDS)
        await send({"type": "http.response.body", "body": _chunk(model, {"content": f"w{index} "}), "more_body": True})
    tail = _chunk(model, {}, "stop")
    if (request.get("stream_options") or {}).get("include_usage"):
        tail += _chunk(model, {}, usage={"prompt_tokens": 8, "completion_tokens": CHUNKS if paced else 1,
                                         "total_tokens": 8 + (CHUNKS if paced else 1)})
    await send({"type": "http.response.body", "body": tail + b"data: [DONE]\n\n"})


def main() -> None:
    import uvicorn

    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, required=True)
    args = parser.parse_args()
    uvicorn.run(app, host="127.0.0.1", port=args.port, log_level="error", access_log=False, lifespan="off")


if __name__ == "__main__":
    main()
