"""Chat completions: check, plan the endpoints, and for each attempt hold, call, settle once.

The order is the contract: every check that can refuse a request runs before the first hold, and each
attempt's hold runs before its upstream call. After each call, exactly one settle charges what was
produced and gives back the rest, whether the upstream succeeded, failed, timed out, or the client went
away mid-stream. Retries and fallbacks advance only on 408, 429, 5xx and connection errors, and never
after the first streamed byte; each attempt is billed only for what it produced.
"""

from __future__ import annotations

import asyncio
import json
import math
import random
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any, TypeGuard, TypeVar
from urllib.parse import quote

import anyio

from unigate.accounts import billing, budgets, querylog, spend
from unigate.catalog import metrics
from unigate.catalog.entries import EndpointSpec, ProviderSpec
from unigate.domain import contentfilter, model_strings, request_models, tokens
from unigate.domain.errors import (
    ArgumentsMismatch,
    BadRequest,
    CredentialsUnavailable,
    RateLimited,
    UnigateError,
    UpstreamError,
    UpstreamTimeout,
)
from unigate.domain.money import format_credits, micros_to_credits
from unigate.domain.openai_params import ALWAYS_FORWARDED, OPENAI_PARAMS, UNIFY_EXTRAS
from unigate.domain.records import Caller, Deployment, FilterCategory, Hold
from unigate.domain.usage import Priced, Usage, from_openai, price, worst_case
from unigate.gateway import ratelimits, routing
from unigate.infra.config import get_settings
from unigate.infra.observability import count, get_logger
from unigate.providers import adapter_for
from unigate.providers.base import (
    Adapter,
    StreamScrubber,
    UpstreamCall,
    UpstreamFailure,
    scrub,
    scrubbed,
    secrets_of,
)
from unigate.stores.metrics import Measurement, window_update

MAX_ALTERNATIVES = 8
# The `extra-parameters` header of Azure's model inference API: what to do with parameters outside
# OpenAI's API. Without the header they are dropped and listed, as drop_params does.
EXTRA_PARAMETER_MODES = ("error", "drop", "pass-through")
RETRYABLE_STATUSES = frozenset({408, 429, 500, 502, 503, 504, 529})


@dataclass
class Prepared:
    """A checked request bound to one endpoint: everything needed to hold, call and settle."""

    endpoint: EndpointSpec
    provider: ProviderSpec
    body: dict[str, Any]
    stream: bool
    worst_case_micros: int
    dropped: list[str] = field(default_factory=list)
    # The query log: the request's tags, and the bodies only when the request asked for them.
    tags: list[str] = field(default_factory=list)
    logged_request: Any = None
    log_response: bool = False
    # The caller's own provider key (use_custom_keys): sent instead of the gateway's, and only the
    # configured fee is charged.
    own_key: str | None = None
    # The deployment the request named, if any: its content filter and rate limits apply.
    deployment: Deployment | None = None
    # Parameters passed through to the provider as they are (extra-parameters: pass-through).
    extra: dict[str, Any] = field(default_factory=dict)
    # A fair estimate of the input's tokens (billed when the provider reports none), what the request
    # counts against tokens-per-minute limits, and the x-ratelimit-* headers it earned.
    prompt_estimate: int = 0
    limit_tokens: int = 0
    rate_headers: dict[str, str] = field(default_factory=dict)
    # The client asked for the usage chunk (stream_options.include_usage), as OpenAI sends it only then;
    # unigate asks the upstream for usage either way, so billing never depends on it.
    usage_chunk: bool = False

    def list_price(self, prompt_tokens: int, completion_tokens: int) -> int:
        return self.endpoint.cost_micros(prompt_tokens, completion_tokens)

    def cost(self, prompt_tokens: int, completion_tokens: int) -> int:
        return self._fee(self.list_price(prompt_tokens, completion_tokens))

    def _fee(self, list_price: int) -> int:
        if self.own_key is None:
            return list_price
        return math.ceil(list_price * get_settings().byok_fee_percent / 100)

    def bill(self, used: Usage) -> Priced:
        """Every token class at its price (the long-context tier when the prompt is above it), rounded up
        once; with the caller's own key, only the fee, spread over the classes alike."""
        priced = price(used, self.endpoint.prices)
        if self.own_key is None:
            return priced
        share = Decimal(str(get_settings().byok_fee_percent)) / 100
        return Priced(self._fee(priced.micros), {name: amount * share for name, amount in priced.details.items()})

    def worst_cost(self, prompt_tokens: int, completion_tokens: int) -> int:
        """The hold: every prompt token at the highest prompt rate (a cache write can cost more than input)
        and every completion token at the highest completion rate, of any tier."""
        return self._fee(worst_case(self.endpoint.prices, prompt_tokens, completion_tokens))

    @property
    def headers(self) -> dict[str, str]:
        headers = {"x-unigate-endpoint": self.endpoint.name, **self.rate_headers}
        if self.deployment is not None:
            headers["x-unigate-deployment"] = self.deployment.name
        if self.dropped:
            # Parameter names come from the request: percent-encoded, so any name makes a valid header value.
            headers["x-unigate-dropped-params"] = ",".join(sorted(quote(name, safe="") for name in self.dropped))
        return headers

    def adapter(self) -> Adapter:
        """What the attempt calls: the provider's adapter (a dialect served natively wraps it)."""
        return adapter_for(self.provider.family)

    @property
    def output_filter(self) -> tuple[FilterCategory, ...]:
        if self.deployment is None:
            return ()
        return tuple(c for c in self.deployment.content_filter if c.output)


