"""The OpenAPI document of the public routes, generated from the route functions' FastAPI apps.

`python -m unigate_tools.openapi > docs/openapi.json` (or `make openapi`); tests/unit/test_openapi.py
fails when the checked-in document drifts from the code.
"""

from __future__ import annotations

import json
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from unigate import __version__
from unigate.dialects.anthropic_messages import CountTokensRequest, MessagesRequest
from unigate.dialects.completions import CompletionRequest
from unigate.dialects.openai_responses import InputTokensRequest, ResponsesRequest
from unigate.domain.request_models import (
    ChatCompletionRequest,
    EmbeddingRequest,
    ImageEmbeddingRequest,
    InferenceRequest,
)
from unigate_tools.invoke import load_module
from unigate_tools.template import Template


class Usage(BaseModel):
    prompt_tokens: int
    completion_tokens: int
    total_tokens: int
    cost: float = Field(description="credits charged for this request")


class Message(BaseModel):
    """Anthropic's Messages response (what an Anthropic-format endpoint answered, passed through as it came)."""

    model_config = ConfigDict(extra="allow")
    id: str
    type: str = "message"
    role: str = "assistant"
    model: str
    content: list[dict[str, Any]]
    stop_reason: str | None
    usage: dict[str, Any]


class TokenCount(BaseModel):
    input_tokens: int


class ChatCompletion(BaseModel):
    model_config = ConfigDict(extra="allow")
    id: str
    object: str = "chat.completion"
    created: int
    model: str = Field(description="the endpoint that answered")
    choices: list[dict[str, Any]]
    usage: Usage


class TextCompletion(ChatCompletion):
    object: str = "text_completion"


ERRORS = {
    "400": "Malformed body, parameter or model string, or a forbidden field",
    "401": "Unknown, revoked, expired or malformed API key",
    "402": "The balance cannot cover the worst-case cost of the request",
    "403": "No credentials, or the key may not use this model",
    "404": "Unknown model, provider or endpoint; no provider within the thresholds",
    "413": "Request body too large",
    "429": "Rate limited by the provider (Retry-After passed on)",
    "502": "The provider failed",
    "503": "No healthy provider, or the gateway's store or credentials are unavailable",
    "504": "The provider did not answer in time",
}
ERROR_SCHEMAS = {
    "ErrorBody": {"type": "object", "required": ["error"], "properties": {"error": {"type": "string"}}},
    "DetailBody": {"type": "object", "required": ["detail"], "properties": {"detail": {}}},
    "OpenAIErrorBody": {"type": "object", "required": ["error"], "properties": {"error": {
        "type": "object", "required": ["message", "type"],
        "properties": {"message": {"type": "string"}, "type": {"type": "string"},
                       "param": {"type": ["string", "null"]}, "code": {"type": ["string", "null"]}}}}},
    "AzureErrorBody": {"type": "object", "required": ["error"], "properties": {"error": {
        "type": "object", "required": ["code", "message"],
        "properties": {"code": {"type": "string"}, "message": {"type": "string"}, "param": {"type": "string"},
                       "innererror": {"type": "object"}}}}},
    "AnthropicErrorBody": {"type": "object", "required": ["type", "error"], "properties": {
        "type": {"const": "error"}, "error": {"type": "object", "required": ["type", "message"], "properties": {
            "type": {"type": "string"}, "message": {"type": "string"}}}}},
}
AZURE = "/openai/deployments/{deployment}"


def _describe_errors(path: str, operation: dict[str, Any]) -> None:
    """The contract's error statuses, in the shape of the surface (v0: Unify's, v1: OpenAI's, /v1/messages:
    Anthropic's, /openai: Azure's envelope)."""
    azure, v1 = path.startswith("/openai/"), path.startswith("/v1/")
    shape = "AzureErrorBody" if azure else "OpenAIErrorBody" if v1 else "ErrorBody"
    schema: dict[str, Any] = {"oneOf": [{"$ref": f"#/components/schemas/{shape}"},
                                        {"$ref": "#/components/schemas/DetailBody"}]}
    if path.startswith("/v1/messages"):
        schema = {"$ref": "#/components/schemas/AnthropicErrorBody"}
    elif path.startswith("/v1/models"):  # Anthropic's envelope when the request carries anthropic-version
        schema = {"oneOf": [{"$ref": "#/components/schemas/OpenAIErrorBody"},
                            {"$ref": "#/components/schemas/AnthropicErrorBody"}]}
    for status, description in ERRORS.items():
        operation["responses"].setdefault(status, {"description": description,
                                                   "content": {"application/json": {"schema": schema}}})


# The paid routes read their bodies themselves (unigate.domain.request_rules refuses what a JSON parser accepts) and
# validate them with these models, which document them here.
REQUEST_MODELS: dict[str, type[BaseModel]] = {
    "/v0/chat/completions": ChatCompletionRequest, "/v1/chat/completions": ChatCompletionRequest,
    "/v0/embeddings": EmbeddingRequest, "/v1/embeddings": EmbeddingRequest,
    "/v0/images/embeddings": ImageEmbeddingRequest, "/v0/inference": InferenceRequest,
    "/v1/responses": ResponsesRequest, "/v1/responses/input_tokens": InputTokensRequest,
    "/openai/responses": ResponsesRequest,
    "/v0/completions": CompletionRequest, "/v1/completions": CompletionRequest,
    f"{AZURE}/chat/completions": ChatCompletionRequest, f"{AZURE}/embeddings": EmbeddingRequest,
    f"{AZURE}/completions": CompletionRequest,
    "/v1/messages": MessagesRequest, "/v1/messages/count_tokens": CountTokensRequest,
}


