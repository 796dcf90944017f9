"""POST /v0/chat/completions and /v1/chat/completions: any model at any provider, billed in credits."""

from fastapi import Request
from fastapi.responses import JSONResponse, Response, StreamingResponse

from unigate import chat
from unigate.web import CallerDep, create_app, lambda_handler_for, read_json, remaining_ms

app = create_app("chat completions")


@app.post("/v0/chat/completions")
@app.post("/v1/chat/completions")
async def chat_completions(request: Request, caller: CallerDep) -> Response:
    prepared = chat.prepare(await read_json(request), caller)
    result = await chat.complete(prepared, caller, remaining_ms=remaining_ms(request))
    if isinstance(result, chat.Streamed):
        return StreamingResponse(result.chunks, media_type="text/event-stream", headers=result.headers)
    return JSONResponse(result.body, headers=result.headers)


@app.get("/healthz", include_in_schema=False)
def healthz() -> dict[str, str]:
    """The Lambda Web Adapter's readiness check (never routed by API Gateway)."""
    return {"status": "ok"}


lambda_handler = lambda_handler_for(app)
