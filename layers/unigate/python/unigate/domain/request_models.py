"""The request bodies of the paid routes (pydantic), which the gateway validates every body with and the
OpenAPI document describes them from.

Request models are strict (a string never passes for a number or a boolean), refuse NaN and infinities,
and allow the extra fields OpenAI allows: unknown parameters reach the drop_params / extra-parameters
rules in unigate.gateway.chat. `parse` turns a validation failure into one BadRequest naming the field the way
OpenAI does (`messages[0].content[0]`), so every surface answers it in its own envelope.
"""

from __future__ import annotations

import re
from typing import Annotated, Any, Literal, TypeVar

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)
from pydantic_core import PydanticCustomError

from unigate.domain.errors import BadRequest

MAX_MESSAGES = 2048
MAX_N = 8
MAX_STOP = 4  # as OpenAI
MAX_TOOLS = 128  # as OpenAI
MAX_LOGIT_BIAS = 1024
MAX_TAGS = 64
# A tag's length: 64 of them stay within 64 KB of the query log record, whatever their script.
MAX_TAG_CHARS = 256
MAX_EMBEDDING_INPUTS = 2048


# ----------------------------------------------------------------------------------- request models
class Strict(BaseModel):
    """A part of a request: strict types, finite numbers, extra fields kept as sent."""

    model_config = ConfigDict(strict=True, allow_inf_nan=False, extra="allow")


class Body(Strict):
    """A whole request body: the routing and credential fields no caller may send are refused at any depth
    (unigate.domain.request_rules.check_fields) before any field is read."""

    @model_validator(mode="before")
    @classmethod
    def _no_forbidden_fields(cls, data: Any) -> Any:
        from unigate.domain.request_rules import check_fields

        check_fields(data)
        return data


NonEmpty = Annotated[str, StringConstraints(min_length=1)]
Tag = Annotated[str, StringConstraints(min_length=1, max_length=MAX_TAG_CHARS)]


class TextPart(Strict):
    type: Literal["text"]
    text: str


class ImageUrl(Strict):
    url: str
    detail: Literal["auto", "low", "high"] | None = None


class ImagePart(Strict):
    type: Literal["image_url"]
    image_url: ImageUrl


class InputAudio(Strict):
    data: str
    format: str


class AudioPart(Strict):
    type: Literal["input_audio"]
    input_audio: InputAudio


class FileRef(Strict):
    file_data: str | None = None
    file_id: str | None = None
    filename: str | None = None


class FilePart(Strict):
    type: Literal["file"]
    file: FileRef


class RefusalPart(Strict):
    type: Literal["refusal"]
    refusal: str


ContentPart = Annotated[TextPart | ImagePart | AudioPart | FilePart | RefusalPart, Field(discriminator="type")]


class FunctionCall(Strict):
    name: str
    arguments: str


class ToolCall(Strict):
    id: str
    type: Literal["function"] = "function"
    function: FunctionCall


class ChatMessage(Strict):
    role: Literal["system", "developer", "user", "assistant", "tool", "function"] = Field(
        description="system, developer, user, assistant or tool")
    content: str | list[ContentPart] | None = Field(default=None, validate_default=True)
    name: str | None = None
    tool_calls: list[ToolCall] | None = None
    tool_call_id: str | None = None

    @field_validator("content")
    @classmethod
    def _needs_content(cls, content: Any, info: ValidationInfo) -> Any:
        role = info.data.get("role")
        if content is None and role in ("user", "system", "developer"):
            raise PydanticCustomError("content_required", "a {role} message needs content", {"role": role})
        return content


class FunctionDefinition(Strict):
    name: Annotated[str, StringConstraints(min_length=1, max_length=64)]
    description: str | None = None
    parameters: dict[str, Any] | None = None
    strict: bool | None = None


class Tool(Strict):
    type: Literal["function"]
    function: FunctionDefinition


class StreamOptions(Strict):
    include_usage: bool | None = None


class ResponseFormat(Strict):
    type: Literal["text", "json_object", "json_schema"]
    json_schema: dict[str, Any] | None = None


class UnifyExtras(Strict):
    """Unify's extras on every paid route: read by unigate, never forwarded."""

    tags: Annotated[list[Tag], Field(max_length=MAX_TAGS)] | None = Field(
        default=None, description="Unify extra: labels for the query log")
    drop_params: bool = Field(default=True, description="drop parameters the provider does not support")
    use_custom_keys: bool = Field(default=False, description="call the provider with your own key (custom_api_key)")
    log_query_body: bool = Field(default=False, description="keep the request body in the query log")
    log_response_body: bool = Field(default=False, description="keep the response body in the query log")


Penalty = Annotated[float, Field(ge=-2, le=2)]


class ChatCompletionRequest(UnifyExtras, Body):
    """OpenAI's chat completion request; `model` is an endpoint string. Other OpenAI parameters pass
    through where the provider supports them (see drop_params)."""

    model: str = Field(examples=["gpt-4o@openai", "llama-3.1-70b-chat@lowest-ttft",
                                 "claude-haiku-4.5@anthropic->gpt-4o-mini@openai"])
    messages: list[ChatMessage] = Field(min_length=1, max_length=MAX_MESSAGES)
    stream: bool = False
    stream_options: StreamOptions | None = None
    max_tokens: Annotated[int, Field(ge=1)] | None = None
    max_completion_tokens: Annotated[int, Field(ge=1)] | None = None
    n: Annotated[int, Field(ge=1, le=MAX_N)] | None = None
    temperature: Annotated[float, Field(ge=0, le=2)] | None = None
    top_p: Annotated[float, Field(ge=0, le=1)] | None = None
    presence_penalty: Penalty | None = None
    frequency_penalty: Penalty | None = None
    logit_bias: Annotated[dict[str, Annotated[float, Field(ge=-100, le=100)]],
                          Field(max_length=MAX_LOGIT_BIAS)] | None = None
    logprobs: bool | None = None
    top_logprobs: Annotated[int, Field(ge=0, le=20)] | None = None
    stop: str | Annotated[list[str], Field(max_length=MAX_STOP)] | None = None
    seed: int | None = None
    user: str | None = None
    tools: Annotated[list[Tool], Field(max_length=MAX_TOOLS)] | None = None
    tool_choice: Literal["none", "auto", "required"] | dict[str, Any] | None = None
    parallel_tool_calls: bool | None = None
    response_format: ResponseFormat | None = None
    reasoning_effort: Literal["none", "minimal", "low", "medium", "high", "xhigh"] | None = None


