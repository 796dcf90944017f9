"""The Azure OpenAI deployment surface (service): `/openai/deployments/{deployment}/...?api-version=...`, as
`openai.AzureOpenAI` calls it, onto the same pipeline as the OpenAI surface.

The deployment in the path is the request's `model` (whatever the body says, as Azure does): a unigate
deployment, matched in any case, whose content filter and rate limits apply as on every surface, or any other
model string. Errors are answered in Azure's envelope (unigate.web.errors).
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any

from unigate.domain.errors import BadRequest, NotFound
from unigate.domain.records import Caller
from unigate.gateway import chat, completions, embeddings

if TYPE_CHECKING:
    from unigate.gateway.responses import _Run

# Azure's api-version: a date, with -preview for preview versions. Any such version is accepted: the request
# and response shapes unigate serves are the ones every GA version shares.
API_VERSION = re.compile(r"^\d{4}-\d{2}-\d{2}(-preview)?$")
DEPLOYMENT_NOT_FOUND = ("The API deployment for this resource does not exist. If you created the deployment "
                        "within the last 5 minutes, please wait a moment and try again.")


def check_api_version(api_version: str | None) -> None:
    if not api_version:
        raise BadRequest("The api-version query parameter (?api-version=) is required for all requests.",
                         param="api-version", code="MissingApiVersionParameter")
    if not API_VERSION.match(api_version):
        raise BadRequest(f"Unsupported api-version {api_version[:40]!r}: it is a date such as 2024-10-21, or a "
                         "preview such as 2025-01-01-preview.", param="api-version", code="InvalidApiVersionParameter")


def check_deployment(deployment: str) -> None:
    """A name without `@` must be a unigate deployment (matched in any case); a model string is served as it is."""
    if "@" not in deployment:
        from unigate.catalog import deployments

        if deployments.find(deployment) is None:
            raise NotFound(DEPLOYMENT_NOT_FOUND, param="deployment", code="DeploymentNotFound")


def bind(deployment: str, api_version: str | None, body: Any) -> dict[str, Any]:
    """The body with the path's deployment as its model, once the api-version and the deployment are known."""
    check_api_version(api_version)
    check_deployment(deployment)
    if not isinstance(body, dict):
        raise BadRequest("The request body must be a JSON object.")
    return {**body, "model": deployment}


def prepare_chat(deployment: str, api_version: str | None, body: Any, caller: Caller, *,
                 extra_parameters: str | None = None) -> list[chat.Prepared]:
    return chat.prepare(bind(deployment, api_version, body), caller, extra_parameters=extra_parameters)


def prepare_embeddings(deployment: str, api_version: str | None, body: Any, caller: Caller, *,
                       extra_parameters: str | None = None) -> list[embeddings.EmbeddingRequest]:
    return embeddings.prepare(bind(deployment, api_version, body), caller, extra_parameters=extra_parameters)


def prepare_completions(deployment: str, api_version: str | None, body: Any, caller: Caller, *,
                        extra_parameters: str | None = None) -> list[completions.Completion]:
    return completions.prepare(bind(deployment, api_version, body), caller, extra_parameters=extra_parameters)


def prepare_responses(api_version: str | None, body: Any, caller: Caller) -> _Run:
    """`POST /openai/responses`, as `AzureOpenAI(...).responses.create` sends it: the Responses API is per
    resource, so the deployment is the body's `model`; the rest is the /v1/responses route's."""
    check_api_version(api_version)
    if isinstance(body, dict) and isinstance(body.get("model"), str):
        check_deployment(body["model"])
    from unigate.gateway import responses  # imported by the Responses function only

    return responses.prepare(body, caller)
