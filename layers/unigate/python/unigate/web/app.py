"""The app factory every FastAPI route function is made with, its body reading and caching helpers, and the
Lambda entry point."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import Response

from unigate.domain.errors import (
    PayloadTooLarge,
)
from unigate.web.caller import RequestIdMiddleware
from unigate.web.errors import install_error_handlers


async def read_json(request: Request) -> object:
    """The request body as JSON, refused with a precise 4xx when it is too large or malformed, or a header
    tries to steer the upstream (see unigate.domain.request_rules); nothing has been held or sent when this
    raises. The gateway validates what it returns with its request models (unigate.domain.request_models)."""
    from unigate.domain.request_rules import check_headers, parse_json_body
    from unigate.infra.config import get_settings

    check_headers(request.headers)
    limit = get_settings().max_body_bytes
    declared = request.headers.get("content-length")
    if declared and declared.isdigit() and int(declared) > limit:
        raise PayloadTooLarge(f"The request body is larger than {limit} bytes.")
    return parse_json_body(await request.body(), max_bytes=limit)


def cacheable(request: Request, payload: object, *, max_age: int = 60) -> Response:
    """A JSON answer with an ETag (304 when the caller already has it) and a short private cache life."""
    import hashlib

    body = json.dumps(payload, separators=(",", ":")).encode()
    etag = '"' + hashlib.sha256(body).hexdigest()[:32] + '"'
    headers = {"etag": etag, "cache-control": f"private, max-age={max_age}"}
    if etag in (request.headers.get("if-none-match") or ""):
        return Response(status_code=304, headers=headers)
    return Response(body, media_type="application/json", headers=headers)


def create_app(title: str) -> FastAPI:
    # The interactive docs routes are off: API Gateway routes only the declared paths anyway, and
    # docs/openapi.json is generated from the apps.
    # FastAPI's native OpenTelemetry is off: tracing, metrics and logs are Powertools' (X-Ray, CloudWatch).
    app = FastAPI(title=f"unigate {title}", docs_url=None, redoc_url=None, openapi_url=None,
                  telemetry={"tracing": False, "metrics": False, "logs": False})
    app.add_middleware(RequestIdMiddleware)

    install_error_handlers(app)
    return app


def lambda_handler_for(app: FastAPI) -> Callable[[dict[str, Any], Any], dict[str, Any]]:
    """The Lambda entry point of a route function: Mangum translating API Gateway events for the app."""
    import gc

    from mangum import Mangum

    from unigate.infra.observability import lambda_entry

    adapter = Mangum(app, lifespan="off")
    # Everything imported by now lives as long as the process. Frozen, it is no longer traversed by each
    # collection that the first request's allocations trigger (creating a boto3 client is most of them):
    # about 90 ms less cold start, measured with the bench's harness.
    gc.freeze()

    @lambda_entry
    def lambda_handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
        return adapter(event, context)

    return lambda_handler


