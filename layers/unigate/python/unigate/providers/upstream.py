"""The one transport every HTTP provider adapter shares: the upstream call (aiohttp, see unigate.infra.transport)
with its answer read incrementally and capped, server-sent events, and errors mapped to UpstreamFailure."""

from __future__ import annotations

import asyncio
import contextlib
import json
import math
import re
import zlib
from collections.abc import AsyncGenerator, AsyncIterator, Iterator, Mapping
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING, Any

from unigate.infra.config import get_settings
from unigate.providers.base import UpstreamFailure

if TYPE_CHECKING:
    import aiohttp


def retry_after_seconds(value: str | None) -> float | None:
    if not value:
        return None
    try:
        seconds = float(value)
    except ValueError:
        return None
    # `inf`, `nan` and absurd waits are no advice (they used to overflow into a 500).
    return max(0.0, seconds) if math.isfinite(seconds) and seconds <= 86_400 else None


def error_message(payload: bytes) -> str:
    """The message of a provider's error body, whatever its envelope."""
    try:
        body = json.loads(payload)
    except ValueError:
        return payload.decode("utf-8", "replace")[:300] or "no body"
    if isinstance(body, list) and body:
        body = body[0]
    if isinstance(body, dict):
        error = body.get("error", body)
        if isinstance(error, dict):
            return str(error.get("message") or error.get("type") or error)
        return str(error)
    return str(body)


READ_SIZE = 64 * 1024  # the most one decoding step yields


# What is read of a refusal's body: its message is in the first bytes.
ERROR_BODY_BYTES = 64 * 1024


# What `Answer.finish` waits for, and reads, of a body its reader has stopped needing.
FINISH_SECONDS = 0.05


FINISH_BYTES = 64 * 1024


_LINE_BREAK = re.compile(rb"\r\n|\r|\n")  # exactly the line ends of HTTP and server-sent events


_COMPRESSED = frozenset({"gzip", "x-gzip", "deflate"})


def too_large(what: str, limit: int) -> UpstreamFailure:
    return UpstreamFailure(None, f"The upstream's {what} is larger than the gateway's limit of {limit} bytes.",
                           kind="protocol")


async def _raw_body(content: aiohttp.StreamReader) -> AsyncGenerator[bytes, None]:
    """The body as it arrives, de-chunked and not decoded (the client's auto_decompress is off)."""
    while chunk := await content.readany():
        yield chunk


