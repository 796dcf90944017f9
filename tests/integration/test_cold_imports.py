"""What loading each function's handler module imports, in a fresh interpreter, as a cold start does.

A cold start pays for every module its handler imports. `make bench` times cold starts; these tests keep
out the heavy imports the design avoids, which would otherwise come back unnoticed (a module list is
exact where a timing in a test would be flaky).
"""

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from typing import Any

import pytest

from tests.conftest import ROOT, template
from unigate_tools.invoke import module_path

PROBE = """
import importlib.util, json, sys
before = set(sys.modules)
spec = importlib.util.spec_from_file_location("function_app", sys.argv[1])
module = importlib.util.module_from_spec(spec)
spec.loader.exec_module(module)
aws = sys.modules.get("unigate.infra.aws")
print(json.dumps({"imported": sorted(set(sys.modules) - before),
                  "clients": aws.client.cache_info().currsize if aws else 0}))
"""

FUNCTIONS = template().functions()
# Plain handlers, without FastAPI: the authorizer is on every request's path, the console serves files, the
# others are scheduled.
PLAIN = {"AuthorizerFunction", "ConsoleFunction", "CreditTopupFunction", "HoldSweeperFunction"}
# The functions behind API routes: FastAPI apps.
ROUTES = {route.function for route in template().routes()} - PLAIN


def _fresh_python(code: str, *args: str) -> str:
    env = {**os.environ, "PYTHONPATH": str(ROOT / "layers/unigate/python")}
    return subprocess.run([sys.executable, "-c", code, *args], capture_output=True, text=True, env=env, cwd=ROOT,
                          check=True).stdout


def _loaded(name: str) -> dict[str, Any]:
    return dict(json.loads(_fresh_python(PROBE, str(module_path(FUNCTIONS[name])))))


def _imported_by_loading(name: str) -> set[str]:
    return set(_loaded(name)["imported"])


@pytest.mark.parametrize("name", sorted(FUNCTIONS))
def test_loading_a_handler_creates_no_aws_client_and_imports_no_emulator_or_yaml(name: str) -> None:
    """Every AWS call goes through boto3 clients of one session (unigate.infra.aws), made by the first call that
    needs each, and boto3 itself is imported then: loading a handler makes none and imports neither."""
    loaded = _loaded(name)
    imported = set(loaded["imported"])
    assert "unigate" in imported  # the probe did load the handler
    assert loaded["clients"] == 0
    assert not imported & {"boto3", "botocore", "yaml", "moto", "aws_xray_sdk"}


@pytest.mark.parametrize("name", sorted(PLAIN))
def test_a_plain_handler_imports_neither_fastapi_nor_pydantic(name: str) -> None:
    assert not _imported_by_loading(name) & {"fastapi", "starlette", "pydantic", "mangum"}


@pytest.mark.parametrize("name", sorted(ROUTES))
def test_every_endpoint_and_dependency_of_a_route_function_is_async(name: str) -> None:
    """FastAPI runs a plain `def` endpoint or dependency on a worker thread: on a cold start that is anyio's
    thread machinery imported and a thread started (about 10 ms), and on every request two thread
    switches, for no concurrency (a Lambda instance serves one request at a time)."""
    import inspect

    from fastapi.routing import APIRoute

    from unigate_tools.invoke import load_module

    def calls(dependant: Any) -> Iterator[Any]:
        yield dependant.call
        for dependency in dependant.dependencies:
            yield from calls(dependency)

    routes = [route for route in load_module(FUNCTIONS[name]).app.routes if isinstance(route, APIRoute)]
    assert routes
    for route in routes:
        plain = [call.__name__ for call in calls(route.dependant) if call and not inspect.iscoroutinefunction(call)]
        assert not plain, f"{route.path}: {plain} should be async def"
