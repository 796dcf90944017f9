"""The request context the route functions read: API Gateway's, from Mangum's event or the Lambda Web
Adapter's header, parsed once per request and never shared between requests."""

import json

import pytest
from fastapi import FastAPI

from unigate.web import app as web_app
from unigate.web import caller as web


def _scope(context: object) -> dict[str, object]:
    raw = context if isinstance(context, bytes) else json.dumps(context).encode()
    return {"type": "http", "headers": [(b"host", b"x"), (web.LWA_CONTEXT_HEADER.encode(), raw)]}


def test_each_request_reads_its_own_context() -> None:
    first, second = _scope({"requestId": "r-1"}), _scope({"requestId": "r-2"})
    assert web._request_id(first) == "r-1"
    assert web._request_id(second) == "r-2"


@pytest.mark.parametrize("raw", [b"not json", b"[1, 2]"])
def test_a_malformed_header_is_no_context(raw: bytes) -> None:
    assert web._request_context(_scope(raw)) == {}


def test_mangum_event_context_comes_first() -> None:
    scope = {**_scope({"requestId": "from-header"}), "aws.event": {"requestContext": {"requestId": "from-event"}}}
    assert web._request_id(scope) == "from-event"


def _app() -> FastAPI:
    from typing import Annotated

    from fastapi import Body, Request
    from fastapi.responses import JSONResponse, Response
    from pydantic import BaseModel, ConfigDict

    from unigate.domain.errors import BadRequest

    class Limits(BaseModel):
        model_config = ConfigDict(strict=True)
        rpm: int | None = None

    app = web_app.create_app("test")

    @app.post("/v0/echo")
    @app.post("/v1/echo")
    async def echo(request: Request) -> Response:
        body = await request.json()
        if body.get("fail"):
            raise BadRequest("Refused.", param="fail")
        return JSONResponse(body)

    @app.put("/admin/limits")
    async def limits(body: Annotated[Limits, Body()]) -> dict[str, int | None]:
        return {"rpm": body.rpm}

    @app.get("/v0/page")
    async def page(limit: int = 10) -> dict[str, int]:
        return {"limit": limit}

    return app


def test_domain_errors_answer_in_each_surfaces_envelope() -> None:
    from fastapi.testclient import TestClient

    client = TestClient(_app())
    assert client.post("/v0/echo", json={"a": 1}).json() == {"a": 1}
    refused = client.post("/v1/echo", json={"fail": True})
    assert (refused.status_code, refused.json()) == (400, {"error": {
        "message": "Refused.", "type": "invalid_request_error", "param": "fail", "code": None}})
    assert client.post("/v0/echo", json={"fail": True}).json() == {"error": "Refused."}
    assert client.post("/v0/echo", json={"a": 1}).headers["x-request-id"]


def test_a_declared_body_that_does_not_validate_is_a_400_naming_its_field() -> None:
    from fastapi.testclient import TestClient

    client = TestClient(_app())
    assert client.put("/admin/limits", json={"rpm": 10}).json() == {"rpm": 10}
    refused = client.put("/admin/limits", json={"rpm": "10"})
    assert (refused.status_code, refused.json()) == (400, {"error": "Invalid 'rpm': Input should be a valid integer."})
    # Query parameters keep FastAPI's own answer on /v0.
    assert client.get("/v0/page?limit=x").status_code == 422


def test_authorizer_refusals_and_domain_errors_in_every_surfaces_envelope() -> None:
    from fastapi.testclient import TestClient

    from unigate.web.caller import CallerDep

    app = web_app.create_app("surfaces")

    @app.get("/{path:path}")
    async def anything(caller: CallerDep) -> dict[str, str]:
        return {"account": caller.account_id}

    def context(error: str | None) -> dict[str, str]:
        authorizer = {"error": error} if error else {}
        return {"x-amzn-request-context": json.dumps({"authorizer": authorizer})}

    client = TestClient(app)
    cases = {
        ("/v0/credits", "invalid_api_key"): (401, {"error": "Invalid API key"}),
        ("/v0/credits", "not_authenticated"): (403, {"detail": "Not authenticated"}),
        ("/v1/models", "invalid_api_key"): (401, {"error": {
            "message": "Invalid API key", "type": "authentication_error", "param": None, "code": "invalid_api_key"}}),
        ("/v1/messages", "invalid_api_key"): (401, {"type": "error", "error": {"type": "authentication_error",
                                                                               "message": "Invalid API key"}}),
        ("/openai/deployments/d/chat/completions", "invalid_api_key"): (401, {"error": {
            "code": "invalid_api_key", "message": "Invalid API key"}}),
    }
    for (path, error), (status, body) in cases.items():
        response = client.get(path, headers=context(error))
        assert (response.status_code, response.json()) == (status, body), path
    for path, status, kind in (("/v1/messages", 401, "authentication_error"), ("/v1/models", 403,
                                                                               "authentication_error")):
        response = client.get(path, headers=context("not_authenticated"))
        assert response.status_code == status
        assert kind in json.dumps(response.json())
    azure = client.get("/openai/deployments/d/chat/completions", headers=context("not_authenticated"))
    assert (azure.status_code, azure.json()["error"]["code"]) == (401, "401")
    unavailable = client.get("/v1/messages", headers=context("unavailable"))
    assert (unavailable.status_code, unavailable.json()["error"]["type"]) == (503, "overloaded_error")
    anthropic_models = client.get("/v1/models",
                                  headers={**context("invalid_api_key"), "anthropic-version": "2023-06-01"})
    assert anthropic_models.json()["type"] == "error"