class Answer:
    """An upstream answer whose body is read as it arrives: decoded (gzip, deflate) in bounded steps and
    counted, before and after decoding, so that neither a body that never ends nor a decompression bomb
    takes more than `limit` bytes. Header names are case-insensitive."""

    def __init__(self, response: aiohttp.ClientResponse, limit: int) -> None:
        self.status_code = response.status
        self.headers = response.headers
        self._response = response
        self._raw = _raw_body(response.content)
        # aiohttp's C parser can stop at a broken chunk without failing the body, which then waits for bytes
        # that never come: the connection's end fails it instead.
        protocol = response.connection.protocol if response.connection is not None else None
        self._closed = protocol.closed if protocol is not None else None
        if self._closed is not None:
            self._closed.add_done_callback(self._connection_lost)
        elif protocol is not None:  # the connection has ended already
            self._connection_lost()
        self._limit = limit
        self._size = 0
        self._raw_size = 0
        self._ended = False
        if "content-length" in response.headers and "transfer-encoding" in response.headers:
            # Two framings (RFC 9112 6.3: "ought to be handled as an error"): a sign of response splitting.
            raise UpstreamFailure(None, "The upstream's answer has both a Content-Length and a Transfer-Encoding.",
                                  kind="protocol")
        encoding = response.headers.get("content-encoding", "identity").strip().lower()
        if encoding not in _COMPRESSED | {"", "identity"}:
            raise UpstreamFailure(None, f"The upstream answered in an encoding it was not offered ({encoding[:40]}).",
                                  kind="protocol")
        self._inflater = zlib.decompressobj(zlib.MAX_WBITS | 32) if encoding in _COMPRESSED else None
        # Some servers send "deflate" without its zlib header: tried once, on the first bytes.
        self._raw_deflate = encoding == "deflate"

    def _connection_lost(self, _: object = None) -> None:
        import aiohttp

        if not self._response.content.is_eof():
            self._response.content.set_exception(
                aiohttp.ClientPayloadError("The connection closed before the answer's end."))

    def _count(self, size: int, raw: int) -> None:
        self._size += size
        self._raw_size += raw
        if self._size > self._limit or self._raw_size > self._limit:
            raise too_large("answer", self._limit)

    def _inflate(self, data: bytes) -> Iterator[bytes]:
        while self._inflater is not None:
            inflater = self._inflater
            try:
                out = inflater.decompress(data, READ_SIZE)  # never more at once: a bomb is stopped at the limit
            except zlib.error:
                if not self._raw_deflate:
                    raise UpstreamFailure(None, "The upstream's compressed answer is corrupt.",
                                          kind="protocol") from None
                self._inflater = zlib.decompressobj(-zlib.MAX_WBITS)
                self._raw_deflate = False
                continue
            self._raw_deflate = False
            if out:
                self._count(len(out), 0)
                yield out
            if inflater.eof:
                data = inflater.unused_data
                if not data:
                    return
                self._inflater = zlib.decompressobj(zlib.MAX_WBITS | 32)  # another gzip member follows
            else:
                data = inflater.unconsumed_tail
                if not data and len(out) < READ_SIZE:
                    return

    async def chunks(self) -> AsyncIterator[bytes]:
        """The body, decoded, as it arrives."""
        async for raw in self._raw:
            if self._inflater is None:
                self._count(len(raw), len(raw))
                if raw:
                    yield raw
            else:
                self._count(0, len(raw))
                for piece in self._inflate(raw):
                    yield piece
        self._ended = True
        if self._inflater is not None and (tail := self._inflater.flush()):
            self._count(len(tail), 0)
            yield tail

    async def read(self) -> bytearray:
        body = bytearray()
        async for chunk in self.chunks():
            body += chunk
        return body

    async def lines(self, limit: int) -> AsyncIterator[str]:
        """Lines split at CR LF, LF or CR only (not at the other characters `str.splitlines` breaks at, which
        JSON text may carry unescaped), each decoded as UTF-8 (whose multi-byte characters never hold CR or
        LF), and none longer than `limit` bytes. A long line is kept as its pieces until it ends: joined
        once, never copied as it grows."""
        pieces: list[bytes] = []
        size = 0
        after_cr = False  # a CR ended the last chunk: an LF starting the next one belongs to it
        async for chunk in self.chunks():
            start = 1 if after_cr and chunk.startswith(b"\n") else 0
            after_cr = False
            for match in _LINE_BREAK.finditer(chunk, start):
                size += match.start() - start
                if size > limit:
                    raise too_large("event stream line", limit)
                pieces.append(chunk[start:match.start()])
                yield b"".join(pieces).decode("utf-8", "replace")
                pieces, size, start = [], 0, match.end()
                after_cr = start == len(chunk) and match.group() == b"\r"
            if start < len(chunk):
                size += len(chunk) - start
                if size > limit:
                    raise too_large("event stream line", limit)
                pieces.append(chunk[start:])
        if pieces:
            yield b"".join(pieces).decode("utf-8", "replace")

    async def finish(self) -> None:
        """Reads what is left of a body whose reader has what it needs, so that the connection carries the
        next call. A server-sent event stream's reader stops at its last event ([DONE], message_stop) and
        the body's end (a chunked body's empty last chunk) is right behind it: keeping the connection saves
        the next call a TCP and TLS handshake. A body that does not end within FINISH_SECONDS and
        FINISH_BYTES is dropped with its connection (by aclose)."""
        import aiohttp

        if self._ended:
            return
        left = FINISH_BYTES
        with contextlib.suppress(TimeoutError, aiohttp.ClientError):
            async with asyncio.timeout(FINISH_SECONDS):
                async for raw in self._raw:  # at the body's end aiohttp puts the connection back in the pool
                    left -= len(raw)
                    if left < 0:
                        return
                self._ended = True

    async def aclose(self) -> None:
        """Closes the answer; a connection whose answer was not read to its end is closed with it."""
        if self._closed is not None:
            self._closed.remove_done_callback(self._connection_lost)
        await self._raw.aclose()
        self._response.close()  # a no-op once the body was read to its end: its connection is back in the pool