P = TypeVar("P", bound=Prepared)
T = TypeVar("T")


@dataclass
class Completed:
    body: dict[str, Any]
    headers: dict[str, str]


@dataclass
class Streamed:
    chunks: AsyncIterator[bytes]
    headers: dict[str, str]


# ------------------------------------------------------------------------------------------- checks
def unify_extras(request: request_models.UnifyExtras, body: dict[str, Any]) -> dict[str, Any]:
    """The query log's share of Unify's extras, as Prepared fields: the tags, and the body only when the
    request asked for it."""
    return {"tags": list(request.tags or []), "logged_request": body if request.log_query_body else None,
            "log_response": request.log_response_body}


def own_key(candidate: routing.Candidate, body: dict[str, Any], caller: Caller, fetched: dict[str, str]
            ) -> str | None:
    """The key a candidate is called with instead of the gateway's: its custom endpoint's, or, with
    use_custom_keys, the caller's own key for the provider (read once per provider and request)."""
    if candidate.credential is not None or not body.get("use_custom_keys"):
        return candidate.credential
    name = candidate.provider.name
    if name not in fetched:
        from unigate.catalog.customkeys import provider_key

        fetched[name] = provider_key(caller.account_id, name)
    return fetched[name]


def parse_requests(body: Any, *, prefix: str = "") -> list[tuple[request_models.ChatCompletionRequest, dict[str, Any]]]:
    """The body's requests (a JSON array body is a list of whole fallback requests), each validated and as
    the client sent it: nothing the client left out is added."""
    many = isinstance(body, list)
    items = body if many else [body]
    if not items or len(items) > MAX_ALTERNATIVES:
        raise BadRequest(f"An array body holds 1 to {MAX_ALTERNATIVES} requests.")
    parsed = []
    for index, item in enumerate(items):
        request = request_models.parse(request_models.ChatCompletionRequest, item,
                                prefix=f"{prefix}[{index}]" if many else prefix)
        parsed.append((request, request.model_dump(exclude_unset=True)))
    return parsed


def extra_parameters_mode(header: str | None) -> str | None:
    if header is None:
        return None
    mode = header.strip().lower()
    if mode not in EXTRA_PARAMETER_MODES:
        raise BadRequest(f"The extra-parameters header is one of {', '.join(EXTRA_PARAMETER_MODES)}.",
                         param="extra-parameters")
    return mode


def split_parameters(body: dict[str, Any], known: frozenset[str], supported: frozenset[str], provider: str, *,
                     extra_mode: str | None) -> tuple[dict[str, Any], list[str], dict[str, Any]]:
    """What is forwarded, what is dropped and what passes through as it is. Known parameters the provider
    does not support follow drop_params; parameters outside the API follow the extra-parameters mode."""
    drop_params = body.get("drop_params", True)
    forwarded: dict[str, Any] = {}
    dropped: list[str] = []
    extra: dict[str, Any] = {}
    for key, value in body.items():
        if key in UNIFY_EXTRAS:
            continue
        if key in known and key in supported:
            forwarded[key] = value
        elif key not in known and extra_mode == "error":
            raise ArgumentsMismatch(f"Extra parameter '{key}' is not allowed (extra-parameters: error).", param=key)
        elif key not in known and extra_mode == "pass-through":
            extra[key] = value
        elif value is not None:
            if not drop_params and key in known:
                raise BadRequest(f"{provider} does not support '{key}' (set drop_params to drop it).", param=key)
            dropped.append(key)
    return forwarded, dropped, extra


@dataclass(frozen=True)
class _Prompt:
    """What a request's prompt counts for, computed once per request whatever its number of candidates."""

    fair: int


def _bind(request: request_models.ChatCompletionRequest, body: dict[str, Any], candidate: routing.Candidate,
          prompt: _Prompt, extras: dict[str, Any], *, key: str | None, extra_mode: str | None) -> Prepared:
    """The request as one endpoint will receive it, and the most it can cost there."""
    endpoint, provider = candidate.endpoint, candidate.provider
    max_out = None
    for name in ("max_tokens", "max_completion_tokens"):
        value = getattr(request, name)
        if value is not None and value > endpoint.max_output:
            raise BadRequest(f"'{name}' must be between 1 and {endpoint.max_output} for this model.", param=name)
        max_out = value or max_out
    n = request.n or 1
    forwarded, dropped, extra = split_parameters(body, OPENAI_PARAMS, provider.params | ALWAYS_FORWARDED,
                                                 provider.name, extra_mode=extra_mode)
    forwarded["model"] = endpoint.upstream
    cap = max_out or endpoint.max_output
    dropped = _with_cap(forwarded, dropped, provider, cap, sent_max_tokens=request.max_tokens is not None)
    usage_chunk = bool(request.stream_options and request.stream_options.include_usage)
    prepared = Prepared(endpoint, provider, forwarded, request.stream, 0, dropped, **extras, usage_chunk=usage_chunk,
                        own_key=key, deployment=candidate.deployment, extra=extra, prompt_estimate=prompt.fair,
                        limit_tokens=prompt.fair + (max_out or 0) * n)
    bound(prepared)
    return prepared


