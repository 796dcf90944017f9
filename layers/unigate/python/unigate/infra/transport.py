"""The upstream HTTP clients: aiohttp sessions, one per event loop, connections kept alive between calls.

What every client guarantees: environment proxies and certificate settings are never read
(`trust_env=False`: a stray HTTPS_PROXY must not route provider keys anywhere), only the operator's explicit
UNIGATE_EGRESS_PROXY; redirects are never followed (an upstream that redirects is an error, not a new
destination: see providers.upstream.raise_for_status); only gzip and deflate are asked for, and nothing is
decoded here (`auto_decompress=False`): providers.upstream decodes with a bound on the decoded size.

A kept-alive connection is never handed an answer nobody asked for. aiohttp itself closes a connection,
when it is released, whose server sent more than the answer; but bytes that arrive while the connection
is idle in the pool are parsed as an answer and wait there, to be read as the answer to the next request
on it. The connector checks a kept connection before each request and closes it instead when it holds
such an answer.

Lambda has one event loop per process; the local server runs handlers on several, and connections belong
to the loop that opened them, so clients are kept per loop. Custom endpoints connect to the address they
vetted (unigate.infra.ssrf) with TLS verified against their host name (aiohttp's `server_hostname`); each
host name gets a client of its own, so two names on one address never share a connection verified for
the other.
"""

from __future__ import annotations

import asyncio
import ssl
import weakref
from collections import OrderedDict
from functools import cache
from typing import TYPE_CHECKING

import aiohttp

from unigate.infra.config import get_settings

if TYPE_CHECKING:
    from types import SimpleNamespace

    from aiohttp.client_reqrep import ClientRequest
    from aiohttp.connector import Connection
    from aiohttp.tracing import Trace, TraceRequestHeadersSentParams

CONNECT_TIMEOUT_SECONDS = 5.0
# Shorter than providers' own idle timeouts (60 s and more), so a kept connection is rarely one the server
# is closing.
KEEPALIVE_SECONDS = 30.0
# The host names of custom endpoints with a client (and so a pool) of their own, per event loop.
MAX_PINNED_CLIENTS = 16
ACCEPT_ENCODING = "gzip, deflate"
# Kept connections tried before a new one is opened; a new one that holds an answer before it was asked
# anything is a server speaking out of turn.
_MAX_STALE = 64


@cache
def _tls_context() -> ssl.SSLContext:
    # Built once per process (loading the CA store costs milliseconds), from certifi's CA bundle: what the
    # machine's environment says about certificates is not read either.
    import certifi

    return ssl.create_default_context(cafile=certifi.where())


class SpokeOutOfTurn(aiohttp.ClientConnectionError):
    """A new connection held an answer before any request was written on it."""


class _Connector(aiohttp.TCPConnector):
    async def connect(self, req: ClientRequest, traces: list[Trace], timeout: aiohttp.ClientTimeout) -> Connection:
        for _ in range(_MAX_STALE + 1):
            connection = await super().connect(req, traces, timeout)
            protocol = connection.protocol
            # should_close is what aiohttp asks when a connection is released; here it also catches what
            # arrived while the connection was idle: an answer parsed and waiting, or a broken one.
            if protocol is None or not protocol.should_close:
                return connection
            connection.close()
        raise SpokeOutOfTurn("The upstream sent an answer before it was asked anything.")


class Sending:
    """A request's trace context (aiohttp's `trace_request_ctx`): whether its head was handed to a connection.
    Until then the upstream provably has not received the request; after it, the upstream may bill it."""

    __slots__ = ("started",)

    def __init__(self) -> None:
        self.started = False


async def _headers_sent(_: aiohttp.ClientSession, context: SimpleNamespace, __: TraceRequestHeadersSentParams
                        ) -> None:
    if isinstance(context.trace_request_ctx, Sending):
        context.trace_request_ctx.started = True


def _sending_trace() -> aiohttp.TraceConfig:
    trace = aiohttp.TraceConfig()
    trace.on_request_headers_sent.append(_headers_sent)
    return trace


def new_client() -> aiohttp.ClientSession:
    settings = get_settings()
    proxy = settings.egress_proxy
    proxy_auth = None
    if proxy:
        from yarl import URL  # aiohttp's URLs

        url = URL(proxy)
        if url.user is not None:  # aiohttp sends a proxy's credentials only when given apart from its URL
            proxy_auth = aiohttp.BasicAuth.from_url(url)
            proxy = str(url.with_user(None))
    connector = _Connector(ssl=_tls_context(), limit=0, keepalive_timeout=KEEPALIVE_SECONDS)
    return aiohttp.ClientSession(
        connector=connector, trust_env=False, auto_decompress=False, proxy=proxy or None, proxy_auth=proxy_auth,
        trace_configs=[_sending_trace()],
        headers={"Accept-Encoding": ACCEPT_ENCODING, "User-Agent": "unigate"},
        timeout=aiohttp.ClientTimeout(total=None, connect=CONNECT_TIMEOUT_SECONDS,
                                      sock_connect=CONNECT_TIMEOUT_SECONDS,
                                      sock_read=settings.upstream_timeout_seconds))


class _LoopClients:
    def __init__(self) -> None:
        self.shared: aiohttp.ClientSession | None = None
        self.pinned: OrderedDict[str, aiohttp.ClientSession] = OrderedDict()
        self.closing: set[asyncio.Task[None]] = set()


_clients: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, _LoopClients] = weakref.WeakKeyDictionary()


def get_client(server_name: str | None = None) -> aiohttp.ClientSession:
    """The running loop's client; with `server_name`, the one for requests pinned to an address whose TLS
    name is that host name (passed on each request as `server_hostname`)."""
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
            task = asyncio.get_running_loop().create_task(oldest.close())
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
                await client.close()
        await asyncio.gather(*clients.closing)
