"""Claude on Vertex AI (rawPredict and streamRawPredict): Anthropic's Messages body without `model` (the
model is in the URL) and with Vertex's `anthropic_version` in the body; betas travel in the
`anthropic-beta` header, the credential is an OAuth access token (`Authorization: Bearer`). Answers and
stream events are Anthropic's own, so the Anthropic format's translations read them.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

VERTEX_VERSION = "vertex-2023-10-16"


def to_vertex(body: dict[str, Any]) -> dict[str, Any]:
    """A Messages body (the client's, or one translated from chat) as Vertex takes it."""
    out = {key: value for key, value in body.items() if key != "model"}
    out["anthropic_version"] = VERTEX_VERSION
    return out


def predict_url(base_url: str, model: str, *, stream: bool) -> str:
    """`<base>/<model>:rawPredict` (or `:streamRawPredict`), the base being the project's and region's
    `.../publishers/anthropic/models`."""
    return f"{base_url}/{quote(model, safe='@')}:{'streamRawPredict' if stream else 'rawPredict'}"


def count_tokens_url(base_url: str) -> str:
    return f"{base_url}/count-tokens:rawPredict"


def headers(token: str, forwarded: dict[str, str]) -> dict[str, str]:
    """The bearer token, and the client's betas (the version is the body's)."""
    out = {"authorization": f"Bearer {token}"}
    if forwarded.get("anthropic-beta"):
        out["anthropic-beta"] = forwarded["anthropic-beta"]
    return out
