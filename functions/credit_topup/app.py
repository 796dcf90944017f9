"""Scheduled top-up runs (EventBridge Scheduler) and one-off top-ups: each applied exactly once."""

from typing import Any

from unigate import topups
from unigate.observability import get_logger

logger = get_logger()


@logger.inject_lambda_context(clear_state=True)
def lambda_handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    result = topups.handle(event)
    logger.info("top-ups done", extra={"result": {k: v for k, v in result.items() if k != "plans"}})
    return result
