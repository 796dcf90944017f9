"""The Azure OpenAI deployment surface: POST /openai/deployments/{deployment}/chat/completions, /embeddings and
/completions with ?api-version=..., as `openai.AzureOpenAI` calls them, answered in Azure's error envelope."""

from typing import Annotated

from fastapi import Query, Request
from fastapi.responses import JSONResponse, Response

from unigate.gateway import azure, chat, completions, embeddings
from unigate.web.app import create_app, lambda_handler_for, read_json
from unigate.web.caller import CallerDep, remaining_ms
from unigate.web.streaming import answer

app = create_app("Azure OpenAI")

ApiVersion = Annotated[str | None, Query(alias="api-version", description="Azure's API version, e.g. 2024-10-21")]


# Bodies are read and validated by the gateway, as on the OpenAI surface.
@app.post("/openai/deployments/{deployment}/chat/completions", response_model=None)
async def chat_completions(deployment: str, request: Request, caller: CallerDep,
                           api_version: ApiVersion = None) -> Response:
    plan = azure.prepare_chat(deployment, api_version, await read_json(request), caller,
                              extra_parameters=request.headers.get("extra-parameters"))
    return await answer(request, lambda: chat.complete(plan, caller, remaining_ms=remaining_ms(request)))


@app.post("/openai/deployments/{deployment}/completions", response_model=None)
async def legacy_completions(deployment: str, request: Request, caller: CallerDep,
                             api_version: ApiVersion = None) -> Response:
    plan = azure.prepare_completions(deployment, api_version, await read_json(request), caller,
                                     extra_parameters=request.headers.get("extra-parameters"))
    return await answer(request, lambda: completions.complete(plan, caller, remaining_ms=remaining_ms(request)))


@app.post("/openai/deployments/{deployment}/embeddings", response_model=None)
async def embed(deployment: str, request: Request, caller: CallerDep, api_version: ApiVersion = None) -> Response:
    plan = azure.prepare_embeddings(deployment, api_version, await read_json(request), caller,
                                    extra_parameters=request.headers.get("extra-parameters"))
    result = await embeddings.embed(plan, caller, remaining_ms=remaining_ms(request))
    return JSONResponse(result.body, headers=result.headers)


@app.get("/healthz", include_in_schema=False, response_model=None)
async def healthz() -> dict[str, str]:
    """The Lambda Web Adapter's readiness check (never routed by API Gateway)."""
    return {"status": "ok"}


lambda_handler = lambda_handler_for(app)
