"""What a caller can query: models, providers, endpoints and their measured benchmarks (service layer).

Lists are filtered to what the caller's key may use, and include the deployments it may use (a
deployment's name is usable as `model`, so it is listed as a model and as an endpoint, under the provider
of the endpoint it binds). Benchmarks come from this gateway's own traffic (unigate.catalog.metrics); costs from
the catalog (credits per 1M tokens).
"""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from unigate.catalog import metrics
from unigate.catalog.entries import EndpointSpec, get_catalog
from unigate.domain.errors import NotFound
from unigate.domain.records import Caller, Deployment

# The model types of Azure's model inference API (`GET /info`).
MODEL_TYPES = {"chat": "chat_completion", "embedding": "embeddings"}
GATEWAY_NAME = "unigate"


def _visible(caller: Caller, model: str | None = None, provider: str | None = None) -> list[EndpointSpec]:
    catalog = get_catalog()
    if provider is not None and provider not in catalog.providers:
        raise NotFound(f"Unknown provider: {provider}", param="provider")
    found = [
        e for e in catalog.endpoints.values()
        if (model is None or e.model == model) and (provider is None or e.provider == provider)
        and caller.may_use(e.name, e.model)
    ]
    if model is not None and not found:
        raise NotFound(f"Unknown model: {model}", param="model")
    return sorted(found, key=lambda e: e.name)


def _deployments(caller: Caller, model: str | None = None, provider: str | None = None) -> list[Deployment]:
    from unigate.catalog import deployments

    return [
        d for d in deployments.listed()
        if (model is None or d.name.lower() == model.lower())
        and (provider is None or d.endpoint.endswith(f"@{provider}"))
        and caller.may_use(d.endpoint, d.endpoint.partition("@")[0], d.name)
    ]


def _custom(caller: Caller, model: str | None = None) -> list[str]:
    """The caller's own custom endpoints' names (used as `name@custom`)."""
    from unigate.catalog.customendpoints import listing

    return sorted(i["name"] for i in listing(caller.account_id)
                  if (model is None or i["name"] == model) and caller.may_use(f"{i['name']}@custom", i["name"]))


def models(caller: Caller, provider: str | None = None) -> list[str]:
    if provider == "custom":
        return _custom(caller)
    return sorted({e.model for e in _visible(caller, provider=provider)} |
                  {d.name for d in _deployments(caller, provider=provider)})


def providers(caller: Caller, model: str | None = None) -> list[str]:
    if model is not None and (deployed := _deployments(caller, model=model)):
        return [deployed[0].endpoint.partition("@")[2]]
    if model is not None and _custom(caller, model) and not get_catalog().endpoints_of(model):
        return ["custom"]
    listed = sorted({e.provider for e in _visible(caller, model=model)})
    return sorted([*listed, "custom"]) if model is None and _custom(caller) else listed


def endpoints(caller: Caller, model: str | None = None, provider: str | None = None) -> list[str]:
    if provider == "custom":
        return [f"{name}@custom" for name in _custom(caller, model)]
    if model is not None and (deployed := _deployments(caller, model, provider)):
        return [deployed[0].name]
    listed = [e.name for e in _visible(caller, model, provider)]
    listed += [d.name for d in _deployments(caller, model, provider)]
    return listed + [f"{name}@custom" for name in _custom(caller)] if model is None and provider is None else listed


def openai_models(caller: Caller) -> dict[str, Any]:
    """GET /v1/models in OpenAI's list shape: one entry per endpoint string and deployment usable as `model`."""
    return {"object": "list", "data": [_openai_entry(e) for e in _visible(caller)] + [
        {"id": d.name, "object": "model", "created": 0, "owned_by": d.endpoint.partition("@")[2]}
        for d in _deployments(caller)
    ]}


def _per_token(per_million: Decimal) -> str:
    return format((per_million / 1_000_000).normalize(), "f")


def _openai_entry(e: EndpointSpec) -> dict[str, Any]:
    """One endpoint in OpenAI's model shape, with OpenRouter's fields for what a client chooses by: the context
    length, the output limit, the prices (USD per token, as decimal strings) and the modalities."""
    return {
        "id": e.name, "object": "model", "created": 0, "owned_by": e.provider,
        "context_length": e.context,
        "top_provider": {"context_length": e.context, "max_completion_tokens": e.max_output},
        "pricing": {"prompt": _per_token(e.input), "completion": _per_token(e.output)},
        "architecture": {"input_modalities": ["text", "image"] if e.image_input else ["text"],
                         "output_modalities": ["embeddings"] if e.type == "embedding" else ["text"]},
    }


