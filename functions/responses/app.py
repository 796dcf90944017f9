"""OpenAI's Responses API: POST /v1/responses (any model at any provider, streamed or not, billed in
credits), the stored responses (GET and DELETE /v1/responses/{id}, GET .../input_items, POST .../cancel)
and POST /v1/responses/input_tokens; and the same on the Azure OpenAI surface (/openai/responses...?api-version=,
as `openai.AzureOpenAI` calls them, with a deployment as `model`), answered in Azure's error envelope."""

from typing import Annotated, Literal

from fastapi import Query, Request
from fastapi.responses import JSONResponse, Response

from unigate.gateway import azure, responses
from unigate.web.app import create_app, lambda_handler_for, read_json
from unigate.web.caller import CallerDep, remaining_ms
from unigate.web.streaming import answer

app = create_app("responses")


# The body is read here rather than declared, as for chat completions: the gateway validates it with its
# request model (unigate.dialects.openai_responses.ResponsesRequest).
@app.post("/v1/responses", response_model=None)
async def create_response(request: Request, caller: CallerDep) -> Response:
    run = responses.prepare(await read_json(request), caller)
    return await answer(request, lambda: responses.create(run, caller, remaining_ms=remaining_ms(request)))


@app.post("/v1/responses/input_tokens", response_model=None)
async def count_input_tokens(request: Request, caller: CallerDep) -> dict[str, object]:
    return responses.input_tokens(await read_json(request), caller)


@app.get("/v1/responses/{response_id}", response_model=None)
async def retrieve_response(response_id: str, caller: CallerDep, stream: bool = False) -> dict[str, object]:
    return responses.retrieve(caller, response_id, stream=stream)


@app.post("/v1/responses/{response_id}/cancel", response_model=None)
async def cancel_response(response_id: str, caller: CallerDep) -> dict[str, object]:
    return responses.cancel(caller, response_id)


@app.delete("/v1/responses/{response_id}", response_model=None)
async def delete_response(response_id: str, caller: CallerDep) -> dict[str, object]:
    return responses.delete(caller, response_id)


@app.get("/v1/responses/{response_id}/input_items", response_model=None)
async def list_input_items(response_id: str, caller: CallerDep, *,
                           after: str | None = None, before: str | None = None,
                           limit: Annotated[int, Query(ge=1, le=responses.MAX_LIST)] = 20,
                           order: Literal["asc", "desc"] = "desc") -> JSONResponse:
    return JSONResponse(responses.input_items(caller, response_id, after=after, before=before, limit=limit,
                                              order=order))


ApiVersion = Annotated[str | None, Query(alias="api-version",
                                         description="Azure's API version, e.g. 2025-03-01-preview")]


@app.post("/openai/responses", response_model=None)
async def create_azure_response(request: Request, caller: CallerDep, api_version: ApiVersion = None) -> Response:
    run = azure.prepare_responses(api_version, await read_json(request), caller)
    return await answer(request, lambda: responses.create(run, caller, remaining_ms=remaining_ms(request)))


@app.get("/openai/responses/{response_id}", response_model=None)
async def retrieve_azure_response(response_id: str, caller: CallerDep,
                                  api_version: ApiVersion = None) -> dict[str, object]:
    azure.check_api_version(api_version)
    return responses.retrieve(caller, response_id)


@app.delete("/openai/responses/{response_id}", response_model=None)
async def delete_azure_response(response_id: str, caller: CallerDep,
                                api_version: ApiVersion = None) -> dict[str, object]:
    azure.check_api_version(api_version)
    return responses.delete(caller, response_id)


@app.get("/openai/responses/{response_id}/input_items", response_model=None)
async def list_azure_input_items(response_id: str, caller: CallerDep, api_version: ApiVersion = None, *,
                                 after: str | None = None, before: str | None = None,
                                 limit: Annotated[int, Query(ge=1, le=responses.MAX_LIST)] = 20,
                                 order: Literal["asc", "desc"] = "desc") -> JSONResponse:
    azure.check_api_version(api_version)
    return JSONResponse(responses.input_items(caller, response_id, after=after, before=before, limit=limit,
                                              order=order))


@app.get("/healthz", include_in_schema=False, response_model=None)
async def healthz() -> dict[str, str]:
    """The Lambda Web Adapter's readiness check (never routed by API Gateway)."""
    return {"status": "ok"}


lambda_handler = lambda_handler_for(app)
