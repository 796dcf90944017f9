"""Scheduled: releases holds left open by an invocation that died between hold and settle."""

from typing import Any

from unigate import sweeper
from unigate.observability import get_logger

logger = get_logger()


@logger.inject_lambda_context(clear_state=True)
def lambda_handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    return sweeper.sweep()
