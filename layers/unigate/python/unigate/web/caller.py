"""Who is calling: API Gateway's request context (Mangum's event, or the Lambda Web Adapter's header), the
caller the API-key authorizer established, the admin's IAM principal, request ids, and the time left."""

from __future__ import annotations

import json
import math
import time
import uuid
from typing import Annotated, Any

from fastapi import Depends, Request
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from unigate.domain.errors import (
    Forbidden,
    InvalidApiKey,
    NotAuthenticated,
    ServiceUnavailable,
)
from unigate.domain.records import Caller

REQUEST_ID_HEADER = "x-request-id"


# How the Lambda Web Adapter hands API Gateway's requestContext to an app running under uvicorn.
LWA_CONTEXT_HEADER = "x-amzn-request-context"


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
        # The authorizer allows every request and says here why it has no caller (see
        # unigate.accounts.authorizer), so that the refusal is in this surface's envelope.
        refusal = authorizer.get("error")
        if refusal == "invalid_api_key":
            raise InvalidApiKey()
        if refusal == "unavailable":
            raise ServiceUnavailable("Authentication is temporarily unavailable; please retry.",
                                     code="authentication_unavailable")
        raise NotAuthenticated()
    allowed = authorizer.get("allowed_models") or "[]"
    return Caller(
        account_id=str(account_id),
        key_id=str(authorizer.get("key_id", "")),
        allowed_models=tuple(json.loads(allowed)) if isinstance(allowed, str) else tuple(allowed),
        rpm=_positive(authorizer.get("rpm")),
        tpm=_positive(authorizer.get("tpm")),
        budget_micros=_positive(authorizer.get("budget")),
        budget_period=str(authorizer.get("budget_period") or "lifetime"),
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


# How the Lambda Web Adapter hands the invocation's Lambda context (with its deadline) to the app.
LWA_LAMBDA_CONTEXT_HEADER = "x-amzn-lambda-context"


def remaining_ms(request: Request) -> int | None:
    """Milliseconds left before Lambda stops this invocation: from Mangum's Lambda context, or from the
    deadline (milliseconds since the epoch) in the Lambda Web Adapter's context header; None when not
    under Lambda. A deadline in that header can only shorten the configured upstream timeout."""
    context = request.scope.get("aws.context")
    getter = getattr(context, "get_remaining_time_in_millis", None)
    if getter:
        return int(getter())
    header = request.headers.get(LWA_LAMBDA_CONTEXT_HEADER)
    if not header:
        return None
    try:
        deadline = json.loads(header).get("deadline")
    except (ValueError, AttributeError):
        return None
    if isinstance(deadline, bool) or not isinstance(deadline, int | float) or not math.isfinite(deadline):
        return None
    return max(int(deadline - time.time() * 1000), 0)