def _with_cap(forwarded: dict[str, Any], dropped: list[str], provider: ProviderSpec, cap: int, *,
              sent_max_tokens: bool) -> list[str]:
    """Puts the output cap the hold prices into the request, in the parameter the provider takes: the one the
    client sent when the provider takes it, else max_completion_tokens where listed (every OpenAI model takes
    it), else max_tokens (what every other API and OpenAI-compatible server takes). Adapters of other formats
    read it from either and write their own (max_tokens, maxOutputTokens, maxTokens)."""
    forwarded.pop("max_tokens", None)
    forwarded.pop("max_completion_tokens", None)
    if sent_max_tokens and "max_tokens" in provider.params:
        name = "max_tokens"
    elif "max_completion_tokens" in provider.params:
        name = "max_completion_tokens"
    else:
        name = "max_tokens"
    forwarded[name] = cap
    # A limit mapped into the provider's own parameter was not dropped.
    return [p for p in dropped if p not in ("max_tokens", "max_completion_tokens")]


def outgoing(prepared: Prepared) -> Any:
    """The body the adapter will send upstream for this request (after translation, dropped parameters and
    pass-through), which the hold is computed from."""
    adapter = adapter_for(prepared.provider.family)
    call = UpstreamCall(prepared.endpoint, prepared.provider, prepared.body, {}, 0.0, prepared.extra)
    return adapter.request_body(call, stream=prepared.stream)


def choices_asked(payload: Any) -> int:
    """How many choices the outgoing body asks for (OpenAI's n, Gemini's candidateCount)."""
    counts = [1]
    if isinstance(payload, dict):
        counts.append(payload.get("n") or 1)
        config = payload.get("generationConfig")
        if isinstance(config, dict):
            counts.append(config.get("candidateCount") or 1)
    return max(c for c in counts if isinstance(c, int) and not isinstance(c, bool))


# Anthropic's beta (context-1m-2025-08-07, in a header or Bedrock's body) that lets a request take a million
# input tokens, beyond the context window the catalog lists.
LONG_CONTEXT_BETA = "context-1m"
LONG_CONTEXT = 1_000_000


def input_bound(prepared: Prepared, payload: Any, *, context: int | None = None) -> tuple[int, int]:
    """The most input tokens the provider can bill for `payload`, and a fair estimate of them. The most: every
    byte as a token, each image at the catalog's per-image maximum, each document, audio or video part (billed
    per page or second, whatever its bytes; by file id or URL, of unknown size) at the whole context window,
    and all of it at most the context window (`context`, the endpoint's by default), since no provider bills
    more input than it takes. The estimate, billed when the provider reports no usage: one token per 4 bytes
    and each image at the maximum (neither can be checked)."""
    text = tokens.payload_text(payload)
    size = tokens.utf8_size(text)
    images, documents = tokens.media_parts(payload)
    image_tokens = prepared.provider.image_tokens(prepared.endpoint)
    window = context or prepared.endpoint.context
    if LONG_CONTEXT_BETA in text:  # asked in the body (Bedrock's anthropic_beta): a million input tokens
        window = max(window, LONG_CONTEXT)
    most = min(size + images * image_tokens + documents * window, window)
    return most, min(math.ceil(size / 4) + images * image_tokens, window)


def bound(prepared: Prepared) -> None:
    """Sets the hold to the most the provider can bill for the request unigate sends (its input_bound, and the
    output cap it carries, see _with_cap, for every choice it asks for) and the input estimate."""
    cap = int(prepared.body.get("max_completion_tokens") or prepared.body.get("max_tokens") or 0)
    payload = outgoing(prepared)
    most, prepared.prompt_estimate = input_bound(prepared, payload)
    prepared.worst_case_micros = prepared.worst_cost(most, cap * choices_asked(payload))


def cover(prepared: Prepared, payload: Any, output_cap: int, *, context: int | None = None) -> None:
    """Raises the hold and the estimate to cover `payload` too: the body of a dialect an endpoint serves
    natively, which carries what the chat form drops (thinking blocks, documents, files)."""
    most, estimate = input_bound(prepared, payload, context=context)
    prepared.prompt_estimate = max(prepared.prompt_estimate, estimate)
    prepared.worst_case_micros = max(prepared.worst_case_micros, prepared.worst_cost(most, output_cap))


