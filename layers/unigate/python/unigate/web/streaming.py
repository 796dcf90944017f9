"""Streamed answers: server-sent events, and a client's disconnect cancelling the work (and its upstream call)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from fastapi import Request
from fastapi.responses import JSONResponse, Response, StreamingResponse
from starlette.types import Receive, Scope, Send


class ClientGone(Exception):
    """The client disconnected before the response started."""


async def cancel_on_disconnect(request: Request, work: Callable[[], Awaitable[Any]]) -> Any:
    """Runs `work` until it finishes or the client disconnects, whichever comes first; a disconnect
    cancels it (and with it any upstream request in flight) and raises ClientGone.

    `work` runs in this task and one watcher task waits for the disconnect: plain asyncio, as a task group
    with a cancel scope cost a tenth of the gateway's own time per request (two tasks and a repr of each
    task it cancels). The cancel is delivered once, so the cleanup of `work` (releasing its hold) runs whole.
    """
    import asyncio

    task = asyncio.current_task()
    assert task is not None  # always inside a request's task
    running, gone = True, False

    async def watch() -> None:
        nonlocal gone
        while (await request.receive())["type"] != "http.disconnect":
            pass
        if running:
            gone = True
            task.cancel()

    watcher = asyncio.get_running_loop().create_task(watch())
    try:
        return await work()
    except asyncio.CancelledError:
        if not gone:
            raise
        task.uncancel()
        raise ClientGone() from None
    finally:
        running = False
        watcher.cancel()


class EventStreamResponse(StreamingResponse):
    """A server-sent event stream: Starlette's StreamingResponse, with the client's disconnect watched by
    cancel_on_disconnect. Under an ASGI server older than spec 2.4 (uvicorn, as the Lambda Web Adapter runs
    it) Starlette starts a task group per stream and sends from a second task, one more loop turn before
    the first byte. Here the body is sent from the request's own task; a disconnect cancels it the same
    way (the body's own cleanup settles what was produced)."""

    media_type = "text/event-stream"

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        try:
            await cancel_on_disconnect(Request(scope, receive), lambda: self.stream_response(send))
        except ClientGone:
            return
        if self.background is not None:
            await self.background()



async def answer(request: Request, work: Callable[[], Awaitable[Any]]) -> Response:
    """A paid request's response: `work`'s result as server-sent events when it streams (it has `chunks`),
    else its `body` as JSON, both with its headers; 499 when the client left before the first byte (the
    upstream call cancelled, its hold given back)."""
    try:
        result = await cancel_on_disconnect(request, work)
    except ClientGone:
        return Response(status_code=499)
    chunks = getattr(result, "chunks", None)
    if chunks is not None:
        return EventStreamResponse(chunks, headers=result.headers)
    return JSONResponse(result.body, headers=result.headers)