TokenArray = Annotated[list[Annotated[int, Field(ge=0)]], Field(min_length=1)]


class EmbeddingRequest(UnifyExtras, Body):
    """OpenAI's embeddings request; `model` is an endpoint string."""

    model: str = Field(examples=["text-embedding-3-small@openai"])
    input: NonEmpty | TokenArray | Annotated[list[NonEmpty | TokenArray],
                                             Field(min_length=1, max_length=MAX_EMBEDDING_INPUTS)]
    encoding_format: Literal["float", "base64"] | None = None
    dimensions: Annotated[int, Field(ge=1)] | None = None
    user: str | None = None
    input_type: Literal["text", "query", "document"] | None = Field(
        default=None, description="Azure AI's input type")


_DATA_URL = re.compile(r"data:image/(png|jpeg|jpg|gif|webp);base64,", re.IGNORECASE)


class ImageInput(Strict):
    image: str = Field(description="a base64 data URL: data:image/png;base64,...")
    text: str | None = None

    @field_validator("image")
    @classmethod
    def _data_url(cls, image: str) -> str:
        import base64
        import binascii

        if not _DATA_URL.match(image):
            raise PydanticCustomError("data_url", "the image must be a base64 data URL (data:image/png;base64,...)")
        try:
            base64.b64decode(image.partition(";base64,")[2], validate=True)
        except (binascii.Error, ValueError):
            raise PydanticCustomError("base64", "the image is not valid base64") from None
        return image


class ImageEmbeddingRequest(EmbeddingRequest):
    """Azure AI model inference's image embeddings request."""

    input: Annotated[list[ImageInput], Field(min_length=1, max_length=MAX_EMBEDDING_INPUTS)]  # type: ignore[assignment]


class InferenceRequest(Body):
    """Unify's generic route: the model's own arguments (chat's or embeddings'), for one model at one provider."""

    model: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1)]
    provider: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1)]
    # Which model the arguments must fit is known only from the catalog: unigate.gateway.inference checks them.
    arguments: Any = None


# ------------------------------------------------------------------------------------ errors
M = TypeVar("M", bound=BaseModel)


def parse(model: type[M], data: Any, *, prefix: str = "") -> M:
    """`data` as `model`, or a BadRequest naming the first field at fault (under `prefix`)."""
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise invalid(exc.errors(include_url=False), data, prefix=prefix) from None
    except BadRequest as exc:  # a domain rule that a validator called
        if prefix and exc.param:
            exc.param = join(prefix, exc.param)
        raise


def invalid(errors: Any, data: Any, *, prefix: str = "") -> BadRequest:
    """One BadRequest for pydantic's errors. Of a union's, the member that fits the input best: an error
    that is not about the type (a list too long says more than "not a string"), then the one that went
    deepest into the input."""
    described = [(_param(error, data), error) for error in errors]
    if not described:
        return BadRequest("Invalid request body.")
    (_, param), error = max(described, key=lambda d: (not str(d[1].get("type", "")).endswith("_type"), d[0][0]))
    param = join(prefix, param) if prefix else param
    message = str(error.get("msg", "invalid"))
    return BadRequest(f"Invalid '{param}': {message}." if param else f"Invalid request body: {message}.",
                      param=param or None)


def join(prefix: str, param: str) -> str:
    if not prefix or not param:
        return prefix or param
    return prefix + param if param.startswith("[") else f"{prefix}.{param}"


# Errors about a field that is not in the input.
_ABSENT = frozenset({"missing", "content_required"})


def _param(error: Any, data: Any) -> tuple[int, str]:
    """The error's location in the input as OpenAI writes it, and its depth. pydantic's `loc` also holds
    the labels of union members and the tags of discriminated unions; walking the input alongside tells
    those apart from the keys and indexes that are really in it."""
    loc = tuple(error.get("loc", ()))
    path = ""
    depth = 0
    current = data
    tag_skipped = False
    for position, part in enumerate(loc):
        if isinstance(current, list) and isinstance(part, int) and 0 <= part < len(current):
            path, depth, current, tag_skipped = f"{path}[{part}]", depth + 1, current[part], False
        elif isinstance(current, dict) and isinstance(part, str):
            if not tag_skipped and part == current.get("type") and loc[position + 1:position + 2] == (part,):
                tag_skipped = True  # a content part's tag, followed by its field of the same name
            elif part in current:
                path, depth, current, tag_skipped = join(path, part), depth + 1, current[part], False
            elif position == len(loc) - 1 and error.get("type") in _ABSENT:
                path, depth = join(path, part), depth + 1
        elif current is None and data is None:  # no input at hand (FastAPI's query and path parameters)
            path, depth = (f"{path}[{part}]" if isinstance(part, int) else join(path, str(part))), depth + 1
        # anything else is a union member's label
    return depth, path