async def raise_for_status(response: Answer) -> None:
    if 300 <= response.status_code < 400:
        # Never followed: a redirect could point a request anywhere, past every check of its URL.
        raise UpstreamFailure(response.status_code, f"{response.status_code} from upstream: a redirect, not followed.")
    if response.status_code < 400:
        return
    import aiohttp

    payload = bytearray()
    # The status is the failure: a refusal whose body cannot be read is still that refusal.
    with contextlib.suppress(aiohttp.ClientError, TimeoutError, UpstreamFailure):
        async for chunk in response.chunks():
            payload += chunk
            if len(payload) >= ERROR_BODY_BYTES:
                break
    raise UpstreamFailure(
        response.status_code,
        f"{response.status_code} from upstream: {error_message(bytes(payload[:ERROR_BODY_BYTES]))}",
        retry_after=retry_after_seconds(response.headers.get("retry-after")),
    )


async def sse_data(response: Answer) -> AsyncIterator[tuple[str | None, str]]:
    """(event, data) pairs of a server-sent event stream; a line, or an event, longer than
    UNIGATE_UPSTREAM_MAX_SSE_LINE_BYTES fails the stream."""
    limit = get_settings().upstream_max_sse_line_bytes
    event: str | None = None
    data: list[str] = []
    size = 0
    async for line in response.lines(limit):
        if line == "":
            if data:
                yield event, "\n".join(data)
            event, data, size = None, [], 0
        elif line.startswith(":"):
            continue
        elif line.startswith("event:"):
            event = line[6:].strip()
        elif line.startswith("data:"):
            data.append(line[5:].lstrip(" "))
            size += len(data[-1]) + 1
            if size > limit:
                raise too_large("event stream event", limit)
    if data:
        yield event, "\n".join(data)


def _reject_constant(name: str) -> Any:
    """NaN and Infinity are not JSON: an upstream that sends them sent a malformed answer."""
    raise ValueError(name)


def parse_json(data: str) -> Any:
    try:
        return json.loads(data, parse_constant=_reject_constant)
    except ValueError:
        raise UpstreamFailure(None, "The upstream sent a malformed stream chunk.", kind="protocol") from None


def transport_failure(exc: Exception, *, started: bool = True) -> UpstreamFailure:
    """The HTTP client's failures, as UpstreamFailure; `started`: whether the request's head had been handed to a
    connection (see unigate.infra.transport.Sending)."""
    import aiohttp

    if isinstance(exc, TimeoutError):  # aiohttp's timeouts are TimeoutErrors too
        return UpstreamFailure(None, "The upstream did not answer in time.", kind="timeout",
                               started=started and not isinstance(exc, aiohttp.ConnectionTimeoutError))
    if isinstance(exc, aiohttp.ClientProxyConnectionError | aiohttp.ClientHttpProxyError):
        return UpstreamFailure(None, "The egress proxy refused the connection to the upstream.", kind="connect")
    # SpokeOutOfTurn (unigate.infra.transport) is a ClientConnectionError, not a ClientConnectorError: protocol.
    if isinstance(exc, aiohttp.ClientConnectorError | aiohttp.InvalidURL):
        return UpstreamFailure(None, f"Could not reach the upstream ({type(exc).__name__}).", kind="connect")
    if isinstance(exc, aiohttp.ClientError):  # a broken answer (a head aiohttp cannot parse is a ResponseError)
        return UpstreamFailure(None, "The upstream closed the connection early or broke HTTP.", kind="protocol")
    return UpstreamFailure(None, f"Could not reach the upstream ({type(exc).__name__}).", kind="connect")


