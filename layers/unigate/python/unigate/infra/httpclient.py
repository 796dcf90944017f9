"""The upstream HTTP client: HTTP/1.1 on asyncio streams, one per event loop, connections kept alive.

Why not httpx: on the hot path its layers (request and response models, auth and redirect handling,
anyio streams, httpcore's pool) cost about 0.8 ms per call, more than the rest of what unigate does
outside AWS, and its imports cost a cold start some 60 ms. An upstream call needs little of that: send
a JSON body, read a JSON answer or an event stream, keep the connection for the next call. Never a
proxy (a Lambda has none, and environment proxies must not redirect provider keys), never a redirect
(an upstream that redirects is an error, not a new destination: see providers.base.raise_for_status).

Lambda has one event loop per process; the local server runs handlers on several, and asyncio streams
belong to the loop that opened them, so clients are kept per loop.
"""

from __future__ import annotations

import asyncio
import codecs
import contextlib
import re
import select
import time
import weakref
import zlib
from collections.abc import AsyncGenerator, AsyncIterator, Awaitable
from functools import cache
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

if TYPE_CHECKING:
    import ssl

CONNECT_TIMEOUT_SECONDS = 5.0
# Shorter than providers' own idle timeouts (60 s and more), so a kept connection is rarely one the
# server is closing; a connection that has become readable while idle (closed, or a Lambda thawed after
# the server hung up) is never reused either.
KEEPALIVE_SECONDS = 30.0
MAX_IDLE_PER_ORIGIN = 32
MAX_HEAD_BYTES = 64 * 1024
READ_SIZE = 64 * 1024
# What `Response.finish` waits for, and reads, of a body its reader has stopped needing.
FINISH_SECONDS = 0.05
FINISH_BYTES = 64 * 1024
_LINE_BREAK = re.compile(r"\r\n|\r|\n")  # exactly the line ends of HTTP and server-sent events
_UNSAFE_HEADER = re.compile(r"[\r\n\x00]")


class HTTPError(Exception):
    """Any failure to get an answer: the subclasses say which kind."""


class ConnectError(HTTPError):
    pass


class Timeout(HTTPError):
    pass


class ProtocolError(HTTPError):
    """The server broke HTTP: closed early, or sent something that is not an HTTP/1.1 answer."""


@cache
def _tls_context() -> ssl.SSLContext:
    import ssl  # only for https upstreams: importing it costs a cold start 20 ms

    # Built once per process: loading the CA store costs milliseconds.
    return ssl.create_default_context()


class _Connection:
    __slots__ = ("idle_since", "origin", "reader", "writer")

    def __init__(self, origin: tuple[str, str, int, str], reader: asyncio.StreamReader,
                 writer: asyncio.StreamWriter) -> None:
        self.origin = origin
        self.reader = reader
        self.writer = writer
        self.idle_since = 0.0

    def reusable(self) -> bool:
        if self.writer.is_closing() or self.reader.at_eof():
            return False
        if time.monotonic() - self.idle_since > KEEPALIVE_SECONDS:
            return False
        sock = self.writer.get_extra_info("socket")
        if sock is None:
            return False
        # An idle connection has nothing to read; if it has, the server closed it (or broke protocol).
        readable, _, _ = select.select([sock], [], [], 0)
        return not readable

    def close(self) -> None:
        self.writer.close()


