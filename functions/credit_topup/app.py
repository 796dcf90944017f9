"""Scheduled top-up runs (EventBridge Scheduler) and one-off top-ups: each applied exactly once."""

from typing import Any

from unigate.accounts import topups
from unigate.infra.observability import get_logger, lambda_entry


@lambda_entry
def lambda_handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    result = topups.handle(event)
    get_logger().info("top-ups done", extra={"result": {k: v for k, v in result.items() if k != "plans"}})
    return result
