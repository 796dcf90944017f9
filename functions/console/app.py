"""GET / and /console/*: the web console's page and static assets (no authorizer: the page asks for the
user's key and calls the public API with it)."""

from pathlib import Path
from typing import Any

from unigate.web.console import Site

site = Site(Path(__file__).parent / "static")


def lambda_handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    return site.respond(event)
