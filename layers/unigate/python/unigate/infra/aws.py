"""boto3 clients (DynamoDB, Secrets Manager, Bedrock, the CLI's table set-up), created on first use from one
session and reused for the life of the process, and the one list of AWS error codes that mean "busy".

No client exists at import time, and boto3 is imported by the first call that needs a client: a handler
module loads without it. The endpoint follows botocore's own configuration (AWS_ENDPOINT_URL and
friends), which is how the CLI points at the local server's embedded AWS.
"""

from __future__ import annotations

import threading
from functools import cache
from typing import Any

# Attempts per API call, the first included (botocore's total_max_attempts): in botocore's standard retry
# mode, throttling, 5xx answers and broken connections are retried with backoff by botocore itself.
MAX_ATTEMPTS = 3

# AWS error codes that mean "busy, retry later", not "broken", and the codes of a transaction's
# cancellation reasons that mean the same (botocore does not retry a cancelled transaction: the store's
# transaction loop does, unigate.stores.dynamo.transact). An error still busy after those retries is 503.
BUSY_CODES = frozenset({
    "ThrottlingException", "ProvisionedThroughputExceededException", "RequestLimitExceeded",
    "TooManyRequestsException", "InternalServerError", "ServiceUnavailable", "TransactionInProgressException",
    # CancellationReasons[].Code of a TransactionCanceledException
    "TransactionConflict", "ThrottlingError", "ProvisionedThroughputExceeded",
})


def error_code(exc: BaseException) -> str:
    response = getattr(exc, "response", None)
    return str(response.get("Error", {}).get("Code", "")) if isinstance(response, dict) else ""


def cancellation_reasons(exc: BaseException) -> list[str]:
    """One code per item of a cancelled transaction ("None" where it passed); [] for any other error."""
    response = getattr(exc, "response", None)
    reasons = response.get("CancellationReasons", []) if isinstance(response, dict) else []
    return [str(reason.get("Code", "None")) for reason in reasons]


def is_busy(exc: BaseException) -> bool:
    code = error_code(exc)
    if code == "TransactionCanceledException":
        return any(reason in BUSY_CODES for reason in cancellation_reasons(exc))
    return code in BUSY_CODES


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

    return new_client(service, Config(retries={"mode": "standard", "total_max_attempts": MAX_ATTEMPTS},
                                      connect_timeout=2, read_timeout=5))


def new_client(service: str, config: Any) -> Any:
    """A client of the process's session with a configuration of its own (Bedrock's timeouts and retries)."""
    with _lock:
        return session().client(service, config=config)


def reset() -> None:
    """Forget every client and the session (tests switch endpoints and credentials between cases)."""
    client.cache_clear()
    session.cache_clear()
