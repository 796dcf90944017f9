"""The one place domain errors become HTTP answers: each surface's envelope (Unify's on /v0, OpenAI's on
/v1, Anthropic's on /v1/messages, Azure's on /openai) and the exception handlers every route function
installs."""

from __future__ import annotations

import json
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from unigate.domain.errors import (
    NotAuthenticated,
    RateLimited,
    ServiceUnavailable,
    UnigateError,
)
from unigate.infra.observability import get_logger

Surface = str  # "anthropic" | "azure" | "openai" | "unify"


def surface_of(path: str, headers: Any = None) -> Surface:
    """Whose envelope a path answers in: Anthropic's on /v1/messages (and on /v1/models when the request
    carries anthropic-version, as Anthropic's SDKs and Claude Code send), Azure's on /openai, OpenAI's on
    the rest of /v1, Unify's on /v0."""
    if path.startswith("/v1/messages"):
        return "anthropic"
    if path.startswith("/v1/models") and headers is not None and headers.get("anthropic-version"):
        return "anthropic"
    if path.startswith("/openai/"):
        return "azure"
    if path.startswith("/v1/"):
        return "openai"
    return "unify"


def _is_openai_surface(path: str) -> bool:
    return path.startswith("/v1/")


def error_body(surface: Surface, message: str, *, kind: str, param: str | None, code: str | None,
               status: int = 400) -> dict[str, Any]:
    """v0 errors are Unify's `{"error": msg}`; the others are their API's envelope, so that its SDKs raise the
    right class."""
    if surface == "anthropic":
        from unigate.dialects.anthropic_messages import error_body as anthropic_error

        return anthropic_error(status, message)
    if surface == "azure":
        # Azure's `code` is a string: the precise code where there is one, the status otherwise (as Azure's own
        # 401 and 429); `param` names the field at fault when there is one.
        error: dict[str, Any] = {"code": code or str(status), "message": message}
        if param is not None:
            error["param"] = param
        if code == "content_filter":
            error["innererror"] = {"code": "ResponsibleAIPolicyViolation"}
        return {"error": error}
    if surface == "openai":
        return {"error": {"message": message, "type": kind, "param": param, "code": code}}
    return {"error": message}


def _not_authenticated(surface: Surface) -> tuple[int, dict[str, Any]]:
    """No key at all. Unify's contract answers 403 {"detail": ...}; Anthropic and Azure answer 401."""
    if surface == "unify":
        return 403, {"detail": "Not authenticated"}
    message = "Not authenticated: send a unigate key (Authorization: Bearer, x-api-key or api-key)."
    if surface == "openai":
        return 403, error_body(surface, message, kind="authentication_error", param=None, code="not_authenticated")
    return 401, error_body(surface, message, kind="authentication_error", param=None, code="401", status=401)


def error_response(request: Request, exc: UnigateError) -> JSONResponse:
    surface = surface_of(request.url.path, request.headers)
    if isinstance(exc, NotAuthenticated):
        status, body = _not_authenticated(surface)
        return JSONResponse(body, status_code=status)
    headers = dict(exc.headers)
    if isinstance(exc, RateLimited) and exc.retry_after is not None:
        headers["retry-after"] = str(exc.retry_after)
    body = error_body(surface, exc.message, kind=exc.openai_type, param=exc.param, code=exc.code, status=exc.status)
    return JSONResponse(body, status_code=exc.status, headers=headers)


def install_error_handlers(app: FastAPI) -> None:
    """Every error a route can raise, answered in its surface's envelope; nothing unexpected leaks its detail."""

    @app.exception_handler(UnigateError)
    async def _domain_error(request: Request, exc: UnigateError) -> JSONResponse:
        return error_response(request, exc)

    @app.exception_handler(StarletteHTTPException)
    async def _http_error(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        kind = "not_found_error" if exc.status_code == 404 else "invalid_request_error"
        body = error_body(surface_of(request.url.path, request.headers), str(exc.detail), kind=kind, param=None,
                          code=None, status=exc.status_code)
        return JSONResponse(body, status_code=exc.status_code)

    @app.exception_handler(RequestValidationError)
    async def _validation_error(request: Request, exc: RequestValidationError) -> JSONResponse:
        from unigate.domain.request_models import invalid

        errors = exc.errors()
        in_body = bool(errors) and tuple(errors[0].get("loc", ()))[:1] == ("body",)
        if in_body or _is_openai_surface(request.url.path) or request.url.path.startswith("/openai/"):
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
        body = error_body(surface_of(request.url.path, request.headers), "Internal server error", kind="api_error",
                          param=None, code=None, status=500)
        return JSONResponse(body, status_code=500)
