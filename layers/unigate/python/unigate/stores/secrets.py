"""Provider keys from Secrets Manager, through Powertools parameters with a per-process cache (its provider
over the process's one Secrets Manager client, unigate.infra.aws).

A secret is either the bare key or JSON with an "api_key" field (and, for Azure, optional fields such
as "base_url" that the operator keeps out of the catalog). Values are never logged or returned to
callers. If Secrets Manager fails while a cached value exists, the cached value keeps serving.
"""

from __future__ import annotations

import json
import time
from typing import Any

from unigate.domain.errors import CredentialsUnavailable
from unigate.infra import aws
from unigate.infra.config import get_settings

_last_good: dict[str, tuple[float, dict[str, Any]]] = {}
# The Powertools provider (its cache) of the client it was made over; a new client (aws.reset) gets a new one.
_provider: list[Any] = []


def _secrets_provider() -> Any:
    from aws_lambda_powertools.utilities.parameters import SecretsProvider

    client = aws.client("secretsmanager")
    if not _provider or _provider[0].client is not client:
        _provider[:] = [SecretsProvider(boto3_client=client)]
    return _provider[0]


def provider_credentials(secret_name: str) -> dict[str, Any]:
    from aws_lambda_powertools.utilities.parameters.exceptions import GetParameterError

    settings = get_settings()
    full_name = settings.provider_secret_prefix + secret_name
    try:
        raw = _secrets_provider().get(full_name, max_age=settings.secret_cache_seconds)
    except GetParameterError:
        cached = _last_good.get(full_name)
        if cached is not None:
            return cached[1]
        raise CredentialsUnavailable(
            f"The provider's credentials ({secret_name}) are not available; ask the operator to configure them."
        ) from None
    text = raw.decode() if isinstance(raw, bytes) else str(raw)
    try:
        parsed = json.loads(text)
        value: dict[str, Any] = parsed if isinstance(parsed, dict) else {"api_key": text}
    except ValueError:
        value = {"api_key": text.strip()}
    _last_good[full_name] = (time.time(), value)
    return value
