"""What every FastAPI route function shares: the app factory, the one mapping of domain errors to HTTP,
the caller established by the authorizer, request ids, and the Lambda entry point.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Awaitable, Callable
from typing import Annotated, Any

from fastapi import Depends, FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response, StreamingResponse
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from unigate.domain.errors import (
    Forbidden,
    NotAuthenticated,
    PayloadTooLarge,
    RateLimited,
    ServiceUnavailable,
    UnigateError,
)
from unigate.domain.records import Caller
from unigate.infra.observability import get_logger

REQUEST_ID_HEADER = "x-request-id"
# How the Lambda Web Adapter hands API Gateway's requestContext to an app running under uvicorn.
LWA_CONTEXT_HEADER = "x-amzn-request-context"


def _is_openai_surface(path: str) -> bool:
    return path.startswith("/v1/")


def error_body(path: str, message: str, *, kind: str, param: str | None, code: str | None) -> dict[str, Any]:
    """v0 errors are Unify's `{"error": msg}`; /v1 errors are OpenAI's envelope so its SDKs raise the right class."""
    if _is_openai_surface(path):
        return {"error": {"message": message, "type": kind, "param": param, "code": code}}
    return {"error": message}


def error_response(request: Request, exc: UnigateError) -> JSONResponse:
    headers = {}
    if isinstance(exc, RateLimited):
        headers.update(exc.headers)
        if exc.retry_after is not None:
            headers["retry-after"] = str(exc.retry_after)
    body = error_body(request.url.path, exc.message, kind=exc.openai_type, param=exc.param, code=exc.code)
    return JSONResponse(body, status_code=exc.status, headers=headers)


class RequestIdMiddleware:
    """Gives every response an x-request-id: API Gateway's request id when there is one."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        request_id = _request_id(scope)
        scope.setdefault("state", {})["request_id"] = request_id

        async def send_with_id(message: Message) -> None:
            if message["type"] == "http.response.start":
                message.setdefault("headers", [])
                message["headers"] = [*message["headers"], (b"x-request-id", request_id.encode())]
            await send(message)

        await self.app(scope, receive, send_with_id)


_CONTEXT_KEY = "unigate.request_context"
_LWA_CONTEXT_NAME = LWA_CONTEXT_HEADER.encode()


def _request_context(scope: Scope) -> dict[str, Any]:
    """API Gateway's requestContext: Mangum's event, or the Lambda Web Adapter's header (parsed once per
    request: the request id middleware and the caller both read it)."""
    context = scope.get(_CONTEXT_KEY)
    if context is None:
        context = scope[_CONTEXT_KEY] = _parse_request_context(scope)
    return context


def _parse_request_context(scope: Scope) -> dict[str, Any]:
    event = scope.get("aws.event")
    if isinstance(event, dict):
        return event.get("requestContext") or {}
    for name, value in scope.get("headers", []):
        if name == _LWA_CONTEXT_NAME:
            try:
                parsed = json.loads(value)
            except ValueError:
                return {}
            return parsed if isinstance(parsed, dict) else {}
    return {}


def _request_id(scope: Scope) -> str:
    request_id = _request_context(scope).get("requestId")
    return str(request_id) if request_id else str(uuid.uuid4())


async def current_caller(request: Request) -> Caller:  # async: FastAPI runs a plain def in a thread
    """The caller the API-key authorizer put into the request context; 403 if there is none."""
    authorizer = _request_context(request.scope).get("authorizer") or {}
    account_id = authorizer.get("account_id")
    if not account_id:
        raise NotAuthenticated()
    allowed = authorizer.get("allowed_models") or "[]"
    return Caller(
        account_id=str(account_id),
        key_id=str(authorizer.get("key_id", "")),
        allowed_models=tuple(json.loads(allowed)) if isinstance(allowed, str) else tuple(allowed),
        rpm=_positive(authorizer.get("rpm")),
        tpm=_positive(authorizer.get("tpm")),
    )


def _positive(value: Any) -> int | None:
    """A limit from the authorizer context (API Gateway may pass numbers as strings; 0 means none)."""
    try:
        number = int(str(value))
    except ValueError:
        return None
    return number if number > 0 else None


CallerDep = Annotated[Caller, Depends(current_caller)]


async def admin_principal(request: Request) -> str:
    """The IAM principal API Gateway authenticated with SigV4 for an admin route; 403 for anything else,
    in particular a request that carries a unigate key's authorizer context."""
    context = _request_context(request.scope)
    identity = context.get("identity") or {}
    principal = identity.get("userArn") or identity.get("caller")
    if not principal or (context.get("authorizer") or {}).get("account_id"):
        raise Forbidden("Admin routes need AWS IAM (SigV4) authorization; unigate keys are not accepted.")
    return str(principal)


AdminDep = Annotated[str, Depends(admin_principal)]


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


def remaining_ms(request: Request) -> int | None:
    """Milliseconds left before Lambda stops this invocation (None when not under Lambda)."""
    context = request.scope.get("aws.context")
    getter = getattr(context, "get_remaining_time_in_millis", None)
    return int(getter()) if getter else None


def create_app(title: str) -> FastAPI:
    # The interactive docs routes are off: API Gateway routes only the declared paths anyway, and
    # docs/openapi.json is generated from the apps.
    # FastAPI's native OpenTelemetry is off: tracing, metrics and logs are Powertools' (X-Ray, CloudWatch),
    # and its per-request check for configured OpenTelemetry providers cost the chat route 3% of its own
    # instructions (callgrind: 1.102M to 1.070M per request).
    app = FastAPI(title=f"unigate {title}", docs_url=None, redoc_url=None, openapi_url=None,
                  telemetry={"tracing": False, "metrics": False, "logs": False})
    app.add_middleware(RequestIdMiddleware)

    @app.exception_handler(UnigateError)
    async def _domain_error(request: Request, exc: UnigateError) -> JSONResponse:
        return error_response(request, exc)

    @app.exception_handler(StarletteHTTPException)
    async def _http_error(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        kind = "not_found_error" if exc.status_code == 404 else "invalid_request_error"
        body = error_body(request.url.path, str(exc.detail), kind=kind, param=None, code=None)
        return JSONResponse(body, status_code=exc.status_code)

    @app.exception_handler(RequestValidationError)
    async def _validation_error(request: Request, exc: RequestValidationError) -> JSONResponse:
        from unigate.domain.request_models import invalid

        errors = exc.errors()
        in_body = bool(errors) and tuple(errors[0].get("loc", ()))[:1] == ("body",)
        if in_body or _is_openai_surface(request.url.path):
            # A body (an admin route's) is a 400 naming its field, as the paid routes' bodies are.
            located = [{**error, "loc": tuple(error.get("loc", ()))[1:]} for error in errors]
            return error_response(request, invalid(located, exc.body if in_body else None))
        return JSONResponse({"detail": json.loads(json.dumps(errors, default=str))}, status_code=422)

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
        from unigate.infra.aws import is_busy

        if is_busy(exc):  # an AWS call that outlasted botocore's retries: busy, not broken
            get_logger().warning("AWS throttled a call", extra={"error": type(exc).__name__})
            return error_response(request, ServiceUnavailable("The gateway's store is busy; please retry.",
                                                              code="store_busy"))
        get_logger().exception("unhandled error")
        body = error_body(request.url.path, "Internal server error", kind="api_error", param=None, code=None)
        return JSONResponse(body, status_code=500)

    return app


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
