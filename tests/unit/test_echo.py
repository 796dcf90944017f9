"""The built-in echo provider: every chat feature, deterministically, with no network."""

from __future__ import annotations

import asyncio
import json
import math
from typing import Any

import jsonschema
import pytest

from unigate.catalog.entries import get_catalog
from unigate.providers.base import UpstreamCall, UpstreamFailure
from unigate.providers.echo.adapter import Echo, instance_of

WEATHER = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "parameters": {
            "type": "object",
            "properties": {
                "city": {"type": "string", "minLength": 2},
                "unit": {"type": "string", "enum": ["celsius", "fahrenheit"]},
                "days": {"type": "integer", "minimum": 1, "maximum": 7},
                "hourly": {"type": "boolean"},
            },
            "required": ["city", "unit", "days"],
            "additionalProperties": False,
        },
    },
}


def _call(endpoint: str = "echo@echo", **body: Any) -> UpstreamCall:
    catalog = get_catalog()
    spec = catalog.endpoints[endpoint]
    return UpstreamCall(endpoint=spec, provider=catalog.providers["echo"], body={"model": spec.upstream, **body})


def _complete(**body: Any) -> dict[str, Any]:
    return asyncio.run(Echo().complete(_call(**body)))


def _stream(**body: Any) -> list[dict[str, Any]]:
    async def collect() -> list[dict[str, Any]]:
        return [c async for c in Echo().stream(_call(**body))]

    return asyncio.run(collect())


def _user(text: str) -> list[dict[str, Any]]:
    return [{"role": "user", "content": text}]


def test_n_choices_each_with_the_echo_and_usage_for_all() -> None:
    answer = _complete(messages=_user("one two three"), n=3)
    assert [c["index"] for c in answer["choices"]] == [0, 1, 2]
    assert {c["message"]["content"] for c in answer["choices"]} == {"one two three"}
    assert answer["usage"]["completion_tokens"] == 9


def test_stop_cuts_the_echo_at_the_first_sequence() -> None:
    answer = _complete(messages=_user("alpha beta STOP gamma END delta"), stop=["END", "STOP"])
    assert answer["choices"][0]["message"]["content"] == "alpha beta "
    assert answer["choices"][0]["finish_reason"] == "stop"


def test_max_tokens_truncates_with_length() -> None:
    answer = _complete(messages=_user("a b c d e f"), max_tokens=2)
    assert answer["choices"][0]["message"]["content"] == "a b "
    assert answer["choices"][0]["finish_reason"] == "length"
    assert answer["usage"]["completion_tokens"] == 2


@pytest.mark.parametrize("tool_choice", ["required", {"type": "function", "function": {"name": "get_weather"}}])
def test_a_forced_tool_gets_a_call_valid_against_its_schema(tool_choice: object) -> None:
    answer = _complete(messages=_user("What is it like in Oslo?"), tools=[WEATHER], tool_choice=tool_choice)
    choice = answer["choices"][0]
    assert choice["finish_reason"] == "tool_calls"
    assert choice["message"]["content"] is None
    (call,) = choice["message"]["tool_calls"]
    assert call["function"]["name"] == "get_weather"
    jsonschema.validate(json.loads(call["function"]["arguments"]), WEATHER["function"]["parameters"])


def test_auto_calls_a_tool_only_when_the_message_names_it() -> None:
    named = _complete(messages=_user("please call get_weather"), tools=[WEATHER])
    assert named["choices"][0]["finish_reason"] == "tool_calls"
    unnamed = _complete(messages=_user("just chat"), tools=[WEATHER])
    assert unnamed["choices"][0]["message"]["content"] == "just chat"
    none = _complete(messages=_user("please call get_weather"), tools=[WEATHER], tool_choice="none")
    assert none["choices"][0]["finish_reason"] == "stop"


def test_a_tool_result_is_answered_with_text() -> None:
    messages = [*_user("call get_weather"),
                {"role": "assistant", "tool_calls": [{"id": "c1", "type": "function",
                                                      "function": {"name": "get_weather", "arguments": "{}"}}]},
                {"role": "tool", "tool_call_id": "c1", "content": "sunny, 21 degrees"}]
    answer = _complete(messages=messages, tools=[WEATHER], tool_choice="auto")
    assert answer["choices"][0]["message"]["content"] == "sunny, 21 degrees"