def prepare(body: Any, caller: Caller, *, extra_parameters: str | None = None, prefix: str = "") -> list[Prepared]:
    """Every check that can refuse a request, before any hold: the endpoints to try, in order, each with
    the request bound to it. A JSON array body is a list of whole fallback requests. `prefix` is where the
    request sits in the body it came in (the arguments of /v0/inference), for the errors' `param`."""
    extra_mode = extra_parameters_mode(extra_parameters)
    attempts: list[Prepared] = []
    for request, sent in parse_requests(body, prefix=prefix):
        extras = unify_extras(request, sent)
        chain = model_strings.parse(request.model)
        max_tokens = request.max_completion_tokens or request.max_tokens
        messages, tools = sent["messages"], sent.get("tools")
        prompt = _Prompt(tokens.prompt_estimate(messages, tools))
        fetched: dict[str, str] = {}
        for candidate in routing.plan(chain, caller, max_tokens=max_tokens):
            if candidate.deployment is not None:
                contentfilter.check_input(candidate.deployment.content_filter, contentfilter.message_text(messages))
            key = own_key(candidate, sent, caller, fetched)
            attempts.append(_bind(request, sent, candidate, prompt, extras, key=key, extra_mode=extra_mode))
    if len({a.stream for a in attempts}) > 1:
        raise BadRequest("Fallback requests must all stream or all not stream.", param="stream")
    return admit_key(attempts, caller)


def admit_key(attempts: list[P], caller: Caller) -> list[P]:
    """The last check: the key's own requests and tokens per minute (counted once per request)."""
    if caller.rpm is not None or caller.tpm is not None:
        headers = ratelimits.admit([ratelimits.Limit(f"key:{caller.key_id}", "this API key", caller.rpm, caller.tpm)],
                                   attempts[0].limit_tokens)
        for prepared in attempts:
            prepared.rate_headers = dict(headers)
    return attempts


def admit_deployment(prepared: Prepared) -> None:
    """Before an attempt's hold: the deployment's own limits, counted only for the attempt that uses it."""
    deployment = prepared.deployment
    if deployment is not None and deployment.limited:
        limit = ratelimits.Limit(f"deployment:{deployment.name.lower()}", f"deployment {deployment.name}",
                                 deployment.rpm, deployment.token_limit)
        prepared.rate_headers = {**prepared.rate_headers, **ratelimits.admit([limit], prepared.limit_tokens)}


# ------------------------------------------------------------------------------------- upstream
def provider_credentials(provider: ProviderSpec) -> dict[str, Any]:
    if provider.secret is None:
        return {}
    from unigate.stores import secrets

    return secrets.provider_credentials(provider.secret)


def _timeout(remaining_ms: int | None) -> float:
    limit = get_settings().upstream_timeout_seconds
    if remaining_ms is not None:
        # Keep two seconds to settle and answer before Lambda stops the function.
        limit = min(limit, remaining_ms / 1000 - 2.0)
    return max(limit, 1.0)


def failure_to_error(failure: UpstreamFailure, provider: str) -> UnigateError:
    """How an upstream failure reaches the caller (the contract's 429 / 502 / 504), with what it was charged
    when that is not nothing (x-unigate-cost, as on a whole answer)."""
    error = _error_of(failure, provider)
    if failure.charged_micros:
        error.message += (f" The request was sent and may have been billed by the provider, so its hold of "
                          f"{format_credits(failure.charged_micros)} credits was charged.")
        error.headers["x-unigate-cost"] = format_credits(failure.charged_micros)
    return error


def _error_of(failure: UpstreamFailure, provider: str) -> UnigateError:
    if failure.kind == "timeout" or failure.status in (408, 504):
        return UpstreamTimeout(f"{provider} did not answer in time.")
    if failure.status == 429:
        retry = int(failure.retry_after) if failure.retry_after is not None else None
        return RateLimited(f"{provider} is rate limiting requests; retry later.", retry_after=retry)
    if failure.status in (400, 404, 413, 422):
        return BadRequest(f"{provider} rejected the request: {failure.message}")
    if failure.status in (401, 403):
        return UpstreamError(f"{provider} refused the gateway's credentials; the operator must update them.")
    return UpstreamError(f"{provider} failed: {failure.message}")


def outcome_of(failure: UpstreamFailure) -> str:
    if failure.kind == "timeout" or failure.status in (408, 504):
        return "timeout"
    if failure.status == 429:
        return "rate_limited"
    if failure.kind == "connect":
        return "connect_error"
    if failure.status is not None and 400 <= failure.status < 500:
        return "client_error"
    return "server_error"


def retryable(failure: UpstreamFailure) -> bool:
    """408, 429, 5xx, timeouts, connection and protocol errors; a client's own 4xx never is."""
    if failure.status is not None:
        return failure.status in RETRYABLE_STATUSES or failure.status >= 500
    return failure.kind in ("timeout", "connect", "protocol")


# No request can use more tokens than this: a count above it is nonsense, not usage.
MAX_REPORTED_TOKENS = 100_000_000


def _valid_count(value: Any) -> TypeGuard[int]:
    return isinstance(value, int) and not isinstance(value, bool) and 0 <= value <= MAX_REPORTED_TOKENS


