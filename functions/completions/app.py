"""POST /v0/completions and /v1/completions: OpenAI's legacy completions for any model at any provider,
passed through where the endpoint serves them natively and translated to chat elsewhere, billed in credits."""

from fastapi import Request
from fastapi.responses import Response

from unigate.gateway import completions
from unigate.web.app import create_app, lambda_handler_for, read_json
from unigate.web.caller import CallerDep, remaining_ms
from unigate.web.streaming import answer

app = create_app("completions")


# The body is read and validated by the gateway (unigate.dialects.completions.CompletionRequest), as chat's is.
@app.post("/v0/completions", response_model=None)
@app.post("/v1/completions", response_model=None)
async def create_completion(request: Request, caller: CallerDep) -> Response:
    plan = completions.prepare(await read_json(request), caller,
                               extra_parameters=request.headers.get("extra-parameters"))
    return await answer(request, lambda: completions.complete(plan, caller, remaining_ms=remaining_ms(request)))


@app.get("/healthz", include_in_schema=False, response_model=None)
async def healthz() -> dict[str, str]:
    """The Lambda Web Adapter's readiness check (never routed by API Gateway)."""
    return {"status": "ok"}


lambda_handler = lambda_handler_for(app)
