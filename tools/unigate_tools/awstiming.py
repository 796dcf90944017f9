"""Counting and timing every AWS API call of this process (for `make bench`).

Wraps the single entry point of each client: botocore's (Secrets Manager and the rest) and
unigate.infra.dynamodb's. Enabled in the local server by UNIGATE_DEV_TIMING=1,
which also serves the totals at GET /_unigate/aws-calls (and resets them with DELETE).

The local server also charges each call to the request that made it (a context variable: the request's
task, the tasks it starts and the threads it hands work to all see the same tally), and notes how much
of that came before the request's first body byte. For a stream that is the hold alone, the part of the
time to first byte spent in AWS calls; the settle comes after.
"""

from __future__ import annotations

import threading
import time
from collections import Counter
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import Any


@dataclass
class Totals:
    calls: Counter[str] = field(default_factory=Counter)
    seconds: float = 0.0
    # Per request that has sent a body byte: the seconds its AWS calls took before that byte.
    before_first_byte: list[float] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)


totals = Totals()
# The running tally of the request in whose context a call is made: a one-item list, shared by reference
# with the contexts copied from it.
_request_tally: ContextVar[list[float] | None] = ContextVar("unigate_aws_seconds_of_request", default=None)


def start_request() -> list[float]:
    """Starts charging this context's AWS calls to a new request; returns its tally."""
    tally = [0.0]
    _request_tally.set(tally)
    return tally


def first_byte_sent(tally: list[float]) -> None:
    with totals.lock:
        totals.before_first_byte.append(tally[0])


def install() -> None:
    from botocore.client import BaseClient

    from unigate.infra.dynamodb import DynamoDB

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
            tally = _request_tally.get()
            if tally is not None:
                tally[0] += elapsed
            with totals.lock:
                totals.calls[f"{service_of(self)}:{operation_name}"] += 1
                totals.seconds += elapsed

    setattr(client_class, entry_point, timed)
    client_class._unigate_timed = True


def snapshot() -> dict[str, Any]:
    with totals.lock:
        return {"calls": dict(totals.calls), "seconds": totals.seconds,
                "before_first_byte": {"requests": len(totals.before_first_byte),
                                      "seconds": sum(totals.before_first_byte)}}


def reset() -> None:
    with totals.lock:
        totals.calls.clear()
        totals.seconds = 0.0
        totals.before_first_byte.clear()
