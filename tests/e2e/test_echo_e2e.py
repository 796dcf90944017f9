"""The offline echo provider through the local server and the official `openai` SDK: every feature a user
wants to try without a provider key, and a fallback past the provider that always fails."""

from __future__ import annotations

import json
import math

import jsonschema

from tests.e2e.conftest import LocalServer, openai_client

LOOKUP = {
    "type": "function",
    "function": {
        "name": "lookup",
        "parameters": {"type": "object", "properties": {"query": {"type": "string"}, "limit": {"type": "integer",
                                                                                             "minimum": 1}},
                       "required": ["query", "limit"]},
    },
}


def test_n_stop_and_max_tokens(server: LocalServer) -> None:
    client = openai_client(server)
    several = client.chat.completions.create(model="echo@echo", n=3, messages=[{"role": "user", "content": "hi there"}])
    assert [c.message.content for c in several.choices] == ["hi there"] * 3
    stopped = client.chat.completions.create(model="echo@echo", stop=["|"],
                                             messages=[{"role": "user", "content": "keep this|not this"}])
    assert stopped.choices[0].message.content == "keep this"
    cut = client.chat.completions.create(model="echo@echo", max_tokens=2,
                                         messages=[{"role": "user", "content": "one two three four"}])
    assert (cut.choices[0].message.content, cut.choices[0].finish_reason) == ("one two ", "length")


def test_function_calling_round_trip(server: LocalServer) -> None:
    client = openai_client(server)
    messages: list = [{"role": "user", "content": "find the docs"}]
    first = client.chat.completions.create(model="echo@echo", messages=messages, tools=[LOOKUP],
                                           tool_choice="required")
    (call,) = first.choices[0].message.tool_calls or []
    jsonschema.validate(json.loads(call.function.arguments), LOOKUP["function"]["parameters"])
    messages += [first.choices[0].message.model_dump(exclude_none=True),
                 {"role": "tool", "tool_call_id": call.id, "content": "found 3 pages"}]
    second = client.chat.completions.create(model="echo@echo", messages=messages, tools=[LOOKUP])
    assert second.choices[0].message.content == "found 3 pages"


def test_streamed_tool_call(server: LocalServer) -> None:
    stream = openai_client(server).chat.completions.create(
        model="echo@echo", stream=True, tools=[LOOKUP],
        tool_choice={"type": "function", "function": {"name": "lookup"}},
        messages=[{"role": "user", "content": "anything"}])
    arguments, finish = "", None
    for chunk in stream:
        for choice in chunk.choices:
            for tool_call in choice.delta.tool_calls or []:
                if tool_call.function is not None:
                    arguments += tool_call.function.arguments or ""
            finish = choice.finish_reason or finish
    assert finish == "tool_calls"
    jsonschema.validate(json.loads(arguments), LOOKUP["function"]["parameters"])


def test_structured_output_parses(server: LocalServer) -> None:
    schema = {"type": "object", "properties": {"answer": {"type": "string"}, "confidence": {"type": "number"}},
              "required": ["answer", "confidence"], "additionalProperties": False}
    reply = openai_client(server).chat.completions.create(
        model="echo@echo", messages=[{"role": "user", "content": "forty two"}],
        response_format={"type": "json_schema", "json_schema": {"name": "answer", "schema": schema, "strict": True}})
    jsonschema.validate(json.loads(reply.choices[0].message.content or ""), schema)


def test_logprobs(server: LocalServer) -> None:
    reply = openai_client(server).chat.completions.create(
        model="echo@echo", logprobs=True, top_logprobs=2, messages=[{"role": "user", "content": "a b c"}])
    content = reply.choices[0].logprobs.content if reply.choices[0].logprobs else None
    assert content is not None
    assert [t.token for t in content] == ["a ", "b ", "c"]
    assert all(len(t.top_logprobs) == 2 and t.logprob <= 0 for t in content)


def test_a_fallback_past_the_failing_model(server: LocalServer) -> None:
    raw = openai_client(server).chat.completions.with_raw_response.create(
        model="fail@echo->echo@echo", messages=[{"role": "user", "content": "still answered"}])
    assert raw.headers["x-unigate-endpoint"] == "echo@echo"
    assert raw.parse().choices[0].message.content == "still answered"


def test_small_embeddings_are_unit_vectors(server: LocalServer) -> None:
    reply = openai_client(server).embeddings.create(model="echo-embed@echo", input=["a dog", "a cat"], dimensions=8)
    for item in reply.data:
        assert len(item.embedding) == 8
        assert math.isclose(math.sqrt(sum(x * x for x in item.embedding)), 1.0, abs_tol=1e-5)
