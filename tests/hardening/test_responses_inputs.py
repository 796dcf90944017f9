"""Adversarial Responses API requests through the local server: each gets a precise 4xx in OpenAI's envelope,
with no hold, no upstream call and nothing stored."""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest

from tests.e2e.conftest import LocalServer
from tests.hardening.test_inputs import _deep, _post, before

__all__ = ["before"]

GOOD = {"model": "gpt-4o@openai", "input": "hello"}
ITEM = {"type": "message", "role": "user", "content": [{"type": "input_text", "text": "x"}]}

BODIES: list[tuple[str, Any, int, str | None]] = [
    ("api_base", {**GOOD, "api_base": "http://169.254.169.254"}, 400, "api_base"),
    ("in an input item", {**GOOD, "input": [{**ITEM, "base_url": "http://x"}]}, 400, "input[0].base_url"),
    ("in a content part", {**GOOD, "input": [{**ITEM, "content": [{"type": "input_text", "text": "x",
                                                                    "api_key": "k"}]}]}, 400,
     "input[0].content[0].api_key"),
    ("in a function call output", {**GOOD, "input": [{"type": "function_call_output", "call_id": "c",
                                                      "output": [{"type": "input_text", "text": "x",
                                                                  "azure_endpoint": "https://e"}]}]}, 400,
     "input[0].output[0].azure_endpoint"),
    ("in metadata", {**GOOD, "metadata": {"aws_secret_access_key": "x"}}, 400, "metadata.aws_secret_access_key"),
    ("malformed JSON", '{"model": "gpt-4o@openai", "input": [', 400, None),
    ("NaN", '{"model": "gpt-4o@openai", "input": "x", "temperature": NaN}', 400, None),
    ("10,000-deep nesting", '{"model": "gpt-4o@openai", "input": ' + _deep(10_000) + "}", 400, None),
    ("over the size limit", {**GOOD, "input": "x" * 1_100_000}, 413, None),
    ("3,000 items", {**GOOD, "input": [ITEM] * 3_000}, 400, "input"),
    ("input missing", {"model": "gpt-4o@openai"}, 400, "input"),
    ("input empty list", {**GOOD, "input": []}, 400, "input"),
    ("input not text or items", {**GOOD, "input": 42}, 400, "input"),
    ("item not an object", {**GOOD, "input": ["hello"]}, 400, "input[0]"),
    ("unknown item type", {**GOOD, "input": [{"type": "summon"}]}, 400, "input[0]"),
    ("unknown role", {**GOOD, "input": [{"role": "wizard", "content": "x"}]}, 400, "input[0].role"),
    ("unknown content part", {**GOOD, "input": [{**ITEM, "content": [{"type": "hologram"}]}]}, 400,
     "input[0].content[0]"),
    ("function call without call_id", {**GOOD, "input": [{"type": "function_call", "name": "f",
                                                          "arguments": "{}"}]}, 400, "input[0].call_id"),
    ("tool type not a string", {**GOOD, "tools": [{"type": {"x": 1}}]}, 400, "tools[0].type"),
    ("function tool without a name", {**GOOD, "tools": [{"type": "function"}]}, 400, "tools[0].name"),
    ("tool name too long", {**GOOD, "tools": [{"type": "function", "name": "f" * 65}]}, 400, "tools[0].name"),
    ("namespace name too long once flattened", {**GOOD, "tools": [{"type": "namespace", "name": "n" * 40,
                                                                  "description": "", "tools": [
                                                                      {"type": "function", "name": "f" * 40}]}]},
     400, "tools"),
    ("max_output_tokens zero", {**GOOD, "max_output_tokens": 0}, 400, "max_output_tokens"),
    ("max_output_tokens beyond the model's", {**GOOD, "max_output_tokens": 10_000_000}, 400,
     "max_output_tokens"),
    ("temperature too high", {**GOOD, "temperature": 9}, 400, "temperature"),
    ("store not a boolean", {**GOOD, "store": "no"}, 400, "store"),
    ("stream not a boolean", {**GOOD, "stream": 1}, 400, "stream"),
    ("json_schema without a schema", {**GOOD, "text": {"format": {"type": "json_schema", "name": "x"}}}, 400,
     "text.format"),
    ("background", {**GOOD, "background": True}, 400, "background"),
    ("unknown previous response", {**GOOD, "previous_response_id": "resp_" + "0" * 32}, 404,
     "previous_response_id"),
    ("unknown model", {**GOOD, "model": "gpt-9@openai"}, 404, None),
]


@pytest.mark.parametrize(("case", "body", "status", "param"), BODIES, ids=[c for c, *_ in BODIES])
def test_bad_responses_bodies(server: LocalServer, before: Any, case: str, body: Any, status: int,
                              param: str | None) -> None:
    content = body if isinstance(body, str | bytes) else json.dumps(body)
    response = _post(server, content, path="/v1/responses")
    assert response.status_code == status, (case, response.text[:300])
    error = response.json()["error"]
    assert set(error) == {"message", "type", "param", "code"}
    if param is not None:
        assert error["param"] == param, error


@pytest.mark.parametrize(("method", "path"), [
    ("GET", "/v1/responses/" + "x" * 3000), ("DELETE", "/v1/responses/%00"),
    ("GET", "/v1/responses/resp_%22%3Cscript%3E"),
    ("GET", "/v1/responses/resp_1/input_items?limit=0"), ("GET", "/v1/responses/resp_1/input_items?limit=lots"),
    ("GET", "/v1/responses/resp_1/input_items?order=sideways"),
])
def test_hostile_ids_and_queries(server: LocalServer, before: Any, method: str, path: str) -> None:
    response = httpx.request(method, f"{server.url}{path}", headers={"Authorization": f"Bearer {server.key}"},
                             timeout=30)
    assert response.status_code in (400, 404), response.text[:300]
    assert set(response.json()["error"]) == {"message", "type", "param", "code"}
