"""POST /v0/chat/completions and /v1/chat/completions: any model at any provider, billed in credits."""

from fastapi import Request
from fastapi.responses import Response

from unigate.gateway import chat
from unigate.web.app import create_app, lambda_handler_for, read_json
from unigate.web.caller import CallerDep, remaining_ms
from unigate.web.streaming import answer

app = create_app("chat completions")


# The body is read here rather than declared: unigate.domain.request_rules refuses what JSON parsers
# accept (NaN, 10,000-deep nesting) and the gateway validates it with its request model
# (unigate.domain.request_models), which the OpenAPI document describes it from.
@app.post("/v0/chat/completions", response_model=None)
@app.post("/v1/chat/completions", response_model=None)
async def chat_completions(request: Request, caller: CallerDep) -> Response:
    plan = chat.prepare(await read_json(request), caller, extra_parameters=request.headers.get("extra-parameters"))
    return await answer(request, lambda: chat.complete(plan, caller, remaining_ms=remaining_ms(request)))


# No response model: the readiness check's answer needs no validation, and building one is pydantic work
# on every cold start.
@app.get("/healthz", include_in_schema=False, response_model=None)
async def healthz() -> dict[str, str]:
    """The Lambda Web Adapter's readiness check (never routed by API Gateway)."""
    return {"status": "ok"}


lambda_handler = lambda_handler_for(app)