def test_json_schema_response_format_is_valid_against_the_schema() -> None:
    schema = {
        "type": "object",
        "properties": {
            "title": {"type": "string", "maxLength": 5},
            "tags": {"type": "array", "items": {"type": "string"}, "minItems": 2},
            "score": {"type": "number", "minimum": 0.5},
            "owner": {"$ref": "#/$defs/person"},
            "note": {"anyOf": [{"type": "null"}, {"type": "string"}]},
        },
        "required": ["title", "tags", "score", "owner", "note"],
        "$defs": {"person": {"type": "object", "properties": {"name": {"type": "string"}}, "required": ["name"]}},
    }
    answer = _complete(messages=_user("a long title here"),
                       response_format={"type": "json_schema", "json_schema": {"name": "x", "schema": schema}})
    jsonschema.validate(json.loads(answer["choices"][0]["message"]["content"]), schema)


def test_json_object_response_format() -> None:
    answer = _complete(messages=_user("hi"), response_format={"type": "json_object"})
    assert json.loads(answer["choices"][0]["message"]["content"]) == {"echo": "hi"}


def test_logprobs_per_token_with_top_alternatives() -> None:
    answer = _complete(messages=_user("one two"), logprobs=True, top_logprobs=3)
    content = answer["choices"][0]["logprobs"]["content"]
    assert [t["token"] for t in content] == ["one ", "two"]
    for token in content:
        assert token["logprob"] <= 0
        assert len(token["top_logprobs"]) == 3
        assert token["top_logprobs"][0]["token"] == token["token"]
        assert [t["logprob"] for t in token["top_logprobs"]] == sorted(
            (t["logprob"] for t in token["top_logprobs"]), reverse=True)
    assert _complete(messages=_user("x"))["choices"][0]["logprobs"] is None


def test_streamed_tool_call_assembles_to_valid_arguments() -> None:
    chunks = _stream(messages=_user("Oslo"), tools=[WEATHER], tool_choice="required")
    arguments = "".join(tc["function"].get("arguments", "") for c in chunks for choice in c["choices"]
                        for tc in choice["delta"].get("tool_calls", []))
    jsonschema.validate(json.loads(arguments), WEATHER["function"]["parameters"])
    finishes = [choice["finish_reason"] for c in chunks for choice in c["choices"] if choice["finish_reason"]]
    assert finishes == ["tool_calls"]
    assert chunks[-1]["usage"]["completion_tokens"] > 0


def test_streamed_n_choices_have_their_own_indices() -> None:
    chunks = _stream(messages=_user("a b"), n=2)
    for index in (0, 1):
        text = "".join(choice["delta"].get("content") or "" for c in chunks for choice in c["choices"]
                       if choice["index"] == index)
        assert text == "a b"


def test_the_fail_model_always_answers_503() -> None:
    with pytest.raises(UpstreamFailure) as failure:
        _complete(endpoint="fail@echo", messages=_user("hi"))
    assert failure.value.status == 503


@pytest.mark.parametrize("text", ["a dog", "x", "", "the cat sat on the mat"])
@pytest.mark.parametrize("dimensions", [1, 2, 8, 256])
def test_embeddings_are_unit_vectors_at_any_size(text: str, dimensions: int) -> None:
    call = _call("echo-embed@echo", input=[text], dimensions=dimensions)
    (vector,) = asyncio.run(Echo().embed(call)).vectors
    assert len(vector) == dimensions
    assert math.isclose(math.sqrt(sum(x * x for x in vector)), 1.0, abs_tol=1e-5)


def test_instance_of_bounds_and_nesting() -> None:
    schema = {"type": "array", "items": {"type": "integer", "exclusiveMinimum": 3}, "minItems": 2, "maxItems": 2}
    value = instance_of(schema, ["w"])
    jsonschema.validate(value, schema)
    tree = {"$ref": "#/$defs/node", "$defs": {"node": {
        "type": "object", "properties": {"child": {"$ref": "#/$defs/node"}, "name": {"type": "string"}}}}}
    jsonschema.validate(instance_of(tree, ["leaf"]), tree)  # a schema that refers to itself still ends
    loop = {"$ref": "#/$defs/a", "$defs": {"a": {"$ref": "#/$defs/b"}, "b": {"$ref": "#/$defs/a"}}}
    assert instance_of(loop, []) is None
