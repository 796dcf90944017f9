"""Powertools logger, created on first use. The service name and level come from the template's
POWERTOOLS_* environment variables.

A redacting filter sits on the logger as a second line of defence: code never logs keys, and if a
message ever carries something shaped like one, it is masked before it is written.
"""

from __future__ import annotations

import functools
import logging
import re
from collections.abc import Callable
from functools import lru_cache
from typing import Any

_SECRET_SHAPES = re.compile(
    r"(ug_[0-9A-Za-z]{8,}|sk-[A-Za-z0-9_\-]{8,}|sk-ant-[A-Za-z0-9_\-]{8,}|AKIA[0-9A-Z]{16}|Bearer\s+\S+)"
)


def redact(text: str) -> str:
    return _SECRET_SHAPES.sub("[REDACTED]", text)


class _RedactingFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.msg, str):
            record.msg = redact(record.msg)
        if record.args:
            record.args = tuple(redact(a) if isinstance(a, str) else a for a in record.args)
        return True


def metrics_disabled() -> bool:
    """Powertools' switch for EMF metrics, which its single_metric does not consult itself."""
    import os

    return os.environ.get("POWERTOOLS_METRICS_DISABLED", "").lower() == "true"


def count(name: str, value: float = 1, **dimensions: str) -> None:
    """One CloudWatch EMF metric in the `unigate` namespace (the alarms and dashboard read these)."""
    if metrics_disabled():
        return
    from aws_lambda_powertools.metrics import MetricUnit, single_metric

    from unigate.infra.config import get_settings

    with single_metric(name=name, unit=MetricUnit.Count, value=value,
                       namespace=get_settings().metrics_namespace) as metric:
        for key, dimension in dimensions.items():
            metric.add_dimension(name=key, value=dimension)


# The current invocation's Lambda context, for every log line (what Powertools' inject_lambda_context
# adds), kept here so that the logger itself, about 60 ms of imports, is created only when a request
# has something to log: most requests log nothing.
_invocation: dict[str, Any] = {}
_cold_start = True


def lambda_entry(handler: Callable[[Any, Any], Any]) -> Callable[[Any, Any], Any]:
    @functools.wraps(handler)
    def entry(event: Any, context: Any) -> Any:
        global _cold_start  # noqa: PLW0603 - the process's first invocation
        _invocation.clear()
        _invocation.update(
            cold_start=_cold_start, function_name=getattr(context, "function_name", None),
            function_memory_size=getattr(context, "memory_limit_in_mb", None),
            function_arn=getattr(context, "invoked_function_arn", None),
            function_request_id=getattr(context, "aws_request_id", None),
        )
        _cold_start = False
        if get_logger.cache_info().currsize:
            get_logger().structure_logs(**_invocation)  # a fresh set of keys per invocation
        return handler(event, context)

    return entry


@lru_cache(maxsize=1)
def get_logger() -> Any:
    from aws_lambda_powertools.logging import Logger

    logger = Logger(service=None, utc=True)
    logger.addFilter(_RedactingFilter())
    if _invocation:
        logger.structure_logs(**_invocation)
    return logger
