"""A hostile OpenAI-compatible upstream on 127.0.0.1: a raw asyncio server that writes exact bytes, so every
byte of framing is the test's (a well-behaved HTTP server library would refuse to send most of these).

The request's `model` names the scenario (see ANSWERS); `stream` picks the streamed variant, which sends one
good event first where the scenario allows, so that its failure lands mid-stream. Answers that never end
stop by themselves after MAX_SECONDS or MAX_BYTES, whichever comes first.
"""

from __future__ import annotations

import asyncio
import gzip
import json
import threading
import time
import zlib
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from functools import cache

MAX_SECONDS = 30.0
MAX_BYTES = 256 * 1024 * 1024
BOMB_BYTES = 2 * 1024**3  # what the gzip bomb inflates to

GOOD_EVENT = b'data: {"id":"chatcmpl-hostile","object":"chat.completion.chunk","created":0,"model":"m",' \
             b'"choices":[{"index":0,"delta":{"role":"assistant","content":"partial answer "},' \
             b'"finish_reason":null}]}\n\n'


def completion(text: str) -> bytes:
    return json.dumps({
        "id": "chatcmpl-hostile", "object": "chat.completion", "created": 0, "model": "m",
        "choices": [{"index": 0, "message": {"role": "assistant", "content": text}, "finish_reason": "stop"}],
        "usage": {"prompt_tokens": 5, "completion_tokens": 2, "total_tokens": 7},
    }).encode()


def stream_of(text: str) -> bytes:
    chunk = {"id": "chatcmpl-hostile", "object": "chat.completion.chunk", "created": 0, "model": "m",
             "choices": [{"index": 0, "delta": {"content": text}, "finish_reason": "stop"}],
             "usage": {"prompt_tokens": 5, "completion_tokens": 2, "total_tokens": 7}}
    return f"data: {json.dumps(chunk)}\n\ndata: [DONE]\n\n".encode()


def head(*lines: str, status: str = "200 OK") -> bytes:
    return ("\r\n".join([f"HTTP/1.1 {status}", *lines]) + "\r\n\r\n").encode()


def whole(body: bytes, content_type: str = "application/json") -> bytes:
    return head(f"Content-Type: {content_type}", f"Content-Length: {len(body)}") + body


def chunk(data: bytes) -> bytes:
    return b"%x\r\n%s\r\n" % (len(data), data)


CHUNKED = head("Content-Type: application/json", "Transfer-Encoding: chunked")
CHUNKED_SSE = head("Content-Type: text/event-stream", "Transfer-Encoding: chunked")


