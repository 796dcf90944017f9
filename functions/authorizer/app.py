"""API-key authorizer: a plain handler (no web framework, no logger on the success path), because it
sits on every request's path and its cold start is every first request's latency."""

import gc
from typing import Any

from unigate.accounts.authorizer import authorize

# What is imported lives as long as the process: frozen, the first request's collections skip it.
gc.freeze()


def lambda_handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    return authorize(event)
