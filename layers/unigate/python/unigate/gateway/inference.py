"""POST /v0/inference (service layer): Unify's generic route. `arguments` are the model's own: chat
arguments (`messages`, ...) for a chat model, embedding arguments (`input`, ...) for an embedding model;
the answer is {"response": <what chat completions or embeddings would return>}, billed the same way.

`provider` may be a meta-provider (`lowest-input-cost`, `itl|ic<=0.8`, ...). Field-level problems
inside `arguments` get the same precise 400s as the dedicated routes; arguments of the wrong kind for
the model get Unify's 422.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from unigate.catalog.entries import get_catalog
from unigate.domain import request_models
from unigate.domain.errors import ArgumentsMismatch, BadRequest, NotFound
from unigate.domain.model_strings import MetaProvider, parse
from unigate.domain.records import Caller
from unigate.gateway import chat, embeddings

# What marks a set of arguments as belonging to each kind of model.
MARKERS = {"chat": "messages", "embedding": "input"}


@dataclass
class Planned:
    kind: str
    plan: list[Any]


def _kind(model: str, provider: str) -> str:
    """The type of the model the request names (every endpoint of a model shares one type)."""
    (target,) = parse(f"{model}@{provider}")
    catalog = get_catalog()
    if isinstance(target.provider, MetaProvider):
        offered = catalog.endpoints_of(target.model)
        if not offered:
            raise NotFound(f"Unknown model: {target.model}", param="model")
        return offered[0].type
    return catalog.endpoint(target.model, target.provider or "").type


def prepare(body: Any, caller: Caller, *, extra_parameters: str | None = None) -> Planned:
    request = request_models.parse(request_models.InferenceRequest, body)
    model, provider, arguments = request.model, request.provider, request.arguments
    if "@" in model or "->" in model or "->" in provider:
        raise BadRequest("'model' and 'provider' name one model and one provider.", param="model")
    kind = _kind(model, provider)
    if not isinstance(arguments, dict) or MARKERS[kind] not in arguments or any(
            marker in arguments for other, marker in MARKERS.items() if other != kind):
        raise ArgumentsMismatch(param="arguments")
    if "model" in arguments:
        raise BadRequest("The model is named by 'model' and 'provider', not inside 'arguments'.",
                         param="arguments.model")
    if kind == "chat" and arguments.get("stream"):
        raise BadRequest("/v0/inference answers whole; stream with /v0/chat/completions.",
                         param="arguments.stream")
    request_body = {**arguments, "model": f"{model}@{provider}"}
    if kind == "chat":
        return Planned(kind, chat.prepare(request_body, caller, extra_parameters=extra_parameters,
                                          prefix="arguments"))
    return Planned(kind, embeddings.prepare(request_body, caller, extra_parameters=extra_parameters,
                                            prefix="arguments"))


async def run(planned: Planned, caller: Caller, *, remaining_ms: int | None = None) -> chat.Completed:
    if planned.kind == "chat":
        result = await chat.complete(planned.plan, caller, remaining_ms=remaining_ms)
    else:
        result = await embeddings.embed(planned.plan, caller, remaining_ms=remaining_ms)
    assert isinstance(result, chat.Completed)  # never streamed: checked in prepare
    return chat.Completed({"response": result.body}, result.headers)
