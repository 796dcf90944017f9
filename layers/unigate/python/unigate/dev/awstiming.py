"""Counting and timing every AWS API call of this process (for `make bench`).

Wraps the single entry point of each client: botocore's (Secrets Manager and the rest) and
unigate.dynamodb's. Enabled in the local server by UNIGATE_DEV_TIMING=1,
which also serves the totals at GET /_unigate/aws-calls (and resets them with DELETE).
"""

from __future__ import annotations

import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from typing import Any


@dataclass
class Totals:
    calls: Counter[str] = field(default_factory=Counter)
    seconds: float = 0.0
    lock: threading.Lock = field(default_factory=threading.Lock)


totals = Totals()


def install() -> None:
    from botocore.client import BaseClient

    from unigate.dynamodb import DynamoDB

    # botocore's stubs do not declare its private entry point.
    _time(BaseClient, "_make_api_call", lambda client: client.meta.service_model.service_name)
    _time(DynamoDB, "call", lambda client: "dynamodb")


def _time(client_class: Any, entry_point: str, service_of: Any) -> None:
    if getattr(client_class, "_unigate_timed", False):
        return
    original = getattr(client_class, entry_point)

    def timed(self: Any, operation_name: str, api_params: Any) -> Any:
        started = time.perf_counter()
        try:
            return original(self, operation_name, api_params)
        finally:
            elapsed = time.perf_counter() - started
            with totals.lock:
                totals.calls[f"{service_of(self)}:{operation_name}"] += 1
                totals.seconds += elapsed

    setattr(client_class, entry_point, timed)
    client_class._unigate_timed = True


def snapshot() -> dict[str, Any]:
    with totals.lock:
        return {"calls": dict(totals.calls), "seconds": totals.seconds}


def reset() -> None:
    with totals.lock:
        totals.calls.clear()
        totals.seconds = 0.0
