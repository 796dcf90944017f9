"""The API-key authorizer's logic: an API Gateway REQUEST authorizer event in, an IAM policy out.

API Gateway maps the outcomes to the contract through the template's gateway responses:
- no Authorization header: API Gateway answers UNAUTHORIZED itself, without calling us (403,
  {"detail": "Not authenticated"}); a blank or unparsable header raises "Unauthorized" here, which
  API Gateway maps to the same response;
- a bad key: an explicit Deny, which API Gateway maps to ACCESS_DENIED (401, {"error": "Invalid API key"})
  and caches for the TTL like an Allow, so repeated bad keys cost no Lambda invocation;
- a good key: Allow on every route of the stage, so one cached result serves all routes.
"""

from __future__ import annotations

import json
from typing import Any

from unigate.accounts.auth import authenticate
from unigate.domain.errors import InvalidApiKey, NotAuthenticated


class Unauthorized(Exception):
    """Raised with exactly this message, API Gateway answers with its UNAUTHORIZED gateway response."""

    def __init__(self) -> None:
        super().__init__("Unauthorized")


def _header(event: dict[str, Any], name: str) -> str | None:
    for key, value in (event.get("headers") or {}).items():
        if key.lower() == name:
            return value
    return None


def _stage_wildcard(method_arn: str) -> str:
    # arn:aws:execute-api:region:account:api-id/stage/METHOD/resource/path -> .../api-id/stage/*/*
    head, _, path = method_arn.partition("/")
    stage = path.split("/", 1)[0] if path else "*"
    return f"{head}/{stage}/*/*"


def _policy(principal: str, effect: str, resource: str, context: dict[str, Any]) -> dict[str, Any]:
    return {
        "principalId": principal,
        "policyDocument": {
            "Version": "2012-10-17",
            "Statement": [{"Action": "execute-api:Invoke", "Effect": effect, "Resource": resource}],
        },
        "context": context,
    }


def authorize(event: dict[str, Any]) -> dict[str, Any]:
    resource = _stage_wildcard(event.get("methodArn", "*"))
    try:
        caller = authenticate(_header(event, "authorization"))
    except NotAuthenticated:
        raise Unauthorized() from None
    except InvalidApiKey:
        from unigate.infra.observability import get_logger  # only when there is something to say

        get_logger().info("denied an invalid API key", extra={"path": event.get("path")})
        return _policy("anonymous", "Deny", resource, {"reason": "invalid_api_key"})
    return _policy(
        caller.key_id,
        "Allow",
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
