"""Counting and timing every AWS API call of this process (for `make bench`).

Wraps botocore's single entry point for API calls. Enabled in the local server by UNIGATE_DEV_TIMING=1,
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

    client_class: Any = BaseClient  # botocore's stubs do not declare its private entry point
    if getattr(client_class, "_unigate_timed", False):
        return
    original = client_class._make_api_call

    def timed(self: Any, operation_name: str, api_params: Any) -> Any:
        started = time.perf_counter()
        try:
            return original(self, operation_name, api_params)
        finally:
            elapsed = time.perf_counter() - started
            with totals.lock:
                totals.calls[f"{self.meta.service_model.service_name}:{operation_name}"] += 1
                totals.seconds += elapsed

    client_class._make_api_call = timed
    client_class._unigate_timed = True


def snapshot() -> dict[str, Any]:
    with totals.lock:
        return {"calls": dict(totals.calls), "seconds": totals.seconds}


def reset() -> None:
    with totals.lock:
        totals.calls.clear()
        totals.seconds = 0.0
