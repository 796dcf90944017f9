"""Reading and checking request bodies before anything is held or sent upstream.

Every refusal here is a precise 4xx: too large (413), not UTF-8, not JSON, NaN/Infinity, nested too
deeply (parse_json_body); a forbidden routing or credential field or a number out of JSON's range
(`1e400`) anywhere in the body (check_fields, which the models of unigate.domain.request_models call
first).
"""

from __future__ import annotations

import json
import math
import re
from typing import Any

from unigate.domain.errors import BadRequest, PayloadTooLarge

MAX_DEPTH = 64
# Fields that would let a caller choose where a request goes or whose credentials it uses. The upstream
# URL and keys come only from server-side configuration.
FORBIDDEN_FIELDS = frozenset({
    "api_base", "base_url", "api_key", "api_version", "api_type", "azure_endpoint", "azure_deployment",
    "azure_ad_token", "azure_ad_token_provider", "aws_access_key_id", "aws_secret_access_key",
    "aws_session_token", "aws_region_name", "aws_profile_name", "aws_role_name", "aws_web_identity_token",
    "aws_bedrock_runtime_endpoint", "vertex_credentials", "vertex_project", "vertex_location",
    "organization", "custom_llm_provider", "extra_headers", "endpoint_url", "proxy", "proxies",
    "http_client", "default_headers", "user_config",
})
# JSON Schemas that describe the caller's own data: their property names are not request fields.
_SCHEMA_PATHS = (("tools", "*", "function", "parameters"), ("response_format", "json_schema", "schema"))


def _reject_constant(name: str) -> Any:
    raise BadRequest(f"Invalid JSON: {name} is not a valid JSON number.")


def parse_json_body(raw: bytes, *, max_bytes: int) -> Any:
    if len(raw) > max_bytes:
        raise PayloadTooLarge(f"The request body is larger than {max_bytes} bytes.")
    if not raw.strip():
        raise BadRequest("The request body is empty; send a JSON object.")
    return _parse_or_refuse(raw)


def _parse_or_refuse(raw: bytes) -> Any:
    """`json`'s reading of a body, and a precise 400 for what it cannot read."""
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        raise BadRequest("The request body is not valid UTF-8.") from None
    try:
        body = json.loads(text, parse_constant=_reject_constant)
    except RecursionError:
        raise BadRequest(f"Invalid JSON: nested deeper than {MAX_DEPTH} levels.") from None
    except json.JSONDecodeError as exc:
        raise BadRequest(f"Invalid JSON: {exc.msg} at line {exc.lineno} column {exc.colno}.") from None
    return body


def _is_schema(path: tuple[str | int, ...]) -> bool:
    for pattern in _SCHEMA_PATHS:
        if len(path) >= len(pattern) and all(
                p == q or (p == "*" and isinstance(q, int)) for p, q in zip(pattern, path, strict=False)):
            return True
    return False


def check_fields(body: Any) -> None:
    """Refuses forbidden fields and non-finite numbers at any depth, and structures nested deeper than
    MAX_DEPTH (iteratively, so no input can exhaust the stack). Extra fields are forwarded as they are, so
    this covers what the request models do not type."""
    stack: list[tuple[Any, tuple[str | int, ...]]] = [(body, ())]
    while stack:
        value, path = stack.pop()
        if len(path) > MAX_DEPTH:
            raise BadRequest(f"Invalid JSON: nested deeper than {MAX_DEPTH} levels.")
        if isinstance(value, dict):
            schema = _is_schema(path)
            for key, child in value.items():
                _check_text(key, (*path, key))
                if not schema and key.lower() in FORBIDDEN_FIELDS:
                    where = field_path((*path, key))
                    raise BadRequest(
                        f"The field '{where}' is not allowed: upstream URLs and credentials come only from "
                        "the gateway's configuration.",
                        param=where,
                    )
                stack.append((child, (*path, str(key))))
        elif isinstance(value, list):
            stack.extend((child, (*path, index)) for index, child in enumerate(value))
        elif isinstance(value, float) and not math.isfinite(value):
            where = field_path(path)
            raise BadRequest(f"'{where}' is not a finite number.", param=where or None)
        elif isinstance(value, str):
            _check_text(value, path)


def _check_text(text: str, path: tuple[str | int, ...]) -> None:
    """Text must be encodable as UTF-8: a lone surrogate (JSON's "\\ud800") is refused here, as DynamoDB,
    the query log and every provider would refuse it after the hold."""
    if text.isascii():
        return
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        where = field_path(path)
        raise BadRequest(f"'{where}' holds a lone surrogate (\\ud800-\\udfff), which is not text.",
                         param=where or None) from None


def field_path(path: tuple[str | int, ...]) -> str:
    """A location in a body as OpenAI's errors name it: `messages[0].content`."""
    text = ""
    for part in path:
        text += f"[{part}]" if isinstance(part, int) else f".{part}" if text else part
    return text


FORBIDDEN_HEADER_WORDS = ("api-base", "base-url", "api_base", "base_url", "azure-endpoint", "endpoint-url",
                          "aws-access-key", "aws-secret", "aws-session-token", "aws_access_key", "aws_secret")
# One search per header name instead of a test per word: this runs on every chat request.
_FORBIDDEN_HEADER = re.compile("|".join(map(re.escape, FORBIDDEN_HEADER_WORDS)), re.IGNORECASE)


def check_headers(headers: Any) -> None:
    """Refuses headers that try to steer the upstream (e.g. `x-api-base`)."""
    for name in headers:
        if _FORBIDDEN_HEADER.search(name):
            raise BadRequest(f"The header '{name}' is not allowed: upstream URLs come only from configuration.")