def _schema(model: type[BaseModel], schemas: dict[str, Any], *, azure: bool = False) -> dict[str, str]:
    found = model.model_json_schema(ref_template="#/components/schemas/{model}")
    schemas.update(found.pop("$defs", {}))
    name = model.__name__
    if azure:  # the deployment in the path is the model
        name = f"Azure{name}"
        found = {**found, "title": name, "required": [f for f in found.get("required", []) if f != "model"]}
    schemas[name] = found
    return {"$ref": f"#/components/schemas/{name}"}


def _streamed(description: str, model: type[BaseModel], event: str, schemas: dict[str, Any]) -> dict[str, Any]:
    return {
        "description": description,
        "content": {"application/json": {"schema": _schema(model, schemas)},
                    # Before OpenAPI 3.2 an event stream's schema describes each event.
                    "text/event-stream": {"schema": {"type": "object", "required": ["data"], "properties": {
                        "event": {"type": "string"},
                        "data": {"type": "string", "description": f"a {event} as JSON, or [DONE]"},
                    }}}}}


def _describe_body(path: str, operation: dict[str, Any], schemas: dict[str, Any]) -> None:
    model = REQUEST_MODELS.get(path)
    if model is None:
        return
    schema: dict[str, Any] = _schema(model, schemas, azure=path.startswith(AZURE))
    if path in ("/v0/chat/completions", "/v1/chat/completions"):  # a JSON array body holds whole fallback requests
        schema = {"oneOf": [schema, {"type": "array", "items": schema, "minItems": 1, "maxItems": 8}]}
    operation["requestBody"] = {"required": True, "content": {"application/json": {"schema": schema}}}
    if path == "/v1/messages":
        operation["responses"]["200"] = {
            "description": "A message, or with stream: true Anthropic's server-sent events (message_start, "
                           "content_block_start / _delta / _stop per block, message_delta, message_stop; ping; "
                           "error).",
            "content": {"application/json": {"schema": _schema(Message, schemas)},
                        "text/event-stream": {"schema": {"type": "object", "required": ["event", "data"],
                                                         "properties": {"event": {"type": "string"},
                                                                        "data": {"type": "string"}}}}}}
    if path == "/v1/messages/count_tokens":
        operation["responses"]["200"] = {"description": "The prompt's input tokens (nothing is charged).",
                                         "content": {"application/json": {"schema": _schema(TokenCount, schemas)}}}
    if path.endswith("/chat/completions"):
        operation["responses"]["200"] = _streamed(
            "A chat.completion, or with stream: true server-sent events of chat.completion.chunk ending with a "
            "usage chunk and [DONE].", ChatCompletion, "chat.completion.chunk", schemas)
    elif path.endswith("/completions"):
        operation["responses"]["200"] = _streamed(
            "A text_completion, or with stream: true server-sent events of text_completion chunks ending with "
            "[DONE] (a usage chunk first with stream_options.include_usage).", TextCompletion, "text_completion",
            schemas)
    if path in ("/v1/responses", "/openai/responses"):
        operation["responses"]["200"] = {
            "description": "A response, or with stream: true server-sent events of the Responses stream "
                           "(response.created ... and one of response.completed, .incomplete, .failed).",
            "content": {"application/json": {"schema": {"type": "object", "required": ["id", "object", "output"]}},
                        "text/event-stream": {"schema": {"type": "object", "required": ["event", "data"],
                                                         "properties": {
                            "event": {"type": "string", "description": "the event's type"},
                            "data": {"type": "string", "description": "the event as JSON, with its sequence_number"},
                        }}}}}


def document(template: Template | None = None) -> dict[str, Any]:
    from fastapi import FastAPI
    from fastapi.openapi.utils import get_openapi

    template = template or Template()
    routed = {(r.method, r.path) for r in template.routes()}
    paths: dict[str, Any] = {}
    schemas: dict[str, Any] = {}
    for spec in template.functions().values():
        app = getattr(load_module(spec), "app", None)
        if not isinstance(app, FastAPI):
            continue  # the authorizer and scheduled functions have no routes
        part = get_openapi(title="unigate", version=__version__, routes=app.routes)
        documented = False
        for path, methods in part.get("paths", {}).items():
            for method, operation in methods.items():
                if (method.upper(), path) in routed:
                    operation["security"] = [{"unigateKey": []}]
                    _describe_body(path, operation, schemas)
                    _describe_errors(path, operation)
                    paths.setdefault(path, {})[method] = operation
                    documented = True
        if documented:  # the admin API's bodies are not part of the public document
            schemas.update(part.get("components", {}).get("schemas", {}))
    schemas.update(ERROR_SCHEMAS)
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "unigate",
            "version": __version__,
            "description": "A self-hosted universal LLM endpoint: one key and one credit balance for any model at "
                           "any provider. /v1 is OpenAI-compatible; errors there use OpenAI's envelope. "
                           "/v1/messages is Anthropic's Messages API, with Anthropic's envelope.",
        },
        "servers": [{"url": "http://127.0.0.1:3000", "description": "make dev"},
                    {"url": "https://{api}.execute-api.{region}.amazonaws.com/api", "description": "deployed",
                     "variables": {"api": {"default": "abcdef1234"}, "region": {"default": "us-east-1"}}}],
        "paths": dict(sorted(paths.items())),
        "components": {
            "schemas": dict(sorted(schemas.items())),
            "securitySchemes": {"unigateKey": {
                "type": "http", "scheme": "bearer",
                "description": "A unigate API key (ug_...). The key may also come in x-api-key (Anthropic's SDKs) "
                               "or api-key (Azure's SDKs)."}},
        },
    }


def main() -> None:
    print(json.dumps(document(), indent=2, sort_keys=False))


if __name__ == "__main__":
    main()
