"""POST /v1/messages and /v1/messages/count_tokens: Anthropic's Messages API to any model, billed in credits."""

from fastapi import Request
from fastapi.responses import JSONResponse, Response

from unigate.gateway import messages
from unigate.web.app import create_app, lambda_handler_for, read_json
from unigate.web.caller import CallerDep, remaining_ms
from unigate.web.streaming import answer

app = create_app("messages")


def _inbound(request: Request) -> messages.Inbound:
    return messages.Inbound(request.headers, beta=request.query_params.get("beta") == "true")


# The body is read here rather than declared, as on chat completions: the gateway validates it with its
# request model (unigate.dialects.anthropic_messages), which the OpenAPI document describes it from.
@app.post("/v1/messages", response_model=None)
async def create_message(request: Request, caller: CallerDep) -> Response:
    body = await read_json(request)
    inbound = _inbound(request)
    return await answer(request, lambda: messages.create(body, caller, inbound, remaining_ms=remaining_ms(request)))


@app.post("/v1/messages/count_tokens", response_model=None)
async def count_tokens(request: Request, caller: CallerDep) -> Response:
    return JSONResponse(await messages.count_tokens(await read_json(request), caller, _inbound(request)))


# No response model: the readiness check's answer needs no validation.
@app.get("/healthz", include_in_schema=False, response_model=None)
async def healthz() -> dict[str, str]:
    """The Lambda Web Adapter's readiness check (never routed by API Gateway)."""
    return {"status": "ok"}


lambda_handler = lambda_handler_for(app)
