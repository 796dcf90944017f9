"""Counting and timing every AWS API call of this process (for `make bench`).

Through botocore's event hooks on the process's session (unigate.infra.aws), which every client made from it
afterwards inherits: a call starts at `provide-client-params`, the first event of an API call (so its
parameter validation, serialisation and signing count as the call's), and ends at `after-call` (an
answer, error answers included) or `after-call-error` (no answer: a broken connection after botocore's
retries). Enabled in the local server by UNIGATE_DEV_TIMING=1, which also serves the totals at
GET /_unigate/aws-calls (and resets them with DELETE).

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


_STARTED = "unigate_timing_started"


def install() -> None:
    """Times every call of the clients made from now on (clients already made are dropped, to be remade)."""
    from unigate.infra import aws

    events = aws.session().events
    events.register("provide-client-params", _started, unique_id=_STARTED)
    events.register("after-call", _ended, unique_id="unigate_timing_ended")
    events.register("after-call-error", _ended, unique_id="unigate_timing_failed")
    aws.client.cache_clear()


def _started(context: dict[str, Any], **_: Any) -> None:
    context[_STARTED] = time.perf_counter()


def _ended(context: dict[str, Any], event_name: str, model: Any = None, **_: Any) -> None:
    started = context.pop(_STARTED, None)
    if started is None:
        return
    elapsed = time.perf_counter() - started
    tally = _request_tally.get()
    if tally is not None:
        tally[0] += elapsed
    if model is not None:
        name = f"{model.service_model.service_name}:{model.name}"
    else:  # after-call-error.<service id>.<operation>
        service, operation = event_name.split(".", 2)[1:]
        name = f"{service}:{operation}"
    with totals.lock:
        totals.calls[name] += 1
        totals.seconds += elapsed


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
