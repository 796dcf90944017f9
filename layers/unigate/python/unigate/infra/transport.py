"""The upstream HTTP clients: httpx, one per event loop, connections kept alive between calls.

What every client guarantees: environment proxies are never read (`trust_env=False`: a stray HTTPS_PROXY must
not route provider keys anywhere), only the operator's explicit UNIGATE_EGRESS_PROXY; redirects are never
followed (an upstream that redirects is an error, not a new destination: see providers.base.raise_for_status);
only gzip and deflate are asked for, and decoded by providers.base with a bound on the decoded size.

A kept-alive connection is dropped when its server sent more than the answer it was asked for: h11, under
httpcore, keeps such bytes and would read them as the answer to the next request on the connection. Each
connection's stream runs a second h11 parser over what it reads, only to find where each answer ends.

Lambda has one event loop per process; the local server runs handlers on several, and connections belong
to the loop that opened them, so clients are kept per loop. Custom endpoints connect to the address they
vetted (unigate.infra.ssrf) with TLS verified against their host name (the `sni_hostname` extension); httpcore
pools by address, so each host name gets a client of its own and two names on one address never share a
connection verified for the other.
"""

from __future__ import annotations

import asyncio
import contextlib
import ssl
import weakref
from collections import OrderedDict
from collections.abc import AsyncIterator, Iterable, Iterator
from functools import cache
from typing import Any

import h11
import httpcore
import httpx

from unigate.infra.config import get_settings

CONNECT_TIMEOUT_SECONDS = 5.0
# Shorter than providers' own idle timeouts (60 s and more), so a kept connection is rarely one the server
# is closing.
KEEPALIVE_SECONDS = 30.0
MAX_KEEPALIVE = 64
# The host names of custom endpoints with a client (and so a pool) of their own, per event loop.
MAX_PINNED_CLIENTS = 16
MAX_HEAD_BYTES = 100 * 1024  # httpcore's own bound on an answer's head
ACCEPT_ENCODING = "gzip, deflate"


@cache
def _tls_context() -> ssl.SSLContext:
    # Built once per process: loading the CA store costs milliseconds.
    return httpx.create_ssl_context(trust_env=False)


class _Framing:
    """Finds where each answer on a connection ends, to tell whether the server sent more than that."""

    def __init__(self) -> None:
        self._parser: h11.Connection | None = None
        self.overrun = False

    def request_written(self) -> None:
        parser = self._parser
        if parser is not None and parser.their_state is not h11.DONE:
            return  # more of the same request (its body), or an answer still to come
        if parser is None:
            parser = self._parser = h11.Connection(h11.CLIENT, max_incomplete_event_size=MAX_HEAD_BYTES)
        else:
            parser.start_next_cycle()
        # Only the answer's framing is parsed: any request without a body that expects one does.
        parser.send(h11.Request(method="POST", target="/", headers=[("Host", "upstream"), ("Content-Length", "0")]))
        parser.send(h11.EndOfMessage())

    def received(self, data: bytes) -> None:
        parser = self._parser
        if parser is None:
            self.overrun = self.overrun or bool(data)  # bytes before any request was written
            return
        try:
            parser.receive_data(data)
            while True:
                event = parser.next_event()
                if event is h11.NEED_DATA or isinstance(event, h11.ConnectionClosed):
                    return
                if event is h11.PAUSED:
                    break
        except h11.RemoteProtocolError:
            self.overrun = True  # httpcore's own parser fails the answer; the connection is not kept
            return
        if parser.trailing_data[0]:
            self.overrun = True


class _CheckedStream(httpcore.AsyncNetworkStream):
    def __init__(self, stream: httpcore.AsyncNetworkStream) -> None:
        self._stream = stream
        self._framing = _Framing()

    async def read(self, max_bytes: int, timeout: float | None = None) -> bytes:
        data = await self._stream.read(max_bytes, timeout)
        self._framing.received(data)
        return data

    async def write(self, buffer: bytes, timeout: float | None = None) -> None:
        self._framing.request_written()
        await self._stream.write(buffer, timeout)

    async def aclose(self) -> None:
        await self._stream.aclose()

    async def start_tls(self, ssl_context: ssl.SSLContext, server_hostname: str | None = None,
                        timeout: float | None = None) -> httpcore.AsyncNetworkStream:
        # What was exchanged before TLS (a proxy's CONNECT) is not an answer of the connection's.
        return _CheckedStream(await self._stream.start_tls(ssl_context, server_hostname, timeout))

    def get_extra_info(self, info: str) -> Any:
        if info == "is_readable" and self._framing.overrun:
            # What the pool asks of an idle connection before reusing it: data waiting means a server that
            # spoke out of turn (or hung up), and the connection is closed instead.
            return True
        return self._stream.get_extra_info(info)


class _CheckedBackend(httpcore.AsyncNetworkBackend):
    def __init__(self) -> None:
        self._backend = httpcore.AnyIOBackend()

    async def connect_tcp(self, host: str, port: int, timeout: float | None = None, local_address: str | None = None,
                          socket_options: Iterable[Any] | None = None) -> httpcore.AsyncNetworkStream:
        return _CheckedStream(await self._backend.connect_tcp(host, port, timeout, local_address, socket_options))

    async def connect_unix_socket(self, path: str, timeout: float | None = None,
                                  socket_options: Iterable[Any] | None = None) -> httpcore.AsyncNetworkStream:
        return _CheckedStream(await self._backend.connect_unix_socket(path, timeout, socket_options))

    async def sleep(self, seconds: float) -> None:
        await self._backend.sleep(seconds)


