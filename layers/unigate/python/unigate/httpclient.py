"""One HTTP client per process (per event loop), reused by every upstream call.

Connections to providers stay open across invocations of a warm Lambda. httpx's async client is bound
to the event loop it first ran on; Lambda has one loop per process, while the local server runs
handlers on several, so clients are kept per loop. Redirects are never followed: an upstream that
redirects is an error, not a new destination.
"""

from __future__ import annotations

import asyncio
import weakref
from typing import Any

_clients: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, Any] = weakref.WeakKeyDictionary()


def get_client() -> Any:
    import httpx

    loop = asyncio.get_running_loop()
    client = _clients.get(loop)
    if client is None:
        client = httpx.AsyncClient(
            follow_redirects=False,
            limits=httpx.Limits(max_connections=200, max_keepalive_connections=50, keepalive_expiry=60),
            timeout=httpx.Timeout(60.0, connect=5.0),
            trust_env=False,
        )
        _clients[loop] = client
    return client
