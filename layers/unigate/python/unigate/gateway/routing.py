"""Which endpoints a request may go to, in order: fallbacks, meta-providers, cooldowns.

A parsed chain (unigate.domain.model_strings) becomes a list of candidate endpoints. An explicit `model@provider`
is itself; a meta-provider (`@lowest-ttft|ic<=1`) is every catalog endpoint of the model that the key
may use, within the thresholds, ranked by the metric: measured from this gateway's own traffic
(unigate.catalog.metrics) once an endpoint has enough samples, a documented prior before that; costs come from
the catalog. Where there is a choice (a chain or a meta-provider), endpoints in cooldown are skipped.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from unigate.catalog import metrics
from unigate.catalog.entries import EndpointSpec, ProviderSpec, get_catalog
from unigate.domain.errors import ArgumentsMismatch, Forbidden, NotFound, ServiceUnavailable
from unigate.domain.model_strings import MetaProvider, Target
from unigate.domain.records import Caller, Deployment
from unigate.infra.config import get_settings
from unigate.stores import metrics as store

NO_CANDIDATE = "No providers found within the specified thresholds."
# Endpoints this process has seen failing (so that their next success resets the shared count).
_known_failures: dict[str, int] = {}


@dataclass(frozen=True)
class Candidate:
    endpoint: EndpointSpec
    provider: ProviderSpec
    deployment: Deployment | None = None
    # The caller's own key, for their custom endpoints (`name@custom`).
    credential: str | None = None


def metric_value(endpoint: EndpointSpec, metric: str) -> float:
    if metric == "input_cost":
        return float(endpoint.input)
    if metric == "output_cost":
        return float(endpoint.output)
    if metric == "cost":
        return float((3 * endpoint.input + endpoint.output) / Decimal(4))
    value = metrics.stats(endpoint.name).value(metric)
    return float(value if value is not None else 0.0)


def rank(model: str, meta: MetaProvider, caller: Caller, *, max_tokens: int | None, kind: str = "chat"
         ) -> list[EndpointSpec]:
    catalog = get_catalog()
    offered = [e for e in catalog.endpoints_of(model) if e.type == kind]
    if not offered:
        raise NotFound(f"Unknown model: {model}", param="model")
    usable = [e for e in offered
              if caller.may_use(e.name, e.model) and (max_tokens is None or max_tokens <= e.max_output)]
    if not usable:
        raise Forbidden(f"This API key may not use any provider of {model}.", param="model")
    admitted = [e for e in usable if all(t.admits(metric_value(e, t.metric)) for t in meta.thresholds)]
    if not admitted:
        raise NotFound(NO_CANDIDATE, param="model")
    descending = meta.metric == "tks_per_sec"
    return sorted(
        admitted,
        key=lambda e: ((-1 if descending else 1) * metric_value(e, meta.metric), metric_value(e, "cost"), e.name),
    )


def _deployed(name: str, caller: Caller, kind: str) -> Candidate:
    from unigate.catalog import deployments

    deployment = deployments.find(name)
    if deployment is None:
        raise NotFound(f"No deployment named {name!r}.", param="model")
    model, _, provider = deployment.endpoint.partition("@")
    catalog = get_catalog()
    endpoint = _typed(catalog.endpoint(model, provider), kind)
    if not caller.may_use(endpoint.name, endpoint.model, deployment.name):
        raise Forbidden(f"This API key may not use {deployment.name}.", param="model")
    if deployment.model_version:
        endpoint = endpoint.model_copy(update={"upstream": deployment.model_version})
    return Candidate(endpoint, catalog.provider(provider), deployment)


def _custom(name: str, caller: Caller, kind: str) -> Candidate:
    from unigate.catalog import customendpoints

    if kind != "chat":
        raise ArgumentsMismatch(f"{name}@custom is a chat endpoint.", param="model")
    endpoint, provider, key = customendpoints.resolve(caller.account_id, name)
    if not caller.may_use(endpoint.name, endpoint.model):
        raise Forbidden(f"This API key may not use {endpoint.name}.", param="model")
    return Candidate(endpoint, provider, credential=key)


def _typed(endpoint: EndpointSpec, kind: str) -> EndpointSpec:
    if endpoint.type != kind:
        raise ArgumentsMismatch(f"{endpoint.name} is not a{'n' if kind[0] in 'ae' else ''} {kind} model.",
                                param="model")
    return endpoint


def _expand(target: Target, caller: Caller, max_tokens: int | None, kind: str) -> list[Candidate]:
    catalog = get_catalog()
    if target.provider is None:
        return [_deployed(target.model, caller, kind)]
    if isinstance(target.provider, MetaProvider):
        ranked = rank(target.model, target.provider, caller, max_tokens=max_tokens, kind=kind)
        return [Candidate(e, catalog.provider(e.provider)) for e in ranked]
    if target.provider == "custom":
        return [_custom(target.model, caller, kind)]
    endpoint = _typed(catalog.endpoint(target.model, target.provider), kind)
    if not caller.may_use(endpoint.name, endpoint.model):
        raise Forbidden(f"This API key may not use {endpoint.name}.", param="model")
    return [Candidate(endpoint, catalog.provider(endpoint.provider))]


def plan(chain: tuple[Target, ...], caller: Caller, *, max_tokens: int | None = None, kind: str = "chat"
         ) -> list[Candidate]:
    """The endpoints to try, in order. Raises the contract's 4xx before anything is held."""
    ordered: dict[str, Candidate] = {}
    for target in chain:
        for candidate in _expand(target, caller, max_tokens, kind):
            deployment = candidate.deployment
            key = f"deployment:{deployment.name.lower()}" if deployment else candidate.endpoint.name
            ordered.setdefault(key, candidate)
    candidates = list(ordered.values())
    choice = len(chain) > 1 or any(isinstance(t.provider, MetaProvider) for t in chain)
    if choice and len(candidates) > 1:
        now = time.time()
        states = store.health(list({c.endpoint.name for c in candidates}))
        for name, state in states.items():
            _known_failures[name] = state.failures
        candidates = [c for c in candidates if not states[c.endpoint.name].cooling(now)]
        if not candidates:
            raise ServiceUnavailable("Every provider for this request is cooling down after repeated failures.")
    return candidates