# httpcore's failures as httpx's, most specific first (what httpx's own transport does).
_FAILURES: tuple[tuple[type[Exception], type[httpx.HTTPError]], ...] = (
    (httpcore.ConnectTimeout, httpx.ConnectTimeout),
    (httpcore.ReadTimeout, httpx.ReadTimeout),
    (httpcore.WriteTimeout, httpx.WriteTimeout),
    (httpcore.PoolTimeout, httpx.PoolTimeout),
    (httpcore.TimeoutException, httpx.TimeoutException),
    (httpcore.ProxyError, httpx.ProxyError),
    (httpcore.ConnectError, httpx.ConnectError),
    (httpcore.ReadError, httpx.ReadError),
    (httpcore.WriteError, httpx.WriteError),
    (httpcore.NetworkError, httpx.NetworkError),
    (httpcore.UnsupportedProtocol, httpx.UnsupportedProtocol),
    (httpcore.LocalProtocolError, httpx.LocalProtocolError),
    (httpcore.RemoteProtocolError, httpx.RemoteProtocolError),
    (httpcore.ProtocolError, httpx.ProtocolError),
)


@contextlib.contextmanager
def _as_httpx_failures() -> Iterator[None]:
    try:
        yield
    except Exception as exc:
        for source, target in _FAILURES:
            if isinstance(exc, source):
                raise target(str(exc)) from exc
        raise


class _Body(httpx.AsyncByteStream):
    def __init__(self, stream: Any) -> None:
        self._stream = stream

    async def __aiter__(self) -> AsyncIterator[bytes]:
        with _as_httpx_failures():
            async for part in self._stream:
                yield part

    async def aclose(self) -> None:
        with _as_httpx_failures():
            await self._stream.aclose()


class Transport(httpx.AsyncBaseTransport):
    """httpx's transport over httpcore, as httpx.AsyncHTTPTransport builds it, with the checked streams
    (httpx's own transport takes no network backend)."""

    def __init__(self, proxy: str | None = None) -> None:
        options: dict[str, Any] = {
            "ssl_context": _tls_context(), "max_connections": None, "max_keepalive_connections": MAX_KEEPALIVE,
            "keepalive_expiry": KEEPALIVE_SECONDS, "http1": True, "http2": False,
            "network_backend": _CheckedBackend(),
        }
        self._pool: httpcore.AsyncConnectionPool
        if proxy:
            url = httpx.URL(proxy)
            self._pool = httpcore.AsyncHTTPProxy(
                proxy_url=httpcore.URL(scheme=url.raw_scheme, host=url.raw_host, port=url.port,
                                       target=url.raw_path),
                proxy_auth=(url.username, url.password) if url.username else None, **options)
        else:
            self._pool = httpcore.AsyncConnectionPool(**options)

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        core = httpcore.Request(
            method=request.method,
            url=httpcore.URL(scheme=request.url.raw_scheme, host=request.url.raw_host, port=request.url.port,
                             target=request.url.raw_path),
            headers=request.headers.raw, content=request.stream, extensions=request.extensions)
        with _as_httpx_failures():
            response = await self._pool.handle_async_request(core)
        return httpx.Response(status_code=response.status, headers=response.headers, stream=_Body(response.stream),
                              extensions=response.extensions)

    async def aclose(self) -> None:
        await self._pool.aclose()


def new_client() -> httpx.AsyncClient:
    return httpx.AsyncClient(
        transport=Transport(get_settings().egress_proxy), trust_env=False, follow_redirects=False,
        headers={"Accept-Encoding": ACCEPT_ENCODING, "User-Agent": "unigate"},
        timeout=httpx.Timeout(get_settings().upstream_timeout_seconds, connect=CONNECT_TIMEOUT_SECONDS))


class _LoopClients:
    def __init__(self) -> None:
        self.shared: httpx.AsyncClient | None = None
        self.pinned: OrderedDict[str, httpx.AsyncClient] = OrderedDict()
        self.closing: set[asyncio.Task[None]] = set()


_clients: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, _LoopClients] = weakref.WeakKeyDictionary()


def get_client(server_name: str | None = None) -> httpx.AsyncClient:
    """The running loop's client; with `server_name`, the one for requests pinned to an address whose TLS
    name is that host name."""
    clients = _clients.get(asyncio.get_running_loop())
    if clients is None:
        clients = _clients[asyncio.get_running_loop()] = _LoopClients()
    if server_name is None:
        if clients.shared is None:
            clients.shared = new_client()
        return clients.shared
    client = clients.pinned.get(server_name)
    if client is None:
        client = clients.pinned[server_name] = new_client()
        if len(clients.pinned) > MAX_PINNED_CLIENTS:
            _, oldest = clients.pinned.popitem(last=False)
            task = asyncio.get_running_loop().create_task(oldest.aclose())
            clients.closing.add(task)
            task.add_done_callback(clients.closing.discard)
    else:
        clients.pinned.move_to_end(server_name)
    return client


async def aclose_clients() -> None:
    """Closes the running loop's clients (tests and the bench, before their loop ends)."""
    clients = _clients.pop(asyncio.get_running_loop(), None)
    if clients is not None:
        for client in [clients.shared, *clients.pinned.values()]:
            if client is not None:
                await client.aclose()
        await asyncio.gather(*clients.closing)
