"""The one place that reads configuration: UNIGATE_* environment variables, typed and validated.

Lambda functions get these from template.yaml; the local server sets them from the same template.
Settings are a frozen dataclass read with the standard library rather than pydantic-settings: the
authorizer runs on every request's path and needs no pydantic otherwise, and importing pydantic costs
it more cold-start time (about 185 ms here) than everything else it does.
"""

from __future__ import annotations

import os
import types
import typing
from collections.abc import Mapping
from dataclasses import dataclass, fields
from functools import lru_cache

PREFIX = "UNIGATE_"


@dataclass(frozen=True)
class Settings:
    keys_table: str = "unigate-keys"
    accounts_table: str = "unigate-accounts"
    ledger_table: str = "unigate-ledger"
    metrics_table: str = "unigate-metrics"
    query_log_table: str = "unigate-query-log"
    query_log_retention_days: int = 30
    # Stored responses (the Responses API's `store`), kept this long (OpenAI keeps them 30 days).
    responses_table: str = "unigate-responses"
    responses_retention_days: int = 30
    spend_table: str = "unigate-spend"

    # An operator's catalog file merged over the built-in one (self-hosted endpoints, price overrides).
    catalog_path: str | None = None
    # The accounts' own provider keys (bring your own key): <prefix><account>/<name>.
    account_secret_prefix: str = "unigate/accounts/"  # noqa: S105 - a name prefix, not a secret
    # Custom endpoints (name@custom): "public-https" (https to public addresses only) or "any" (for
    # operators whose models run on private networks; see unigate/infra/ssrf.py).
    custom_endpoint_policy: str = "public-https"
    # What a request on the caller's own provider key costs, as a percent of the endpoint's list price.
    byok_fee_percent: int = 0
    # Provider keys live in Secrets Manager under this prefix: <prefix><provider secret name>.
    provider_secret_prefix: str = "unigate/providers/"  # noqa: S105 - a name prefix, not a secret
    # Secrets are cached this long per process (Powertools parameters).
    secret_cache_seconds: int = 300
    # The most an upstream call may take; the Lambda's remaining time shortens it further.
    upstream_timeout_seconds: float = 60.0
    # The most an upstream answer may carry (after gzip/deflate decoding, counted as it is read): a whole
    # JSON answer, a whole event stream, and one event of a stream. Past them the call fails (502, or the
    # stream's error event) and only what was produced is charged.
    upstream_max_body_bytes: int = 32 * 1024 * 1024
    upstream_max_stream_bytes: int = 256 * 1024 * 1024
    upstream_max_sse_line_bytes: int = 1024 * 1024
    # An HTTP proxy every upstream call goes through (http://host:port), for functions in a VPC whose way
    # out is a proxy. Never read from HTTPS_PROXY and the like. Custom endpoints are vetted before the
    # call as without it, but then connect through the proxy by host name (the proxy resolves it): the
    # proxy should refuse private destinations itself.
    egress_proxy: str | None = None

    # Routing: retries of one endpoint on 408/429/5xx (after the first attempt), capped exponential
    # backoff with jitter, and the longest Retry-After that is honoured.
    upstream_retries: int = 1
    retry_base_seconds: float = 0.25
    retry_max_seconds: float = 2.0
    retry_after_max_seconds: float = 10.0
    # Cooldowns: this many failures in a row take an endpoint out of meta-providers and fallbacks.
    cooldown_failures: int = 5
    cooldown_seconds: float = 60.0
    # Benchmarks: the window routing ranks on, the samples an endpoint needs before its measurements
    # count, and how long a summary is cached per process.
    routing_horizon_minutes: int = 60
    routing_min_samples: int = 5
    metrics_cache_seconds: float = 5.0
    metrics_namespace: str = "unigate"

    # Deployments are cached per process this long (a change reaches every function within it).
    deployment_cache_seconds: float = 10.0

    # Requests larger than this are refused with 413 before anything else happens.
    max_body_bytes: int = 1_000_000
    # The DynamoDB requests one balance change may make, botocore's retries of throttling included, while
    # its transaction loses races with others on the same account (unigate.stores.dynamo.transact).
    transaction_attempts: int = 6
    # A hold open longer than this was left by an invocation that died; the sweeper releases it.
    stale_hold_minutes: int = 20
    # The Messages surface: where Anthropic model ids (claude-sonnet-4-5...) resolve (anthropic, or
    # aws-bedrock / vertex-anthropic to serve them from there).
    messages_claude_provider: str = "anthropic"
    # The authorizer's own cache of key lookups (seconds; 0 disables), per warm instance.
    authorizer_cache_seconds: int = 300

    def __post_init__(self) -> None:
        proxy = self.egress_proxy
        if proxy is not None and not (proxy.startswith(("http://", "https://")) and len(proxy) > len("https://")):
            raise ValueError(f"UNIGATE_EGRESS_PROXY={proxy!r} is not an http:// or https:// URL")

    @classmethod
    def from_environment(cls, environ: Mapping[str, str] = os.environ) -> Settings:
        """Reads UNIGATE_<FIELD> for every field; unset ones keep their defaults."""
        hints = typing.get_type_hints(cls)
        values: dict[str, object] = {}
        for field in fields(cls):
            name = PREFIX + field.name.upper()
            raw = environ.get(name)
            if raw is not None:
                values[field.name] = _convert(name, raw, hints[field.name])
        return cls(**values)  # type: ignore[arg-type]


def _convert(name: str, raw: str, kind: object) -> object:
    if isinstance(kind, types.UnionType) and type(None) in typing.get_args(kind):
        if raw.strip() == "":
            return None
        kind = next(k for k in typing.get_args(kind) if k is not type(None))
    try:
        if kind is bool:
            if raw.strip().lower() not in ("true", "false", "1", "0", "yes", "no"):
                raise ValueError(raw)
            return raw.strip().lower() in ("true", "1", "yes")
        if kind is int:
            return int(raw)
        if kind is float:
            return float(raw)
    except ValueError:
        raise ValueError(f"{name}={raw!r} is not a valid {getattr(kind, '__name__', kind)}") from None
    return raw


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    return Settings.from_environment()
