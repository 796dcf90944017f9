"""Scheduled: probes endpoints with a tiny prompt so routing has benchmarks before real traffic."""

import os
from typing import Any

from unigate.gateway import probe
from unigate.infra.observability import lambda_entry


@lambda_entry
def lambda_handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    return probe.run(event, os.environ.get("UNIGATE_PROBE_ENDPOINTS", ""))