def openai_model(caller: Caller, model_id: str) -> dict[str, Any]:
    """GET /v1/models/{id}: one entry of the list, 404 when the caller cannot use it (or it does not exist)."""
    for entry in openai_models(caller)["data"]:
        if entry["id"] == model_id:
            return entry
    raise NotFound(f"The model '{model_id}' does not exist or this key may not use it.", param="model",
                   code="model_not_found")


def _anthropic_entry(entry: dict[str, Any], as_of: dict[str, str]) -> dict[str, Any]:
    day = as_of.get(entry["id"]) or "1970-01-01"
    return {"type": "model", "id": entry["id"], "display_name": entry["id"], "created_at": f"{day}T00:00:00Z"}


def anthropic_models(caller: Caller, *, limit: int = 20, after_id: str | None = None,
                     before_id: str | None = None) -> dict[str, Any]:
    """GET /v1/models in Anthropic's list shape (what its SDKs and Claude Code read when they send
    anthropic-version): the same entries as OpenAI's list, paged by after_id / before_id."""
    as_of = {e.name: e.as_of for e in _visible(caller) if e.as_of}
    entries = [_anthropic_entry(e, as_of) for e in openai_models(caller)["data"]]
    ids = [e["id"] for e in entries]
    start, end = 0, len(entries)
    if after_id is not None:
        start = ids.index(after_id) + 1 if after_id in ids else len(ids)
        end = min(start + limit, len(entries))
    elif before_id is not None:
        end = ids.index(before_id) if before_id in ids else 0
        start = max(end - limit, 0)
    else:
        end = min(limit, len(entries))
    page = entries[start:end]
    more = end < len(entries) if before_id is None else start > 0
    return {"data": page, "has_more": more, "first_id": page[0]["id"] if page else None,
            "last_id": page[-1]["id"] if page else None}


def anthropic_model(caller: Caller, model_id: str) -> dict[str, Any]:
    entry = openai_model(caller, model_id)
    as_of = {e.name: e.as_of for e in _visible(caller) if e.name == model_id and e.as_of}
    return _anthropic_entry(entry, as_of)


def info(caller: Caller, model: str | None) -> dict[str, str]:
    """GET /v0/info: {model_name, model_type, model_provider_name} for a deployment, an endpoint string or a
    model (whose providers are then listed, comma-separated)."""
    if not model:
        # Azure's SDK asks a single-model endpoint what it serves (`load_client`, `get_model_info`) without
        # naming a model. unigate is a multi-model endpoint whose requests name the model; it is a chat
        # endpoint first, so that is the client the SDK should make.
        return {"model_name": GATEWAY_NAME, "model_type": MODEL_TYPES["chat"], "model_provider_name": GATEWAY_NAME}
    deployed = _deployments(caller, model=model)
    if deployed:
        deployment = deployed[0]
        name, _, provider = deployment.endpoint.partition("@")
        endpoint = get_catalog().endpoint(name, provider)
        return {"model_name": deployment.name, "model_type": MODEL_TYPES[endpoint.type],
                "model_provider_name": provider}
    name, _, provider = model.partition("@")
    found = _visible(caller, name, provider or None)
    return {"model_name": name, "model_type": MODEL_TYPES[found[0].type],
            "model_provider_name": ", ".join(sorted({e.provider for e in found}))}


def endpoint_metrics(caller: Caller, model: str | None = None, provider: str | None = None) -> list[dict[str, Any]]:
    rows = []
    for endpoint in _visible(caller, model, provider):
        if endpoint.type != "chat":
            continue
        measured = metrics.stats(endpoint.name)
        rows.append({
            "endpoint": endpoint.name,
            "ttft": measured.ttft_p50,
            "ttft_p90": measured.ttft_p90,
            "itl": measured.itl_p50,
            "itl_p90": measured.itl_p90,
            "tks_per_sec": measured.tokens_per_second,
            "input_cost": float(endpoint.input),
            "output_cost": float(endpoint.output),
            "error_rate": measured.error_rate,
            "samples": measured.samples,
            "measured_at": datetime.fromtimestamp(measured.measured_at, UTC).isoformat().replace("+00:00", "Z")
            if measured.measured_at else None,
        })
    return rows