def _check_headers(headers: Mapping[str, str]) -> None:
    """Header names and values are printable ASCII: a line break would start a header of its own, and
    aiohttp sends what is not ASCII as UTF-8 rather than refusing it."""
    for name, value in headers.items():
        if not (name and name.isascii() and name.isprintable() and ":" not in name and " " not in name
                and value.isascii() and value.isprintable()):
            raise UpstreamFailure(None, f"A header for the upstream ({name[:40]!r}) is not printable ASCII text.",
                                  kind="config")


async def post_json(url: str, payload: dict[str, Any], headers: dict[str, str], timeout: float, *,
                    server_name: str | None = None) -> Any:
    """POSTs JSON and returns the JSON answer, with every failure as an UpstreamFailure."""
    async with open_stream(url, payload, headers, timeout, server_name=server_name, stream=False) as response:
        content = await response.read()
    try:
        return json.loads(content, parse_constant=_reject_constant)
    except ValueError:
        raise UpstreamFailure(None, "The upstream sent a malformed response.", kind="protocol") from None


@asynccontextmanager
async def open_stream(url: str, payload: dict[str, Any], headers: dict[str, str], timeout: float, *,
                      server_name: str | None = None, stream: bool = True) -> AsyncIterator[Answer]:
    """A POST's answer, its body still to be read, closed on exit (which cancels the upstream request
    when the caller stops early). Answers other than 2xx raise; so do transport errors while reading,
    as UpstreamFailure. `server_name`: the URL names the address a custom endpoint vetted, and TLS
    verifies this host name (see unigate.infra.ssrf). `timeout` is the call's deadline, in seconds from
    now: connecting (at most transport.CONNECT_TIMEOUT_SECONDS), each wait for the next bytes and the whole
    answer, stream included, end by it."""
    import aiohttp

    from unigate.infra.transport import CONNECT_TIMEOUT_SECONDS, Sending, get_client

    settings = get_settings()
    limit = settings.upstream_max_stream_bytes if stream else settings.upstream_max_body_bytes
    body = json.dumps(payload, ensure_ascii=False, separators=(",", ":"), allow_nan=False).encode()
    headers = {"Content-Type": "application/json", **headers}
    _check_headers(headers)
    connect = min(timeout, CONNECT_TIMEOUT_SECONDS)
    sending = Sending()
    try:
        response = await get_client(server_name).post(
            url, data=body, headers=headers, allow_redirects=False, server_hostname=server_name,
            # `total` is a deadline for the whole call, reading the answer (or the whole stream) included: an
            # upstream that drips bytes cannot keep it open past the function's own deadline.
            timeout=aiohttp.ClientTimeout(total=timeout, connect=connect, sock_connect=connect, sock_read=timeout),
            trace_request_ctx=sending)
    except (aiohttp.ClientError, TimeoutError, ValueError) as exc:  # ValueError: a URL aiohttp cannot send to
        # A failure before the request was handed to a connection provably cost the provider nothing.
        raise transport_failure(exc, started=sending.started) from None
    answer: Answer | None = None
    try:
        answer = Answer(response, limit)
        await raise_for_status(answer)
        yield answer
        await answer.finish()  # the reader is done: the body's end is read, and the connection kept, if it comes
    except (aiohttp.ClientError, TimeoutError) as exc:
        raise transport_failure(exc) from None
    finally:
        if answer is not None:
            await answer.aclose()
        else:
            response.close()

