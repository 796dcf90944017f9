"""Scheduled: releases holds left open by an invocation that died between hold and settle."""

from typing import Any

from unigate.accounts import sweeper
from unigate.infra.observability import lambda_entry


@lambda_entry
def lambda_handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    return sweeper.sweep()