def _usage_tokens(usage: Any, fallback_prompt: int, fallback_completion: int) -> Usage:
    """The usage record of an upstream usage object (the chat form every adapter gives), its token classes
    kept apart; a total that is missing or invalid (negative, not an integer, absurd) is replaced by its
    estimate and logged, and an answer with output is never billed 0 output tokens."""
    if not isinstance(usage, dict):
        return Usage(input=fallback_prompt, output=fallback_completion)
    prompt, completion = usage.get("prompt_tokens"), usage.get("completion_tokens")
    invalid = [name for name, value in (("prompt_tokens", prompt), ("completion_tokens", completion))
               if value is not None and not _valid_count(value)]
    if invalid:
        get_logger().warning("invalid upstream usage replaced by the estimate", extra={"fields": invalid})
    prompt_ok = _valid_count(prompt) and (prompt or not fallback_prompt)
    completion_ok = _valid_count(completion) and (completion or not fallback_completion)
    used = from_openai({**usage, "prompt_tokens": prompt if prompt_ok else 0,
                        "completion_tokens": completion if completion_ok else 0}) or Usage()
    if not prompt_ok:
        used = Usage(input=fallback_prompt, output=used.output, reasoning=used.reasoning)
    if not completion_ok:
        used = Usage(used.input, used.cache_read, used.cache_write_5m, used.cache_write_1h, fallback_completion, 0)
    return used


def usage_body(used: Usage, priced: Priced, charged: int) -> dict[str, Any]:
    """The response's usage: OpenAI's counts and details, `cost` (the total charged) and `cost_details`
    (each token class's share, in credits)."""
    return {**used.to_chat(), "cost": micros_to_credits(charged), "cost_details": priced.details_credits()}


def _output_text(choices: Any) -> str:
    parts = []
    for choice in choices if isinstance(choices, list) else []:
        source = (choice.get("message") or choice.get("delta") or {}) if isinstance(choice, dict) else {}
        if not isinstance(source, dict):
            continue
        if isinstance(source.get("content"), str):
            parts.append(source["content"])
        calls = source.get("tool_calls")
        for call in calls if isinstance(calls, list) else []:
            function = call.get("function") if isinstance(call, dict) else None
            if isinstance(function, dict):
                parts.append(str(function.get("arguments", "")))
    return "".join(parts)


class Attempt:
    """One try at one endpoint: its hold, its timing, and exactly one settle (shielded from
    cancellation, since a client disconnect must still settle), which also records the measurement."""

    def __init__(self, prepared: Prepared, hold: Hold, key_id: str = "") -> None:
        self.prepared = prepared
        self.hold = hold
        self.key_id = key_id  # the caller's key, for the spend aggregates
        self.started = time.monotonic()
        self.first_token: float | None = None
        self.charged: int | None = None

    def measurement(self, outcome: str, output_tokens: int) -> Measurement:
        now = time.monotonic()
        ttft = (self.first_token - self.started) * 1000 if self.first_token is not None else None
        itl = None
        if ttft is not None and output_tokens > 1:
            itl = (now - (self.first_token or now)) * 1000 / (output_tokens - 1)
        return Measurement(self.prepared.endpoint.name, outcome, (now - self.started) * 1000, ttft, itl,
                           output_tokens)

    async def settle(self, cost_micros: int, measurement: Measurement | None, *, outcome: str = "",
                     tokens: tuple[int, int] = (0, 0), response: Any = None,
                     cost_details: dict[str, Decimal] | None = None) -> int:
        """Settles once; the settle transaction also carries the endpoint measurement (when the endpoint
        was measured) and the query log record (always: every paid request has one)."""
        if self.charged is None:
            # What the usage says, never clamped to the hold: the settle charges any excess the balance covers
            # and records the rest as uncollected.
            self.charged = max(cost_micros, 0)
            prepared = self.prepared
            record = querylog.record_put(
                account_id=self.hold.account_id, endpoint=prepared.endpoint.name,
                outcome=outcome or (measurement.outcome if measurement else "cancelled"),
                prompt_tokens=tokens[0], completion_tokens=tokens[1], cost_micros=self.charged,
                latency_ms=(time.monotonic() - self.started) * 1000,
                ttft_ms=(self.first_token - self.started) * 1000 if self.first_token is not None else None,
                tags=prepared.tags, request_body=prepared.logged_request,
                response_body=response if prepared.log_response else None, cost_details=cost_details,
            )
            extra: tuple[dict[str, Any], ...] = (window_update(measurement), record) if measurement else (record,)
            extra += spend.settle_items(self.key_id, self.hold.account_id, prepared.endpoint.name, prepared.tags,
                                        self.charged)
            with anyio.CancelScope(shield=True):
                await settle_with_retries(self.hold, self.charged, extra)
            if measurement is not None:
                # An endpoint's health is the operator's: a call with the caller's own key or to their own
                # endpoint says nothing about it (a bad key of theirs must not cool it down for everyone).
                _after_measurement(measurement, self.charged,
                                   health=prepared.own_key is None and prepared.provider.family != "custom")
        return self.charged


SETTLE_ATTEMPTS = 4


