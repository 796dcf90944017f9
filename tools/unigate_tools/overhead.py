"""The gateway's own work per chat request, in one process: `python -m unigate_tools.overhead [requests]`.

Drives the local API Gateway stand-in and the chat function's FastAPI app through ASGI, without sockets:
the authorizer's cached decision, the request context, the body's checks, the plan, and the JSON
response. `chat.complete` (the hold, the upstream call and the settle) is replaced by a fixed answer, so
neither moto nor an upstream is timed. What is left is the part of the bench's "outside AWS calls" that
is neither an HTTP hop nor the upstream call, measured warm: in the server the same work costs 3 to 5
times as much, mostly because its CPU sleeps while it waits, and a CPU that has slept runs slower for a
while (see docs/performance.md, sixth session).

Prints the median time per request of the fastest of seven blocks. For a count that does not drift with
the machine's speed, run it under callgrind with 0 and with N requests and divide the difference by N:

    valgrind --tool=callgrind --callgrind-out-file=/dev/null python -m unigate_tools.overhead 2000
"""

from __future__ import annotations

import asyncio
import json
import statistics
import sys
import time
from collections.abc import MutableMapping
from typing import Any

BLOCKS = 7
WARM_UP = 200
MODEL = "echo@echo"


def _answer(plan: list[Any]) -> Any:
    from unigate.gateway import chat

    body = {"id": "chatcmpl-overhead", "object": "chat.completion", "created": 1, "model": MODEL,
            "choices": [{"index": 0, "message": {"role": "assistant", "content": "ok"}, "finish_reason": "stop"}],
            "usage": {"prompt_tokens": 8, "completion_tokens": 1, "total_tokens": 9, "cost": 0.000001}}
    return chat.Completed(body, {**plan[0].headers, "x-unigate-cost": "0.000001"})


def build() -> Any:
    """A coroutine function that sends one chat request through the local API and checks its answer."""
    from unigate.domain import keys
    from unigate.gateway import chat
    from unigate_tools import runner
    from unigate_tools.server import LocalApi

    key = keys.generate_key()
    api = LocalApi(runner.prepare(dev_key=key, external=False)["template"])

    async def complete(plan: list[Any], caller: Any, **_: Any) -> Any:
        return _answer(plan)

    chat.complete = complete
    body = json.dumps({"model": MODEL, "messages": [{"role": "user", "content": "hi"}], "max_tokens": 16}).encode()
    headers = [(b"host", b"127.0.0.1:8000"), (b"accept", b"*/*"), (b"user-agent", b"overhead"),
               (b"authorization", f"Bearer {key}".encode()), (b"content-type", b"application/json"),
               (b"content-length", str(len(body)).encode())]
    scope = {"type": "http", "asgi": {"version": "3.0", "spec_version": "2.3"}, "http_version": "1.1",
             "server": ("127.0.0.1", 8000), "client": ("127.0.0.1", 50000), "scheme": "http", "method": "POST",
             "root_path": "", "path": "/v1/chat/completions", "raw_path": b"/v1/chat/completions",
             "query_string": b"", "headers": headers}

    async def one() -> None:
        sent: list[MutableMapping[str, Any]] = []
        delivered = False
        never = asyncio.Event()

        async def receive() -> dict[str, Any]:
            nonlocal delivered
            if not delivered:
                delivered = True
                return {"type": "http.request", "body": body, "more_body": False}
            await never.wait()  # the client never leaves
            return {"type": "http.disconnect"}

        async def send(message: MutableMapping[str, Any]) -> None:
            sent.append(message)

        await api(dict(scope), receive, send)
        if sent[0].get("status") != 200:
            raise SystemExit(f"the chat request failed: {sent}")

    return one


async def measure(requests: int) -> float | None:
    """Median seconds per request of the fastest block, or None when no request was timed."""
    one = build()
    for _ in range(WARM_UP):
        await one()
    per_block = requests // BLOCKS
    if per_block == 0:
        for _ in range(requests):
            await one()
        return None
    medians = []
    for _ in range(BLOCKS):
        times = []
        for _ in range(per_block):
            started = time.perf_counter()
            await one()
            times.append(time.perf_counter() - started)
        medians.append(statistics.median(times))
    return min(medians)


def main() -> None:
    import uvloop

    requests = int(sys.argv[1]) if len(sys.argv) > 1 else 3500
    seconds = uvloop.run(measure(requests))
    if seconds is not None:
        print(f"gateway's own work per chat request (warm, in process): {seconds * 1000:.3f} ms")


if __name__ == "__main__":
    main()
