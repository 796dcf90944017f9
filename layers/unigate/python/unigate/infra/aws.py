"""boto3 clients (Secrets Manager, Bedrock, the CLI's table set-up), created on first use and reused for the
life of the process. DynamoDB on the request path goes through unigate.infra.dynamodb instead.

No client exists at import time: creating one costs tens of milliseconds and every cold start pays it.
The endpoint follows botocore's own configuration (AWS_ENDPOINT_URL and friends), which is how the
local server and the CLI point at the embedded emulator.
"""

from __future__ import annotations

import threading
from functools import cache
from typing import Any

# AWS error codes that mean "busy, retry later", not "broken": after botocore's own retries they are
# retried by the caller where that is safe, and otherwise answered 503.
BUSY_CODES = frozenset({
    "ThrottlingException", "ProvisionedThroughputExceededException", "RequestLimitExceeded",
    "TooManyRequestsException", "InternalServerError", "ServiceUnavailable", "TransactionInProgressException",
})


def is_busy(exc: BaseException) -> bool:
    response = getattr(exc, "response", None)
    return isinstance(response, dict) and response.get("Error", {}).get("Code") in BUSY_CODES


# A botocore session is not safe to create clients from concurrently; the clients themselves are.
_lock = threading.Lock()


@cache
def session() -> Any:
    import boto3

    # One session for every client of the process: its loader caches endpoint rules and service models,
    # which are most of what creating a client costs.
    return boto3.session.Session()


@cache
def client(service: str) -> Any:
    from botocore.config import Config

    # Standard retry mode retries throttling with backoff; transaction conflicts are retried by the
    # caller, which knows whether a retry is safe.
    config = Config(retries={"mode": "standard", "max_attempts": 3}, connect_timeout=2, read_timeout=5)
    with _lock:
        return session().client(service, config=config)


def reset() -> None:
    """Forget every client and cached secret (tests switch endpoints and credentials between cases)."""
    import sys

    from unigate.infra import dynamodb

    dynamodb.reset()
    client.cache_clear()
    session.cache_clear()
    if "aws_lambda_powertools.utilities.parameters" in sys.modules:
        from aws_lambda_powertools.utilities import parameters

        parameters.clear_caches()
        parameters.base.DEFAULT_PROVIDERS.clear()