@cache
def gzip_bomb() -> bytes:
    """About 2 MiB of gzip that inflates to BOMB_BYTES of spaces inside a JSON answer, so that only a reader
    that inflates it all could tell it is not one. A series of gzip members (RFC 1952: what a gzip body is):
    one that inflates 64 MiB from about 64 KiB, less than one read of the body (a reader that inflates
    whatever it reads at once is caught by it), then the same 1 MiB member over and over (made in
    milliseconds, where one deflate stream of 2 GiB takes zlib many seconds to write)."""
    first = zlib.compressobj(9, zlib.DEFLATED, zlib.MAX_WBITS | 16)
    megabyte = b" " * (1024 * 1024)
    head = first.compress(b'{"choices": [') + b"".join(first.compress(megabyte) for _ in range(64)) + first.flush()
    block = gzip.compress(megabyte, compresslevel=9)
    return head + block * (BOMB_BYTES // len(megabyte) - 64) + gzip.compress(b"]}")


# Each scenario: what a connection's first answer is, for a plain request and for a streamed one: bytes, or
# a callable making an endless series of writes (from the head on).
Answer = bytes | Callable[[], AsyncIterator[bytes]]


# How long a streamed variant waits after its good event before it breaks HTTP: an HTTP client parses what
# arrives in one read at once, and one that fails on the broken part never passes on the event before it.
PAUSE_SECONDS = 0.1


async def _after_a_pause(first: bytes, then: bytes) -> AsyncIterator[bytes]:
    yield first
    await asyncio.sleep(PAUSE_SECONDS)
    yield then


async def _endless(first: bytes, piece: bytes, *, chunked: bool = True) -> AsyncIterator[bytes]:
    yield first
    while True:
        yield chunk(piece) if chunked else piece


DRIP_SECONDS = 0.25


async def _drip(first: bytes, piece: bytes) -> AsyncIterator[bytes]:
    """Bytes that keep coming, each well within any per-read timeout, for as long as the reader waits."""
    yield first
    while True:
        await asyncio.sleep(DRIP_SECONDS)
        yield piece


def answers(stream: bool) -> dict[str, Answer]:
    prefix = chunk(GOOD_EVENT) if stream else b""
    framing = CHUNKED_SSE if stream else CHUNKED
    good = stream_of("fine") if stream else completion("fine")
    smuggled = stream_of("smuggled") if stream else completion("smuggled")

    def broken(tail: bytes) -> Answer:
        if stream:
            return lambda: _after_a_pause(framing + prefix, tail)
        return framing + tail

    content_type = "text/event-stream" if stream else "application/json"
    return {
        "ok": whole(good, content_type),
        "chunk-negative": broken(b"-3\r\nabc\r\n0\r\n\r\n"),
        "chunk-hex-prefix": broken(b"0x10\r\n" + b"x" * 16 + b"\r\n0\r\n\r\n"),
        "chunk-absurd": lambda: _endless(framing + prefix + b"ffffffffffffffff\r\n", b"x" * 65536, chunked=False),
        "both-framings": head(f"Content-Type: {content_type}", f"Content-Length: {len(good)}",
                              "Transfer-Encoding: chunked") + chunk(good) + b"0\r\n\r\n",
        "gzip-bomb": head(f"Content-Type: {content_type}", "Content-Encoding: gzip",
                          f"Content-Length: {len(gzip_bomb())}") + gzip_bomb(),
        # A JSON answer that never ends; a stream of comments that never ends.
        "endless-body": (lambda: _endless(framing + prefix, b": still here " + b"." * 1024 + b"\n")) if stream
        else (lambda: _endless(framing + chunk(b'{"choices": ['), b" " * 65536)),
        # One event stream line that never ends.
        "endless-line": lambda: _endless(framing + prefix + chunk(b'data: {"choices": ['), b"x" * 65536),
        "redirect": head("Location: http://169.254.169.254/latest/meta-data/", "Content-Length: 0",
                         status="302 Found"),
        # A body dripped a byte at a time, a stream an event at a time: each read is quick, the whole never ends.
        "drip": (lambda: _drip(framing + prefix, chunk(GOOD_EVENT))) if stream
        else (lambda: _drip(framing + chunk(b'{"choices": ['), chunk(b" "))),
        # A good answer and, in the same write, a second one that nobody asked for.
        "smuggle": whole(good, content_type) + whole(smuggled, content_type),
    }


SCENARIOS = tuple(answers(False))


@dataclass
class HostileUpstream:
    url: str = ""
    connections: int = 0
    requests: list[str] = field(default_factory=list)
    sent: int = 0  # bytes written by endless answers, all told

    async def _answer(self, writer: asyncio.StreamWriter, answer: Answer) -> None:
        if isinstance(answer, bytes):
            writer.write(answer)
            await writer.drain()
            return
        deadline = time.monotonic() + MAX_SECONDS
        sent = 0
        async for piece in answer():
            writer.write(piece)
            await writer.drain()  # raises once the client has closed the connection
            sent += len(piece)
            self.sent += len(piece)
            if sent > MAX_BYTES or time.monotonic() > deadline:
                break
        writer.close()

    async def serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        try:
            while True:
                request_head = await reader.readuntil(b"\r\n\r\n")
                length = next((int(line.split(b":")[1]) for line in request_head.split(b"\r\n")
                               if line.lower().startswith(b"content-length:")), 0)
                body = json.loads(await reader.readexactly(length))
                self.requests.append(body["model"])
                await self._answer(writer, answers(bool(body.get("stream")))[body["model"]])
                if writer.is_closing():
                    return
        except (asyncio.IncompleteReadError, ConnectionError):
            return
        finally:
            writer.close()


def start() -> HostileUpstream:
    """Starts the server on its own thread and event loop (a daemon: it ends with the test session)."""
    hostile = HostileUpstream()
    started = threading.Event()

    async def main() -> None:
        server = await asyncio.start_server(hostile.serve, "127.0.0.1", 0)
        hostile.url = f"http://127.0.0.1:{server.sockets[0].getsockname()[1]}"
        started.set()
        async with server:
            await server.serve_forever()

    threading.Thread(target=asyncio.run, args=(main(),), daemon=True, name="hostile-upstream").start()
    started.wait(10)
    return hostile


def catalog(url: str) -> dict[str, dict[str, dict[str, object]]]:
    """The catalog entries of the hostile upstream: a provider, and one endpoint per scenario."""
    return {
        "providers": {"hostile": {"family": "openai", "base_url": f"{url}/v1", "secret": None,
                                  "params": ["temperature", "max_tokens", "stream", "stream_options"]}},
        "endpoints": {f"{name}@hostile": {"upstream": name, "input": "1.00", "output": "2.00", "context": 8192,
                                          "max_output": 1024} for name in SCENARIOS},
    }
