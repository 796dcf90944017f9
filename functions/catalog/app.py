"""GET /v0/models, /v0/providers, /v0/endpoints, /v0/info, /v0/endpoint-metrics, /v1/models and /v1/models/{id}."""

from typing import Annotated, Any

from fastapi import Query, Request, Response

from unigate.catalog import discovery
from unigate.web.app import cacheable, create_app, lambda_handler_for
from unigate.web.caller import CallerDep

app = create_app("catalog")


@app.get("/v0/models")
async def models(request: Request, caller: CallerDep, provider: str | None = None) -> Response:
    return cacheable(request, discovery.models(caller, provider))


@app.get("/v0/providers")
async def providers(request: Request, caller: CallerDep, model: str | None = None) -> Response:
    return cacheable(request, discovery.providers(caller, model))


@app.get("/v0/endpoints")
async def endpoints(request: Request, caller: CallerDep, model: str | None = None,
                    provider: str | None = None) -> Response:
    return cacheable(request, discovery.endpoints(caller, model, provider))


@app.get("/v0/info")
async def info(request: Request, caller: CallerDep, model: str | None = None) -> Response:
    return cacheable(request, discovery.info(caller, model))


@app.get("/v0/endpoint-metrics")
async def endpoint_metrics(caller: CallerDep, model: str | None = None,
                           provider: str | None = None) -> list[dict[str, Any]]:
    return discovery.endpoint_metrics(caller, model, provider)


# With anthropic-version (Anthropic's SDKs, Claude Code) the model list answers in Anthropic's shape.
@app.get("/v1/models")
async def openai_models(request: Request, caller: CallerDep, limit: Annotated[int, Query(ge=1, le=1000)] = 20,
                        after_id: str | None = None, before_id: str | None = None) -> Response:
    if request.headers.get("anthropic-version"):
        return cacheable(request, discovery.anthropic_models(caller, limit=limit, after_id=after_id,
                                                             before_id=before_id))
    return cacheable(request, discovery.openai_models(caller))


@app.get("/v1/models/{model_id}")
async def openai_model(request: Request, caller: CallerDep, model_id: str) -> Response:
    if request.headers.get("anthropic-version"):
        return cacheable(request, discovery.anthropic_model(caller, model_id))
    return cacheable(request, discovery.openai_model(caller, model_id))


lambda_handler = lambda_handler_for(app)
