"""Scheduled: probes endpoints with a tiny prompt so routing has benchmarks before real traffic."""

import os
from typing import Any

from unigate import probe
from unigate.observability import get_logger

logger = get_logger()


@logger.inject_lambda_context(clear_state=True)
def lambda_handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    return probe.run(event, os.environ.get("UNIGATE_PROBE_ENDPOINTS", ""))