def note_failure(endpoint: str) -> None:
    """An endpoint failed on its own account (408, 429, 5xx, timeout, connection): one more in a row."""
    settings = get_settings()
    state = store.add_failure(endpoint, threshold=settings.cooldown_failures,
                              cooldown_seconds=settings.cooldown_seconds, now=time.time())
    _known_failures[endpoint] = state.failures


def note_success(endpoint: str) -> None:
    """A success ends a run of failures; written only when this process knows of one, so the success
    path costs no DynamoDB write."""
    if _known_failures.get(endpoint):
        store.clear_failures(endpoint)
        _known_failures[endpoint] = 0


# The meta-providers a model's page lists, by their long names (unigate.domain.model_strings).
CHOICE_META_PROVIDERS = ("lowest-input-cost", "lowest-output-cost", "cost", "lowest-ttft", "lowest-itl",
                         "highest-tks-per-sec")


def choices(model: str, caller: Caller) -> dict[str, Any]:
    """GET /v0/endpoint-metrics/choices: the endpoint each meta-provider would send `model@<meta>` to now
    (the first candidate of the same plan a request makes, cooldowns included), or why there is none."""
    from unigate.domain.errors import UnigateError
    from unigate.domain.model_strings import META_PROVIDERS

    if not get_catalog().endpoints_of(model):
        raise NotFound(f"Unknown model: {model}", param="model")
    found = []
    for name in CHOICE_META_PROVIDERS:
        try:
            chosen = plan((Target(model, MetaProvider(META_PROVIDERS[name])),), caller)
            found.append({"meta_provider": f"@{name}", "endpoint": chosen[0].endpoint.name, "reason": None})
        except UnigateError as refused:
            found.append({"meta_provider": f"@{name}", "endpoint": None, "reason": refused.message})
    return {"model": model, "choices": found}
