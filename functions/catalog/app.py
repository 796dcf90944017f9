"""GET /v0/models, /v0/providers, /v0/endpoints, /v0/info, /v0/endpoint-metrics (its history and the
meta-providers' choices), /v1/models and /v1/models/{id}."""

from typing import Annotated, Any

from fastapi import Query, Request, Response

from unigate.catalog import discovery, history
from unigate.gateway import routing
from unigate.web.app import cacheable, create_app, lambda_handler_for
from unigate.web.caller import CallerDep
from unigate.web.schemas import MetaChoices, MetricsHistory

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


@app.get("/v0/endpoint-metrics/history", response_model=MetricsHistory)
async def endpoint_metrics_history(caller: CallerDep, endpoint: str, since: str = "24h", step: str = "1h"
                                   ) -> dict[str, Any]:
    """One endpoint's benchmarks per `step` (5m to 1d) since `since` (a duration such as 24h or 7d, or an ISO
    8601 time; at most 7 days back)."""
    return history.endpoint_history(caller, endpoint, since, step)


@app.get("/v0/endpoint-metrics/choices", response_model=MetaChoices)
async def endpoint_metrics_choices(caller: CallerDep, model: str) -> dict[str, Any]:
    """The endpoint each meta-provider (@lowest-ttft, @cost, ...) would choose for `model` now."""
    return routing.choices(model, caller)


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
