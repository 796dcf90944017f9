"""The API-key authorizer's logic: an API Gateway REQUEST authorizer event in, an IAM policy out.

A unigate key arrives in `Authorization: Bearer <key>` (OpenAI's SDKs, Unify's, Anthropic's auth token),
`x-api-key: <key>` (Anthropic's SDKs, Claude Code's ANTHROPIC_API_KEY) or `api-key: <key>` (Azure's SDKs),
the first of them present in that order. API Gateway cannot say "any one of these headers": a REST
authorizer with identity sources answers 401 itself, before calling the authorizer, when one is missing.
So the authorizer has no identity source (API Gateway calls it on every request and caches nothing), and
it answers every request with Allow:
- a good key: the caller in the context (account, key, allowed models, limits);
- no key, a bad key, or a store that cannot be read: `error` in the context (`not_authenticated`,
  `invalid_api_key`, `unavailable`), which the route function answers in its own surface's envelope and
  status (unigate.web.caller, unigate.web.errors): Anthropic's on /v1/messages, Azure's on /openai, OpenAI's
  on the rest of /v1, Unify's on /v0. A gateway response could not: it has one body per type, whatever
  the path.

Its own cache stands in for API Gateway's: per warm instance, keyed by the SHA-256 of the key (never
the key), each lookup's outcome (the caller, or that the key is invalid) is kept for
UNIGATE_AUTHORIZER_CACHE_SECONDS (the template's AuthorizerCacheTtl), so a revoked key stops working
within that time, as it did with API Gateway's cache. Malformed keys are refused without a lookup; a
failed lookup is not kept.
"""

from __future__ import annotations

import json
import time
from typing import Any

from unigate.domain.records import Caller

# Where a key may come from, in order of precedence.
KEY_HEADERS = ("authorization", "x-api-key", "api-key")
# Distinct keys kept per instance; the oldest goes first.
CACHE_ENTRIES = 4096
_cache: dict[str, tuple[float, Caller | None]] = {}


def forget() -> None:
    """Drops the cached lookups (the tests' fresh instance)."""
    _cache.clear()


def _headers(event: dict[str, Any]) -> dict[str, str]:
    return {str(k).lower(): str(v) for k, v in (event.get("headers") or {}).items() if v is not None}


def credential(headers: dict[str, str]) -> str | None:
    """The key as an Authorization header value: the first of the key headers that is not blank."""
    for name in KEY_HEADERS:
        value = headers.get(name)
        if value is not None and value.strip():
            return value if name == "authorization" else f"Bearer {value.strip()}"
    return None


def _stage_wildcard(method_arn: str) -> str:
    # arn:aws:execute-api:region:account:api-id/stage/METHOD/resource/path -> .../api-id/stage/*/*
    head, _, path = method_arn.partition("/")
    stage = path.split("/", 1)[0] if path else "*"
    return f"{head}/{stage}/*/*"


def _policy(principal: str, resource: str, context: dict[str, Any]) -> dict[str, Any]:
    return {
        "principalId": principal,
        "policyDocument": {
            "Version": "2012-10-17",
            "Statement": [{"Action": "execute-api:Invoke", "Effect": "Allow", "Resource": resource}],
        },
        "context": context,
    }


def _lookup(authorization: str) -> Caller:
    """authenticate(), through the instance's cache of outcomes."""
    from unigate.accounts.auth import authenticate
    from unigate.domain import keys
    from unigate.domain.errors import InvalidApiKey
    from unigate.infra.config import get_settings

    token = keys.bearer_token(authorization) if len(authorization) <= 512 else None
    ttl = get_settings().authorizer_cache_seconds
    if not token or not keys.is_well_formed(token) or ttl <= 0:
        return authenticate(authorization)
    digest = keys.hash_key(token)
    now = time.monotonic()
    cached = _cache.get(digest)
    if cached is not None and cached[0] > now:
        if cached[1] is None:
            raise InvalidApiKey()
        return cached[1]
    try:
        caller: Caller | None = authenticate(authorization)
    except InvalidApiKey:
        caller = None
    _cache.pop(digest, None)
    _cache[digest] = (now + ttl, caller)
    while len(_cache) > CACHE_ENTRIES:
        _cache.pop(next(iter(_cache)))
    if caller is None:
        raise InvalidApiKey()
    return caller


def authorize(event: dict[str, Any]) -> dict[str, Any]:
    from unigate.domain.errors import InvalidApiKey, NotAuthenticated

    resource = _stage_wildcard(event.get("methodArn", "*"))
    authorization = credential(_headers(event))
    try:
        if authorization is None:
            raise NotAuthenticated()
        caller = _lookup(authorization)
    except NotAuthenticated:
        return _policy("anonymous", resource, {"error": "not_authenticated"})
    except InvalidApiKey:
        from unigate.infra.observability import get_logger  # only when there is something to say

        get_logger().info("refused an invalid API key", extra={"path": event.get("path")})
        return _policy("anonymous", resource, {"error": "invalid_api_key"})
    except Exception:  # the store could not be read: the route answers 503 in its envelope
        from unigate.infra.observability import get_logger

        get_logger().exception("key lookup failed")
        return _policy("anonymous", resource, {"error": "unavailable"})
    return _policy(
        caller.key_id,
        resource,
        {
            "account_id": caller.account_id,
            "key_id": caller.key_id,
            # Context values must be scalars; the list travels as JSON.
            "allowed_models": json.dumps(list(caller.allowed_models)),
            # 0: no limit (context values cannot be null).
            "rpm": caller.rpm or 0,
            "tpm": caller.tpm or 0,
            # The key's budget in micro-credits (0: none) and its period, for the hold's reservation.
            "budget": caller.budget_micros or 0,
            "budget_period": caller.budget_period,
        },
    )
