"""API-key authorizer: a plain handler (no web framework), because it sits on every request's path."""

from typing import Any

from unigate.authorizer import authorize
from unigate.observability import get_logger

logger = get_logger()


@logger.inject_lambda_context(clear_state=True)
def lambda_handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    return authorize(event)