async def settle_with_retries(hold: Hold, cost_micros: int, extra: tuple[dict[str, Any], ...]) -> None:
    """A settle that fails (the store busy or unreachable) is tried again with capped, jittered backoff; the
    last tries go without the extra items (the measurement and query log record), so they can never be why
    a charge is lost. If every try fails, the hold stays open for the sweeper, which charges it whole; that
    is counted (SettleFailures, alarmed) and logged, and the caller's answer is not failed for it."""
    for attempt in range(SETTLE_ATTEMPTS):
        try:
            # On the event loop's thread, like every AWS call of a request (see _attempt): nothing can cancel
            # it half way.
            billing.settle(hold, cost_micros, extra if attempt < SETTLE_ATTEMPTS // 2 else ())
            return
        except Exception as exc:
            get_logger().warning("settle failed; retrying", extra={"hold_id": hold.hold_id, "attempt": attempt,
                                                                   "error": type(exc).__name__})
            if attempt + 1 < SETTLE_ATTEMPTS:
                await asyncio.sleep(random.uniform(0, min(2.0, 0.1 * 2**attempt)))  # noqa: S311 - jitter
    count("SettleFailures")
    get_logger().error("settle failed after its retries; the sweeper will charge the hold whole",
                       extra={"hold_id": hold.hold_id, "account_id": hold.account_id})


def _after_measurement(measurement: Measurement, cost_micros: int, *, health: bool = True) -> None:
    metrics.emit(measurement, cost_micros)
    if not health:
        return
    if measurement.outcome == "ok":
        routing.note_success(measurement.endpoint)
    elif measurement.outcome != "client_error":
        routing.note_failure(measurement.endpoint)


# The query log's outcome of a call cut by its deadline after it was sent, charged its whole hold.
CUT_AT_DEADLINE = "cut_at_deadline"


@asynccontextmanager
async def refund_on_failure(attempt: Attempt) -> AsyncIterator[None]:
    """Settles an upstream call that fails before anything came back (a whole answer, or a stream's first
    chunk), measures the failure, then lets the UpstreamFailure go on to the retry loop. A refusal or a call
    that provably never reached the upstream produced nothing: the whole hold goes back. A call cut by its
    deadline after it was sent may be billed in full by the provider, and what it produced is unknown: it is
    charged its hold, as the sweeper charges a stale one (only a hold whose call never started is released)."""
    try:
        yield
    except UpstreamFailure as failure:
        if failure.kind == "timeout" and failure.started:
            failure.charged_micros = await attempt.settle(attempt.hold.amount_micros,
                                                          attempt.measurement("timeout", 0), outcome=CUT_AT_DEADLINE)
        else:
            await attempt.settle(0, attempt.measurement(outcome_of(failure), 0))
        raise
    except BaseException:
        await attempt.settle(0, None)
        raise


# What an attempt does once its hold is taken: call the provider with `call`, settle `attempt` once.
Runner = Callable[[Any, UpstreamCall], Awaitable[Any]]


async def _attempt(prepared: Prepared, caller: Caller, timeout: float, runner: Runner) -> Any:
    # Before the hold: a missing key must not hold money.
    credentials = {"api_key": prepared.own_key} if prepared.own_key else provider_credentials(prepared.provider)
    # AWS calls run on the event loop's thread. A Lambda instance serves one request at a time, so a
    # worker thread would buy no concurrency and cost two thread switches per call (about 0.4 ms here).
    if prepared.deployment is not None and prepared.deployment.limited:
        admit_deployment(prepared)
    pinned = None
    if prepared.provider.family == "custom":
        from unigate.infra import ssrf

        # A custom endpoint's addresses are vetted before the hold (a refused one holds nothing), and the call
        # connects to the address vetted here.
        pinned = await ssrf.pin(prepared.provider.base_url or "")
    try:
        hold = billing.hold(caller.account_id, prepared.worst_case_micros, {"endpoint": prepared.endpoint.name},
                            budget=budgets.for_caller(caller))
        call = UpstreamCall(prepared.endpoint, prepared.provider, prepared.body, credentials, timeout, prepared.extra,
                            pinned)
        return await runner(Attempt(prepared, hold, caller.key_id), call)
    except UpstreamFailure as failure:
        raise scrub(failure, credentials) from None


async def _attempt_with(attempt: Attempt, call: UpstreamCall) -> Completed | Streamed:
    prepared = attempt.prepared
    adapter = prepared.adapter()
    if prepared.stream:
        upstream = adapter.stream(call).__aiter__()
        # The first chunk is awaited here, so a refused or failing upstream can still be retried, fall
        # back, or get a proper HTTP status instead of a 200 with an error inside the stream.
        async with refund_on_failure(attempt):
            first = await anext(upstream, None)
        attempt.first_token = time.monotonic()
        return Streamed(_relay(attempt, upstream, first, call.credentials),
                    {**prepared.headers, "cache-control": "no-cache"})
    async with refund_on_failure(attempt):
        response = scrubbed(await adapter.complete(call), secrets_of(call.credentials))
    text = _output_text(response.get("choices"))
    used = _usage_tokens(response.get("usage"), prepared.prompt_estimate, tokens.estimate(text) if text else 0)
    prompt, completion = used.prompt_tokens, used.completion_tokens
    if prepared.output_filter:
        contentfilter.filter_choices(prepared.output_filter, response.get("choices"))
    # The response as the client gets it (and as the query log keeps it); the charge is what the usage
    # says, above the hold too (the settle takes the excess, or records what the balance cannot cover).
    priced = prepared.bill(used)
    charged = priced.micros
    upstream_usage = response.get("usage")
    response["model"] = prepared.endpoint.name
    response["usage"] = {**(upstream_usage if isinstance(upstream_usage, dict) else {}),
                         **usage_body(used, priced, charged)}
    await attempt.settle(charged, attempt.measurement("ok", completion), tokens=(prompt, completion),
                         response=response, cost_details=priced.details)
    return Completed(response, {**prepared.headers, "x-unigate-cost": format_credits(charged)})


# The default runner, for surfaces whose runner handles some attempts itself (unigate.gateway.messages).
run_attempt = _attempt_with


def _backoff(retry: int, retry_after: float | None, deadline: float) -> float | None:
    """Seconds to wait before retrying, or None when the wait does not fit (then the failure stands)."""
    settings = get_settings()
    if retry_after is not None:
        wait = retry_after
        if wait > settings.retry_after_max_seconds:
            return None
    else:
        wait = random.uniform(0, min(settings.retry_max_seconds, settings.retry_base_seconds * 2**retry))  # noqa: S311
    return wait if time.monotonic() + wait < deadline else None


async def complete(plan: list[Prepared], caller: Caller, *, remaining_ms: int | None = None,
                   runner: Runner | None = None) -> Any:
    """Tries the plan in order, retrying each endpoint on retryable failures, then falling back. A
    deployment at its own rate limit is passed over like an upstream 429."""
    settings = get_settings()
    deadline = time.monotonic() + _timeout(remaining_ms)
    failure: UpstreamFailure | None = None
    refused: RateLimited | None = None
    unusable: list[tuple[str, CredentialsUnavailable]] = []
    failed_on = plan[0]
    for prepared in plan:
        for retry in range(settings.upstream_retries + 1):
            timeout = deadline - time.monotonic()
            if timeout <= 0:
                break
            try:
                return await _attempt(prepared, caller, timeout, runner or _attempt_with)
            except RateLimited as exc:
                refused = exc
                break
            except CredentialsUnavailable as exc:  # found before the hold: the next endpoint may serve
                unusable.append((prepared.endpoint.name, exc))
                get_logger().info("endpoint passed over", extra={"endpoint": prepared.endpoint.name,
                                                                 "code": exc.code})
                break
            except UpstreamFailure as exc:
                failure, failed_on = exc, prepared
                if not retryable(exc) or exc.charged_micros:  # a charged call ends the request (its deadline)
                    raise failure_to_error(exc, prepared.provider.name) from None
                get_logger().info("upstream attempt failed", extra={"endpoint": prepared.endpoint.name,
                                                                    "status": exc.status, "kind": exc.kind})
                wait = _backoff(retry, exc.retry_after, deadline) if retry < settings.upstream_retries else None
                if wait is None:
                    break
                await asyncio.sleep(wait)
    if failure is not None:
        raise failure_to_error(failure, failed_on.provider.name)
    if refused is not None:
        raise refused
    if len(unusable) == 1 and len(plan) == 1:
        raise unusable[0][1]
    if unusable:
        raise CredentialsUnavailable("No endpoint of the request could be used: " + "; ".join(
            f"{name}: {exc.message}" for name, exc in unusable))
    raise UpstreamTimeout("No time was left to call a provider.")


# ------------------------------------------------------------------------------------- streaming
def _sse(payload: Any) -> bytes:
    return b"data: " + json.dumps(payload, separators=(",", ":"), ensure_ascii=False).encode() + b"\n\n"


async def _close(upstream: AsyncIterator[Any]) -> None:
    """Closes an upstream stream, which cancels its HTTP request (closing twice is harmless)."""
    closer = getattr(upstream, "aclose", None)
    if closer is not None:
        await closer()


def _hold_back(choices: list[Any], scrubber: StreamScrubber) -> None:
    """Passes each choice's streamed text (its delta's strings and tool call arguments) through the scrubber, in
    place; a choice that finishes gets what was held back for it in its last delta."""
    for position, choice in enumerate(choices):
        delta = choice.get("delta") if isinstance(choice, dict) else None
        if not isinstance(delta, dict):
            continue
        index = choice.get("index", position)
        for key, value in list(delta.items()):
            if isinstance(value, str) and key != "role":
                delta[key] = scrubber.feed((index, key), value)
        calls = delta.get("tool_calls")
        for number, call in enumerate(calls if isinstance(calls, list) else []):
            function = call.get("function") if isinstance(call, dict) else None
            if isinstance(function, dict) and isinstance(function.get("arguments"), str):
                function["arguments"] = scrubber.feed((index, "tool_calls", call.get("index", number)),
                                                      function["arguments"])
        if choice.get("finish_reason"):
            _release(delta, index, scrubber)


def _release(delta: dict[str, Any], index: Any, scrubber: StreamScrubber) -> None:
    """Adds to a choice's delta the text held back for it."""
    for channel in [c for c in scrubber.channels() if c[0] == index]:
        held = scrubber.flush(channel)
        if channel[1] != "tool_calls":
            delta[channel[1]] = (delta.get(channel[1]) or "") + held
            continue
        calls = delta["tool_calls"] if isinstance(delta.get("tool_calls"), list) else []
        delta["tool_calls"] = calls
        call = next((c for c in calls if isinstance(c, dict) and c.get("index") == channel[2]), None)
        if call is None or not isinstance(call.get("function"), dict):
            calls.append({"index": channel[2], "function": {"arguments": held}})
        else:
            call["function"]["arguments"] = str(call["function"].get("arguments") or "") + held


def _held_sse(scrubber: StreamScrubber, produced: list[str], chunk_id: str, model: str) -> bytes | None:
    """A chunk with all the text still held back (the stream ended without finishing its choices), if any; its
    text is added to what was produced."""
    indexes = list(dict.fromkeys(channel[0] for channel in scrubber.channels()))
    if not indexes:
        return None
    choices = []
    for index in indexes:
        delta: dict[str, Any] = {}
        _release(delta, index, scrubber)
        choices.append({"index": index, "delta": delta, "finish_reason": None})
    produced.append(_output_text(choices))
    return _sse({"id": chunk_id, "object": "chat.completion.chunk", "created": int(time.time()), "model": model,
                 "choices": choices})


async def _with_first(first: T | None, rest: AsyncIterator[T]) -> AsyncIterator[T]:
    """An upstream's items, the one already awaited first."""
    if first is not None:
        yield first
    async for item in rest:
        yield item


async def _relay(attempt: Attempt, upstream: AsyncIterator[dict[str, Any]], first: dict[str, Any] | None,
                 credentials: dict[str, Any]) -> AsyncIterator[bytes]:
    prepared = attempt.prepared
    name = prepared.endpoint.name
    produced: list[str] = []
    usage: Any = None
    chunk_id = "chatcmpl-unigate"
    tail = ""
    secrets = secrets_of(credentials)
    # A credential split across chunks is caught too: only text that could begin one waits for the next chunk.
    scrubber = StreamScrubber(secrets)

    def record() -> Usage:
        completion = tokens.estimate("".join(produced)) if any(produced) else 0
        return _usage_tokens(usage, prepared.prompt_estimate, completion)

    def cost_so_far() -> int:
        return prepared.bill(record()).micros if any(produced) or usage else 0

    try:
        async for raw in _with_first(first, upstream):
            if not isinstance(raw, dict):
                continue
            item = scrubbed(raw, secrets)
            chunk_id = str(item.get("id") or chunk_id)
            usage = item["usage"] if isinstance(item.get("usage"), dict) else usage
            choices = item.get("choices") or []
            if not choices:
                continue
            _hold_back(choices, scrubber)
            produced.append(_output_text(choices))
            if prepared.output_filter:
                tail = (tail + produced[-1])[-contentfilter.OUTPUT_WINDOW:]
                if (category := contentfilter.blocked(prepared.output_filter, tail, output=True)) is not None:
                    # The chunk that completed the match is withheld (what was held back of it too); generation
                    # stops here.
                    scrubber.drop()
                    await _close(upstream)
                    yield _sse({"id": chunk_id, "object": "chat.completion.chunk", "created": int(time.time()),
                                "model": name, "choices": [{
                                    "index": 0, "delta": {}, "finish_reason": "content_filter",
                                    "content_filter_results": {category: {"filtered": True}}}]})
                    break
            yield _sse({**{key: value for key, value in item.items() if key != "usage"}, "model": name})
        if (rest := _held_sse(scrubber, produced, chunk_id, name)) is not None:
            yield rest
        # Without upstream usage, the prompt estimate alone keeps a completed stream's cost above zero.
        used = record()
        priced = prepared.bill(used)
        charged = await attempt.settle(priced.micros, attempt.measurement("ok", used.completion_tokens),
                                       tokens=used.pair(),
                                       response="".join(produced), cost_details=priced.details)
        if prepared.usage_chunk:
            yield _sse({
                "id": chunk_id, "object": "chat.completion.chunk", "created": int(time.time()), "model": name,
                "choices": [], "usage": usage_body(used, priced, charged),
            })
        yield b"data: [DONE]\n\n"
    except UpstreamFailure as failure:
        if (rest := _held_sse(scrubber, produced, chunk_id, name)) is not None:  # all that came before it
            yield rest
        # Never retried after the first byte: bill what was generated; the rest of the hold goes back.
        await attempt.settle(cost_so_far(), attempt.measurement(outcome_of(failure), record().completion_tokens),
                             tokens=record().pair() if any(produced) else (0, 0), response="".join(produced))
        error = failure_to_error(scrub(failure, credentials), prepared.provider.name)
        get_logger().warning("stream failed", extra={"endpoint": name, "kind": failure.kind})
        yield _sse({"error": {"message": error.message, "type": error.openai_type, "code": error.code,
                              "param": None}})
    finally:
        # Client disconnects and unexpected errors land here with the settlement still open (a client
        # going away says nothing about the endpoint, so nothing is measured). Closing the upstream
        # generator cancels the upstream request, so nothing more is generated unbilled.
        with anyio.CancelScope(shield=True):
            await _close(upstream)
        await attempt.settle(cost_so_far(), None, outcome="client_disconnected",
                             tokens=record().pair() if any(produced) else (0, 0), response="".join(produced))
