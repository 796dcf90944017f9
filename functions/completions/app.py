"""POST /v0/completions and /v1/completions: OpenAI's legacy completions for any model at any provider,
passed through where the endpoint serves them natively and translated to chat elsewhere, billed in credits."""

from fastapi import Request
from fastapi.responses import JSONResponse, Response

from unigate.gateway import chat, completions
from unigate.web.app import create_app, lambda_handler_for, read_json
from unigate.web.caller import CallerDep, remaining_ms
from unigate.web.streaming import ClientGone, EventStreamResponse, cancel_on_disconnect

app = create_app("completions")


# The body is read and validated by the gateway (unigate.dialects.completions.CompletionRequest), as chat's is.
@app.post("/v0/completions", response_model=None)
@app.post("/v1/completions", response_model=None)
async def create_completion(request: Request, caller: CallerDep) -> Response:
    plan = completions.prepare(await read_json(request), caller,
                               extra_parameters=request.headers.get("extra-parameters"))
    try:
        # A client that leaves before the first byte cancels the upstream call; its hold goes back.
        result = await cancel_on_disconnect(request, lambda: completions.complete(plan, caller,
                                                                                  remaining_ms=remaining_ms(request)))
    except ClientGone:
        return Response(status_code=499)
    if isinstance(result, chat.Streamed):
        return EventStreamResponse(result.chunks, headers=result.headers)
    return JSONResponse(result.body, headers=result.headers)


@app.get("/healthz", include_in_schema=False, response_model=None)
async def healthz() -> dict[str, str]:
    """The Lambda Web Adapter's readiness check (never routed by API Gateway)."""
    return {"status": "ok"}


lambda_handler = lambda_handler_for(app)
