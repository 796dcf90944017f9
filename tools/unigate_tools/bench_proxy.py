"""The bench's floor: a pass-through proxy with nothing of a gateway in it (no key, no route, no hold, no
JSON), on the same server as the local gateway (uvicorn) and with the same upstream HTTP client
(unigate.infra.transport). What it adds to the upstream's latency is what one more HTTP hop costs on the machine
the bench runs on, a part of unigate's added latency that no gateway code can remove.

    python -m unigate_tools.bench_proxy --port 8002 --upstream http://127.0.0.1:8001
"""

from __future__ import annotations

import argparse
from typing import Any

import aiohttp

from unigate.infra.transport import get_client
from unigate_tools.bench_upstream import read_body

TIMEOUT_SECONDS = 30.0


def make_app(upstream: str) -> Any:
    async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            return
        body = await read_body(receive)
        response = await get_client().request(
            scope["method"], upstream + scope["path"], data=body, allow_redirects=False,
            timeout=aiohttp.ClientTimeout(total=None, sock_read=TIMEOUT_SECONDS),
            headers={"Content-Type": "application/json"})
        try:
            content_type = response.headers.get("content-type", "application/json").encode()
            if not content_type.startswith(b"text/event-stream"):
                payload = await response.read()
                await send({"type": "http.response.start", "status": response.status,
                            "headers": [(b"content-type", content_type),
                                        (b"content-length", str(len(payload)).encode())]})
                await send({"type": "http.response.body", "body": payload})
                return
            await send({"type": "http.response.start", "status": response.status,
                        "headers": [(b"content-type", content_type)]})
            async for chunk in response.content.iter_any():  # passed on as each arrives
                await send({"type": "http.response.body", "body": chunk, "more_body": True})
            await send({"type": "http.response.body", "body": b""})
        finally:
            response.close()

    return app


def main() -> None:
    import uvicorn

    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--upstream", required=True)
    args = parser.parse_args()
    uvicorn.run(make_app(args.upstream), host="127.0.0.1", port=args.port, log_level="error", access_log=False,
                lifespan="off")


if __name__ == "__main__":
    main()
