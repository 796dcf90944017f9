import json

import pytest

from unigate.domain.errors import BadRequest, PayloadTooLarge
from unigate.domain.request_rules import check_fields, check_headers, parse_json_body


def _parse(raw: bytes, limit: int = 10_000) -> object:
    return parse_json_body(raw, max_bytes=limit)


def _checked(raw: bytes) -> object:
    """Read, then checked as the request models of unigate.domain.request_models check every body first."""
    body = _parse(raw)
    check_fields(body)
    return body


def test_a_plain_body_parses() -> None:
    assert _parse(b'{"model": "echo@echo"}') == {"model": "echo@echo"}


@pytest.mark.parametrize(
    ("raw", "fragment"),
    [
        (b"", "empty"),
        (b"{", "Invalid JSON"),
        (b'{"a": NaN}', "NaN"),
        (b'{"a": Infinity}', "Infinity"),
        (b'{"a": "\xff"}', "UTF-8"),
        (b"[" * 10_000 + b"]" * 10_000, "nested"),
        (json.dumps({"a": [[[[{"b": 1}]]]] * 1}).encode().replace(b"1", b"1" * 1), None),
    ],
)
def test_bad_bodies(raw: bytes, fragment: str | None) -> None:
    if fragment is None:
        _parse(raw)
        return
    with pytest.raises(BadRequest, match=fragment):
        _parse(raw, limit=100_000)


def test_depth_is_bounded_even_within_the_parser_limit() -> None:
    deep: object = "x"
    for _ in range(100):
        deep = {"k": deep}
    with pytest.raises(BadRequest, match="nested"):
        _checked(json.dumps(deep).encode())


def test_oversized_bodies_are_413() -> None:
    with pytest.raises(PayloadTooLarge):
        _parse(b'{"a": "' + b"x" * 200 + b'"}', limit=100)


@pytest.mark.parametrize(
    "body",
    [
        {"api_base": "http://x"},
        {"base_url": "http://x"},
        {"API_KEY": "k"},
        {"extra_body": {"azure_endpoint": "https://x"}},
        {"metadata": {"nested": [{"aws_secret_access_key": "k"}]}},
        {"messages": [{"role": "user", "content": "x", "aws_session_token": "t"}]},
    ],
)
def test_forbidden_fields_at_any_depth(body: dict) -> None:
    with pytest.raises(BadRequest, match="not allowed") as raised:
        _checked(json.dumps(body).encode())
    assert raised.value.param is not None


def test_fields_are_named_as_openai_names_them() -> None:
    with pytest.raises(BadRequest) as raised:
        check_fields([{}, {"messages": [{"role": "user", "content": "x", "api_key": "k"}]}])
    assert raised.value.param == "[1].messages[0].api_key"


@pytest.mark.parametrize(("raw", "param"), [(b'{"temperature": 1e400}', "temperature"),
                                            (b'{"metadata": {"x": [1, -1e999]}}', "metadata.x[1]")])
def test_numbers_beyond_json_range_are_refused_wherever_they_are(raw: bytes, param: str) -> None:
    with pytest.raises(BadRequest, match="finite") as raised:
        _checked(raw)
    assert raised.value.param == param


def test_tool_schemas_may_name_their_own_properties_anything() -> None:
    body = {"tools": [{"type": "function", "function": {"name": "login", "parameters": {
        "type": "object", "properties": {"api_key": {"type": "string"}, "base_url": {"type": "string"}}}}}]}
    assert _checked(json.dumps(body).encode()) == body


@pytest.mark.parametrize("header", ["x-api-base", "X-Base-URL", "openai-api-base", "azure-endpoint"])
def test_steering_headers_are_refused(header: str) -> None:
    with pytest.raises(BadRequest):
        check_headers({header: "http://x", "content-type": "application/json"})
    check_headers({"content-type": "application/json", "authorization": "Bearer x"})