class Response:
    """An answer whose body is read on demand: `aread()` whole, or `aiter_bytes()` / `aiter_lines()` as
    it arrives. Header names are lower case. Always closed with `aclose()` (or fully read), which puts
    the connection back for the next call when the answer allows it."""

    def __init__(self, client: Client, connection: _Connection, status_code: int, headers: dict[str, str],
                 timeout: float, *, method: str) -> None:
        self.status_code = status_code
        self.headers = headers
        self._client = client
        self._connection: _Connection | None = connection
        self._timeout = timeout
        self._content: bytes | None = None
        self._keep_alive = headers.get("connection", "").lower() != "close"
        encoding = headers.get("content-encoding", "identity").lower()
        self._decoder: Any = None
        if encoding in ("gzip", "deflate"):
            self._decoder = zlib.decompressobj(zlib.MAX_WBITS | 32)  # gzip or zlib, detected from the header
        elif encoding != "identity":
            raise ProtocolError(f"unsupported content-encoding {encoding}")
        if method == "HEAD" or status_code in (204, 304):
            self._framing, self._remaining = "length", 0
        elif "chunked" in headers.get("transfer-encoding", "").lower():
            self._framing, self._remaining = "chunked", 0
        elif "content-length" in headers:
            try:
                self._framing, self._remaining = "length", int(headers["content-length"])
            except ValueError:
                raise ProtocolError("invalid content-length") from None
        else:
            self._framing, self._remaining, self._keep_alive = "close", 0, False

    async def _within_timeout(self, read: Awaitable[bytes]) -> bytes:
        try:
            async with asyncio.timeout(self._timeout):
                return await read
        except TimeoutError:
            raise Timeout("the upstream stopped sending") from None
        except asyncio.IncompleteReadError:
            raise ProtocolError("the server closed the connection before the answer ended") from None
        except asyncio.LimitOverrunError:
            raise ProtocolError("a chunk header is too long") from None
        except OSError as exc:
            raise ProtocolError(f"the connection failed while reading ({exc.__class__.__name__})") from None

    async def _raw_chunks(self) -> AsyncGenerator[bytes, None]:
        connection = self._connection
        if connection is None:
            return
        reader = connection.reader
        if self._framing == "length":
            while self._remaining > 0:
                data = await self._within_timeout(reader.read(min(READ_SIZE, self._remaining)))  # never past the answer
                if not data:
                    raise ProtocolError("the server closed the connection before the answer ended")
                self._remaining -= len(data)
                yield data
        elif self._framing == "chunked":
            while True:
                line = await self._within_timeout(reader.readuntil(b"\r\n"))
                try:
                    size = int(line.split(b";", 1)[0].strip(), 16)
                except ValueError:
                    raise ProtocolError("invalid chunk size") from None
                if size == 0:
                    while (await self._within_timeout(reader.readuntil(b"\r\n"))) != b"\r\n":  # trailers, ignored
                        pass
                    break
                data = await self._within_timeout(reader.readexactly(size + 2))
                yield data[:-2]
        else:
            while data := await self._within_timeout(reader.read(READ_SIZE)):
                yield data
        self._release()

    async def aiter_bytes(self) -> AsyncIterator[bytes]:
        if self._content is not None:
            yield self._content
            return
        try:
            async for chunk in self._raw_chunks():
                data = self._decoder.decompress(chunk) if self._decoder else chunk
                if data:
                    yield data
            if self._decoder:
                tail = self._decoder.flush()
                if tail:
                    yield tail
        except GeneratorExit:
            # Left by a reader that had what it needed (a stream's last event) and is collected later,
            # maybe while `finish` reads the body's end: whoever holds the Response finishes or closes it.
            raise
        except BaseException:
            self._discard()
            raise

    async def aiter_lines(self) -> AsyncIterator[str]:
        """Lines split at CR LF, LF or CR only (not at the other characters `str.splitlines` breaks at,
        which JSON text may carry unescaped), decoded as UTF-8 across chunk boundaries."""
        decoder = codecs.getincrementaldecoder("utf-8")("replace")
        pending = ""
        async for chunk in self.aiter_bytes():
            text = pending + decoder.decode(chunk)
            # A CR at the end may be the first half of a CR LF still to come: keep it for the next chunk.
            held = "\r" if text.endswith("\r") else ""
            *lines, pending = _LINE_BREAK.split(text[:-1] if held else text)
            pending += held
            for line in lines:
                yield line
        pending += decoder.decode(b"", final=True)
        if pending:
            yield pending[:-1] if pending.endswith("\r") else pending

    async def aread(self) -> bytes:
        if self._content is None:
            self._content = b"".join([chunk async for chunk in self.aiter_bytes()])
        return self._content

    async def finish(self, *, within: float = FINISH_SECONDS, limit: int = FINISH_BYTES) -> None:
        """Reads what is left of a body whose reader has what it needs, so that the connection carries the
        next call. A server-sent event stream's reader stops at its last event ([DONE], message_stop) and
        the body's end (a chunked body's empty last chunk) is right behind it: keeping the connection
        saves the next streamed call a TCP and TLS handshake, on its time to first byte. A body that does
        not end within `within` seconds and `limit` bytes is dropped with its connection, as aclose does."""
        if self._connection is not None and self._framing != "close":
            left = limit
            with contextlib.suppress(TimeoutError, HTTPError):
                async with asyncio.timeout(within), contextlib.aclosing(self._raw_chunks()) as chunks:
                    async for data in chunks:  # at the body's end the connection goes back to the pool
                        left -= len(data)
                        if left < 0:
                            break
        self._discard()

    async def aclose(self) -> None:
        self._discard()  # a body still unread would be in the way of the next answer

    def _release(self) -> None:
        connection, self._connection = self._connection, None
        if connection is not None:
            if self._keep_alive:
                self._client.keep(connection)
            else:
                connection.close()

    def _discard(self) -> None:
        connection, self._connection = self._connection, None
        if connection is not None:
            connection.close()


