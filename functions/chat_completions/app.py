"""POST /v0/chat/completions and /v1/chat/completions: any model at any provider, billed in credits."""

from fastapi import Request
from fastapi.responses import JSONResponse, Response

from unigate.gateway import chat
from unigate.web.app import (
    ClientGone,
    EventStreamResponse,
    cancel_on_disconnect,
    create_app,
    current_caller,
    lambda_handler_for,
    post_with_request,
    read_json,
    remaining_ms,
)

app = create_app("chat completions")


# The busiest route takes the Request and nothing else (the caller is called for, not declared with
# Depends), so FastAPI's parameter solving around it is skipped (see RequestRoute).
@post_with_request(app, "/v0/chat/completions", "/v1/chat/completions")
async def chat_completions(request: Request) -> Response:
    caller = await current_caller(request)
    plan = chat.prepare(await read_json(request), caller, extra_parameters=request.headers.get("extra-parameters"))
    try:
        # A client that leaves before the first byte cancels the upstream call; its hold goes back.
        result = await cancel_on_disconnect(request, lambda: chat.complete(plan, caller,
                                                                           remaining_ms=remaining_ms(request)))
    except ClientGone:
        return Response(status_code=499)
    if isinstance(result, chat.Streamed):
        return EventStreamResponse(result.chunks, headers=result.headers)
    return JSONResponse(result.body, headers=result.headers)


# No response model: the readiness check's answer needs no validation, and building one is pydantic work
# on every cold start.
@app.get("/healthz", include_in_schema=False, response_model=None)
async def healthz() -> dict[str, str]:
    """The Lambda Web Adapter's readiness check (never routed by API Gateway)."""
    return {"status": "ok"}


lambda_handler = lambda_handler_for(app)
