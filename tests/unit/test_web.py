"""The request context the route functions read: API Gateway's, from Mangum's event or the Lambda Web
Adapter's header, parsed once per request and never shared between requests."""

import json
import sys

import pytest
from fastapi import FastAPI

from unigate.web import app as web


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


def test_fastapi_still_refuses_pydantic_v1_models_once_they_exist() -> None:
    """unigate.web answers FastAPI's pydantic.v1 checks from sys.modules; a real v1 model is still refused."""
    import warnings

    from fastapi.encoders import jsonable_encoder

    app = web.create_app("v1 check")  # installs the checks
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        from pydantic import v1

    class Legacy(v1.BaseModel):
        n: int

    # Routes are built when first used (web.LazyRoute); reading any of a route's models builds it.
    app.add_api_route("/legacy", lambda: None, response_model=Legacy)
    legacy = app.router.routes[-1]
    for _ in range(2):  # a declaration error stands for every use, as it would have at import
        with pytest.raises(Exception, match=r"pydantic\.v1"):
            _ = legacy.response_field
    with pytest.raises(Exception, match=r"pydantic\.v1"):
        jsonable_encoder(Legacy(n=1))
    app.add_api_route("/fine", lambda: None, response_model=dict[str, int])  # v2 and plain types still build
    assert app.router.routes[-1].response_field is not None


def _request_route_app() -> FastAPI:
    from fastapi import Request
    from fastapi.responses import JSONResponse, Response

    from unigate.domain.errors import BadRequest

    app = web.create_app("request route")

    @web.post_with_request(app, "/v0/echo", "/v1/echo")
    async def echo(request: Request) -> Response:
        body = await request.json()
        if body.get("fail"):
            raise BadRequest("Refused.")
        return JSONResponse(body)

    return app


def test_a_request_route_runs_its_endpoint_without_fastapi_solving_its_parameters(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import fastapi.routing
    from fastapi.testclient import TestClient

    def solving(*_: object, **__: object) -> None:
        raise AssertionError("FastAPI solved the parameters of a RequestRoute's endpoint")

    monkeypatch.setattr(fastapi.routing, "solve_dependencies", solving)
    client = TestClient(_request_route_app())

    assert client.post("/v0/echo", json={"a": 1}).json() == {"a": 1}
    # Domain errors still go through the app's one mapping to HTTP, in each surface's shape.
    refused = client.post("/v1/echo", json={"fail": True})
    assert refused.status_code == 400
    assert refused.json()["error"]["message"] == "Refused."
    assert client.post("/v0/echo", json={"fail": True}).json() == {"error": "Refused."}


async def _two_parameters(request: object, caller: object) -> None: ...


def _not_async(request: object) -> None: ...


@pytest.mark.parametrize("endpoint", [_two_parameters, _not_async])
def test_a_request_route_refuses_an_endpoint_fastapi_would_have_to_solve(endpoint: object) -> None:
    app = web.create_app("request route")
    with pytest.raises(TypeError, match="must be `async def \\(request: Request\\)`"):
        web.post_with_request(app, "/x")(endpoint)  # type: ignore[arg-type]


def _items_app(route_class: type | None = None) -> FastAPI:
    from typing import Annotated, Any

    from fastapi import Body

    app = web.create_app("items")
    if route_class is not None:
        app.router.route_class = route_class

    @app.get("/items/{item_id}")
    async def item(item_id: int, limit: int = 10) -> dict[str, int]:
        """One item."""
        return {"item_id": item_id, "limit": limit}

    @app.post("/items", status_code=201)
    async def create(fields: Annotated[dict[str, Any], Body()]) -> dict[str, Any]:
        return fields

    return app


def _built(app: FastAPI) -> dict[str, bool]:
    return {route.path: "dependant" in vars(route) for route in app.router.routes if isinstance(route, web.LazyRoute)}


def test_a_route_is_built_on_its_first_request_only() -> None:
    from fastapi.testclient import TestClient

    app = _items_app()
    assert _built(app) == {"/items/{item_id}": False, "/items": False}
    assert TestClient(app).get("/items/3?limit=2").json() == {"item_id": 3, "limit": 2}
    assert _built(app) == {"/items/{item_id}": True, "/items": False}


def test_lazy_routes_answer_and_describe_themselves_as_fastapi_routes_do() -> None:
    from fastapi.routing import APIRoute
    from fastapi.testclient import TestClient

    lazy, eager = _items_app(), _items_app(APIRoute)
    assert _built(eager) == {}
    requests = [("GET", "/items/3", None), ("GET", "/items/three", None), ("HEAD", "/items/3", None),
                ("POST", "/items", {"a": [1]}), ("POST", "/items", None), ("DELETE", "/items", None),
                ("GET", "/nothing", None)]
    for method, path, body in requests:
        answers = [TestClient(app).request(method, path, json=body) for app in (lazy, eager)]
        assert answers[0].status_code == answers[1].status_code, (method, path)
        assert answers[0].content == answers[1].content, (method, path)
    assert lazy.openapi() == eager.openapi()


def test_concurrent_first_uses_wait_for_one_build() -> None:
    """The local server runs requests on several threads; none may find a route half built."""
    import threading
    from concurrent.futures import ThreadPoolExecutor

    route = next(route for route in _items_app().router.routes if isinstance(route, web.LazyRoute))
    threads = 8
    start = threading.Barrier(threads)

    def first_use(_: int) -> object:
        start.wait()
        return route.app

    interval = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)  # switch threads as often as possible, mid-build included
    try:
        with ThreadPoolExecutor(threads) as pool:
            apps = list(pool.map(first_use, range(threads)))
    finally:
        sys.setswitchinterval(interval)
    assert len({id(app) for app in apps}) == 1


def test_a_built_route_notes_its_endpoint_as_fastapi_would_without_reading_its_source() -> None:
    import fastapi.routing

    app = _items_app()
    route = next(route for route in app.router.routes if isinstance(route, web.LazyRoute))
    endpoint = route.endpoint
    assert id(endpoint) not in fastapi.routing._endpoint_context_cache
    _ = route.app  # built
    noted = fastapi.routing._endpoint_context_cache.pop(id(endpoint))
    assert noted == {"file": __file__, "line": noted["line"], "function": "item"}
    assert fastapi.routing._extract_endpoint_context(endpoint) == noted  # what FastAPI notes itself


def test_a_wrapped_endpoint_is_left_for_fastapi_to_note() -> None:
    """inspect looks through a functools.wraps wrapper to the wrapped function's source; the wrapper's code
    object would name the wrong file and line."""
    import functools

    import fastapi.routing

    async def inner() -> dict[str, str]:
        return {}

    @functools.wraps(inner)
    async def wrapper() -> dict[str, str]:
        return await inner()

    app = web.create_app("wrapped")
    app.get("/wrapped")(wrapper)
    _ = app.router.routes[-1].app  # built
    assert id(wrapper) not in fastapi.routing._endpoint_context_cache
    assert fastapi.routing._extract_endpoint_context(wrapper)["line"] == inner.__code__.co_firstlineno