class Client:
    def __init__(self) -> None:
        self._idle: dict[tuple[str, str, int, str], list[_Connection]] = {}

    async def _connect(self, origin: tuple[str, str, int, str]) -> _Connection:
        scheme, host, port, server_name = origin
        tls = _tls_context() if scheme == "https" else None
        try:
            async with asyncio.timeout(CONNECT_TIMEOUT_SECONDS):
                reader, writer = await asyncio.open_connection(
                    host, port, ssl=tls, server_hostname=server_name if tls else None, limit=MAX_HEAD_BYTES)
        except TimeoutError:
            raise Timeout(f"connecting to {host}:{port} timed out") from None
        except OSError as exc:  # ssl.SSLError included
            raise ConnectError(f"cannot connect to {host}:{port} ({exc.__class__.__name__})") from None
        sock = writer.get_extra_info("socket")
        if sock is not None:
            import socket

            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        return _Connection(origin, reader, writer)

    async def _connection(self, origin: tuple[str, str, int, str]) -> _Connection:
        idle = self._idle.get(origin)
        while idle:
            connection = idle.pop()
            if connection.reusable():
                return connection
            connection.close()
        return await self._connect(origin)

    def keep(self, connection: _Connection) -> None:
        idle = self._idle.setdefault(connection.origin, [])
        if len(idle) >= MAX_IDLE_PER_ORIGIN or connection.writer.is_closing():
            connection.close()
            return
        connection.idle_since = time.monotonic()
        idle.append(connection)

    async def request(self, method: str, url: str, *, content: bytes = b"", headers: dict[str, str] | None = None,
                      timeout: float = 60.0, server_name: str | None = None) -> Response:
        """Sends a request and reads the answer's head; the body is read from the Response.

        `server_name` is the TLS name to verify when the URL names an address rather than the host
        (custom endpoints connect to the address they vetted; see unigate.infra.ssrf)."""
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ConnectError(f"not an http(s) URL: {url!r}")
        host = parts.hostname
        default_port = 443 if parts.scheme == "https" else 80
        port = parts.port or default_port
        origin = (parts.scheme, host, port, server_name or host)
        netloc = f"[{host}]" if ":" in host else host
        fields = {"host": ("Host", netloc if port == default_port else f"{netloc}:{port}"),
                  "accept": ("Accept", "*/*"), "accept-encoding": ("Accept-Encoding", "gzip, deflate"),
                  "user-agent": ("User-Agent", "unigate")}
        for name, value in (headers or {}).items():
            fields[name.lower()] = (name, value)
        fields["content-length"] = ("Content-Length", str(len(content)))
        lines = [f"{method} {parts.path or '/'}{'?' + parts.query if parts.query else ''} HTTP/1.1"]
        for name, value in fields.values():
            if _UNSAFE_HEADER.search(name) or _UNSAFE_HEADER.search(value):
                raise ConnectError(f"header {name!r} has a line break")  # never sent: no header injection
            lines.append(f"{name}: {value}")
        try:
            head = ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")
        except UnicodeEncodeError:
            raise ConnectError("a header is not latin-1 text") from None

        connection = await self._connection(origin)
        try:
            connection.writer.write(head + content if len(content) < READ_SIZE else head)
            if len(content) >= READ_SIZE:
                connection.writer.write(content)
            async with asyncio.timeout(timeout):
                await connection.writer.drain()
                status, response_headers = await _read_head(connection.reader)
                while 100 <= status < 200:  # "continue", "early hints": the real answer follows
                    status, response_headers = await _read_head(connection.reader)
            return Response(self, connection, status, response_headers, timeout, method=method)
        except TimeoutError:
            connection.close()
            raise Timeout("the upstream did not answer in time") from None
        except (OSError, asyncio.IncompleteReadError) as exc:
            connection.close()
            raise ProtocolError(f"the connection failed ({exc.__class__.__name__})") from None
        except BaseException:
            connection.close()
            raise

    async def aclose(self) -> None:
        for idle in self._idle.values():
            for connection in idle:
                connection.close()
        self._idle.clear()


async def _read_head(reader: asyncio.StreamReader) -> tuple[int, dict[str, str]]:
    try:
        raw = await reader.readuntil(b"\r\n\r\n")
    except asyncio.LimitOverrunError:
        raise ProtocolError("the answer's head is too long") from None
    status_line, *header_lines = raw[:-4].decode("latin-1").split("\r\n")
    version, _, rest = status_line.partition(" ")
    if not version.startswith("HTTP/1."):
        raise ProtocolError("not an HTTP/1.x answer")
    try:
        status = int(rest[:3])
    except ValueError:
        raise ProtocolError("invalid status line") from None
    headers: dict[str, str] = {}
    for line in header_lines:
        name, colon, value = line.partition(":")
        if not colon:
            raise ProtocolError("invalid header line")
        name, value = name.strip().lower(), value.strip()
        headers[name] = f"{headers[name]}, {value}" if name in headers else value
    if version == "HTTP/1.0" and headers.get("connection", "").lower() != "keep-alive":
        headers.setdefault("connection", "close")
    return status, headers


_clients: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, Client] = weakref.WeakKeyDictionary()


def get_client() -> Client:
    loop = asyncio.get_running_loop()
    client = _clients.get(loop)
    if client is None:
        client = _clients[loop] = Client()
    return client
