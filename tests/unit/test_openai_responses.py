"""The Responses dialect's pure translations: requests to the chat form, chat answers and streams back."""

from __future__ import annotations

import json
from typing import Any

import pytest

from unigate.dialects import openai_responses as dialect
from unigate.domain.errors import BadRequest


def _chat(body: dict[str, Any], history: list[dict[str, Any]] | None = None) -> dialect.Translated:
    request, sent = dialect.parse({"model": "echo@echo", **body})
    return dialect.to_chat(request, sent, history or [], dialect.input_items(request.input))


# ------------------------------------------------------------------------------------------- requests
def test_a_string_input_is_one_user_message_after_the_instructions() -> None:
    translated = _chat({"input": "hi", "instructions": "Be brief.", "max_output_tokens": 50, "temperature": 0.2,
                        "top_p": 0.5, "reasoning": {"effort": "high", "summary": "auto"}, "store": False,
                        "metadata": {"a": "b"}, "prompt_cache_key": "k", "client_metadata": {"x": 1},
                        "include": ["reasoning.encrypted_content"], "truncation": "auto"})
    assert translated.body == {
        "model": "echo@echo",
        "messages": [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "hi"}],
        "max_tokens": 50, "temperature": 0.2, "top_p": 0.5, "reasoning_effort": "high", "stream": False}
    assert translated.dropped == []


def test_items_become_chat_messages_with_calls_merged_into_one_assistant_turn() -> None:
    translated = _chat({"input": [
        {"type": "message", "role": "developer", "content": [{"type": "input_text", "text": "rules"}]},
        {"role": "user", "content": [{"type": "input_text", "text": "look "}, {"type": "input_text", "text": "up"}]},
        {"type": "reasoning", "id": "rs_1", "summary": [], "encrypted_content": "opaque"},
        {"type": "message", "role": "assistant", "content": [{"type": "output_text", "text": "Checking."}]},
        {"type": "function_call", "call_id": "c1", "name": "a", "arguments": "{}"},
        {"type": "function_call", "call_id": "c2", "name": "b", "arguments": "{\"x\":1}", "namespace": "ns"},
        {"type": "function_call_output", "call_id": "c1", "output": "one"},
        {"type": "function_call_output", "call_id": "c2", "output": [{"type": "input_text", "text": "two"}]},
        {"type": "custom_tool_call", "call_id": "c3", "name": "apply_patch", "input": "*** Begin Patch"},
        {"type": "custom_tool_call_output", "call_id": "c3", "output": "patched"},
        {"role": "user", "content": [{"type": "input_image", "image_url": "data:image/png;base64,AA", "detail": "low"},
                                     {"type": "input_text", "text": "and this?"}]},
    ]})
    assert translated.body["messages"] == [
        {"role": "system", "content": "rules"},
        {"role": "user", "content": "look up"},
        {"role": "assistant", "content": "Checking.", "tool_calls": [
            {"id": "c1", "type": "function", "function": {"name": "a", "arguments": "{}"}},
            {"id": "c2", "type": "function", "function": {"name": "ns__b", "arguments": "{\"x\":1}"}}]},
        {"role": "tool", "tool_call_id": "c1", "content": "one"},
        {"role": "tool", "tool_call_id": "c2", "content": "two"},
        {"role": "assistant", "content": None, "tool_calls": [
            {"id": "c3", "type": "function",
             "function": {"name": "apply_patch", "arguments": json.dumps({"input": "*** Begin Patch"})}}]},
        {"role": "tool", "tool_call_id": "c3", "content": "patched"},
        {"role": "user", "content": [{"type": "image_url", "image_url": {"url": "data:image/png;base64,AA",
                                                                           "detail": "low"}},
                                     {"type": "text", "text": "and this?"}]},
    ]


def test_tools_are_flattened_built_ins_dropped_and_choices_mapped() -> None:
    translated = _chat({"input": "x", "tool_choice": {"type": "function", "name": "lookup"},
                        "parallel_tool_calls": False, "tools": [
        {"type": "function", "name": "lookup", "parameters": {"type": "object"}, "strict": True},
        {"type": "namespace", "name": "crm", "description": "CRM", "tools": [
            {"type": "function", "name": "find", "description": "Finds."}]},
        {"type": "custom", "name": "apply_patch", "description": "Patches.", "format": {"type": "text"}},
        {"type": "web_search"}, {"type": "local_shell"}]})
    assert translated.body["tools"] == [
        {"type": "function", "function": {"name": "lookup", "parameters": {"type": "object"}, "strict": True}},
        {"type": "function", "function": {"name": "crm__find", "description": "Finds.",
                                          "parameters": {"type": "object", "properties": {}}}},
        {"type": "function", "function": {"name": "apply_patch", "description": "Patches.", "parameters": {
            "type": "object", "properties": {"input": {"type": "string", "description": "The tool's input."}},
            "required": ["input"]}}},
    ]
    assert translated.body["tool_choice"] == {"type": "function", "function": {"name": "lookup"}}
    assert translated.body["parallel_tool_calls"] is False
    assert translated.dropped == ["tools.web_search", "tools.local_shell"]
    assert translated.names.original("crm__find") == ("find", "crm", "function")
    built_in_choice = _chat({"input": "x", "tools": [WEATHER], "tool_choice": {"type": "web_search_preview"}})
    assert "tool_choice" not in built_in_choice.body
    assert built_in_choice.dropped == ["tool_choice"]


def test_text_formats_become_response_formats() -> None:
    schema = {"type": "object", "properties": {"a": {"type": "string"}}}
    translated = _chat({"input": "x", "text": {"format": {"type": "json_schema", "name": "Thing", "schema": schema,
                                                          "strict": True}, "verbosity": "low"}})
    assert translated.body["response_format"] == {"type": "json_schema", "json_schema": {
        "name": "Thing", "schema": schema, "strict": True}}
    assert _chat({"input": "x", "text": {"format": {"type": "json_object"}}}).body["response_format"] == {
        "type": "json_object"}
    assert "response_format" not in _chat({"input": "x", "text": {"format": {"type": "text"}}}).body
    with pytest.raises(BadRequest) as refused:
        _chat({"input": "x", "text": {"format": {"type": "json_schema", "name": "Thing"}}})
    assert refused.value.param == "text.format"


def test_a_stored_conversation_comes_before_the_new_input() -> None:
    history = [{"type": "message", "role": "user", "content": [{"type": "input_text", "text": "one"}]},
               dialect.message_item("reply one")]
    translated = _chat({"input": "two"}, history)
    assert [(m["role"], m["content"]) for m in translated.body["messages"]] == [
        ("user", "one"), ("assistant", "reply one"), ("user", "two")]


def test_unknown_fields_are_dropped_and_listed_but_never_forwarded() -> None:
    translated = _chat({"input": "x", "frobnicate": 3, "stream": True})
    assert "frobnicate" not in translated.body
    assert translated.dropped == ["frobnicate"]
    assert translated.body["stream_options"] == {"include_usage": True}


@pytest.mark.parametrize(("body", "param"), [
    ({"input": [{"type": "function_call_output", "output": "x"}]}, "input[0].call_id"),
    ({"input": [{"role": "robot", "content": "x"}]}, "input[0].role"),
    ({"input": [{"type": "teleport"}]}, "input[0]"),
    ({"input": ""}, "input"),
    ({"input": "x", "temperature": 2.5}, "temperature"),
    ({"input": "x", "max_output_tokens": 0}, "max_output_tokens"),
    ({"input": "x", "store": "yes"}, "store"),
    ({"input": "x", "tools": [{"type": "function"}]}, "tools[0].name"),
    ({"input": "x", "tools": [{"type": {}}]}, "tools[0].type"),
    ({"input": [{"type": {}}]}, "input[0]"),
    ({"input": [{"role": "user", "content": [{"type": "input_text", "text": "x", "api_key": "sk"}]}],},
     "input[0].content[0].api_key"),
    ({"input": "x", "background": True}, "background"),
    ({"input": "x", "conversation": "conv_1"}, "conversation"),
    ({"input": [{"role": "user", "content": [{"type": "input_image", "file_id": "file_1"}]}]},
     "input[0].content[0].image_url"),
])
def test_bad_requests_name_their_field(body: dict[str, Any], param: str) -> None:
    with pytest.raises(BadRequest) as refused:
        _chat(body)
    assert refused.value.param == param


def test_input_items_get_ids_and_explicit_parts() -> None:
    request, _ = dialect.parse({"model": "m", "input": [{"role": "assistant", "content": "said"},
                                                        {"type": "message", "role": "user", "content": "asked",
                                                         "id": "msg_mine"}]})
    first, second = dialect.input_items(request.input)
    assert first["id"].startswith("msg_")
    assert first["content"] == [{"type": "output_text", "text": "said"}]
    assert second["id"] == "msg_mine"
    assert second["content"] == [{"type": "input_text", "text": "asked"}]


# ------------------------------------------------------------------------------------------- answers
WEATHER = {"type": "function", "name": "get_weather", "parameters": {"type": "object"}}


def test_a_chat_completion_becomes_output_items() -> None:
    names = _chat({"input": "x", "tools": [WEATHER, {"type": "namespace", "name": "crm", "description": "",
                                                     "tools": [{"type": "function", "name": "find"}]},
                                           {"type": "custom", "name": "apply_patch"}]}).names
    completion = {"choices": [{"finish_reason": "tool_calls", "message": {
        "role": "assistant", "content": "Let me see.", "reasoning_content": "thinking",
        "tool_calls": [
            {"id": "c1", "type": "function", "function": {"name": "get_weather", "arguments": "{\"city\":\"Paris\"}"}},
            {"id": "c2", "type": "function", "function": {"name": "crm__find", "arguments": "{}"}},
            {"id": "c3", "type": "function", "function": {"name": "apply_patch", "arguments": "{\"input\":\"diff\"}"}},
        ]}}]}
    output, finish = dialect.output_of(completion, names)
    assert finish == "tool_calls"
    assert [item["type"] for item in output] == ["reasoning", "message", "function_call", "function_call",
                                                 "custom_tool_call"]
    assert output[0]["summary"] == [{"type": "summary_text", "text": "thinking"}]
    assert output[1]["content"][0]["text"] == "Let me see."
    assert (output[2]["call_id"], output[2]["name"], output[2]["arguments"]) == ("c1", "get_weather",
                                                                                 "{\"city\":\"Paris\"}")
    assert (output[3]["name"], output[3]["namespace"]) == ("find", "crm")
    assert (output[4]["name"], output[4]["input"]) == ("apply_patch", "diff")


def test_finish_reasons_give_the_status() -> None:
    assert dialect.status_of("stop") == ("completed", None)
    assert dialect.status_of("tool_calls") == ("completed", None)
    assert dialect.status_of("length") == ("incomplete", {"reason": "max_output_tokens"})
    assert dialect.status_of("content_filter") == ("incomplete", {"reason": "content_filter"})


def test_usage_carries_details_and_cost() -> None:
    assert dialect.usage({"prompt_tokens": 10, "completion_tokens": 5, "cost": 0.5,
                          "prompt_tokens_details": {"cached_tokens": 4},
                          "completion_tokens_details": {"reasoning_tokens": 3}}) == {
        "input_tokens": 10, "input_tokens_details": {"cached_tokens": 4, "cache_write_tokens": 0},
        "output_tokens": 5, "output_tokens_details": {"reasoning_tokens": 3}, "total_tokens": 15, "cost": 0.5}
    assert dialect.usage({"prompt_tokens": 1, "completion_tokens": 1, "cache_read_input_tokens": 7,
                          "cache_creation_input_tokens": 2})["input_tokens_details"] == {
        "cached_tokens": 7, "cache_write_tokens": 2}


# ------------------------------------------------------------------------------------------- streams
def _chunk(delta: dict[str, Any], finish: str | None = None) -> dict[str, Any]:
    return {"choices": [{"index": 0, "delta": delta, "finish_reason": finish}]}


def _stream(tools: list[dict[str, Any]] | None = None) -> dialect.EventStream:
    request, sent = dialect.parse({"model": "m", "input": "x", "tools": tools or []})
    names = dialect.to_chat(request, sent, [], dialect.input_items(request.input)).names
    return dialect.EventStream(request, names, response_id="resp_1", model="m@p")


def _run(stream: dialect.EventStream, chunks: list[dict[str, Any]]) -> list[dict[str, Any]]:
    events = stream.start()
    for chunk in chunks:
        events += stream.feed(chunk)
    return events


def test_reasoning_then_text_then_a_call_in_the_event_grammar() -> None:
    stream = _stream([WEATHER])
    events = _run(stream, [
        _chunk({"role": "assistant", "content": ""}), _chunk({"reasoning_content": "hm"}),
        _chunk({"reasoning_content": "m"}), _chunk({"content": "Hi"}), _chunk({"content": "!"}),
        _chunk({"tool_calls": [{"index": 0, "id": "c1", "function": {"name": "get_weather", "arguments": ""}}]}),
        _chunk({"tool_calls": [{"index": 0, "function": {"arguments": "{}"}}]}), _chunk({}, "tool_calls"),
        {"choices": [], "usage": {"prompt_tokens": 3, "completion_tokens": 4, "cost": 0.1}},
    ])
    events += stream.finished()
    assert [e["type"] for e in events] == [
        "response.created", "response.in_progress",
        "response.output_item.added", "response.reasoning_summary_part.added",
        "response.reasoning_summary_text.delta", "response.reasoning_summary_text.delta",
        "response.reasoning_summary_text.done", "response.reasoning_summary_part.done", "response.output_item.done",
        "response.output_item.added", "response.content_part.added", "response.output_text.delta",
        "response.output_text.delta", "response.output_text.done", "response.content_part.done",
        "response.output_item.done",
        "response.output_item.added", "response.function_call_arguments.delta",
        "response.function_call_arguments.done", "response.output_item.done", "response.completed"]
    assert [e["sequence_number"] for e in events] == list(range(len(events)))
    assert [e["output_index"] for e in events if e["type"] == "response.output_item.added"] == [0, 1, 2]
    final = events[-1]["response"]
    assert final["status"] == "completed"
    assert [item["type"] for item in final["output"]] == ["reasoning", "message", "function_call"]
    assert final["output"][0]["summary"][0]["text"] == "hmm"
    assert final["output"][1]["content"][0]["text"] == "Hi!"
    assert final["output"][2]["arguments"] == "{}"
    assert final["usage"]["cost"] == 0.1
    assert events[0]["response"]["output"] == []
    assert events[0]["response"]["status"] == "in_progress"


def test_two_parallel_calls_and_a_custom_tool_call() -> None:
    stream = _stream([WEATHER, {"type": "custom", "name": "apply_patch"}])
    events = _run(stream, [
        _chunk({"tool_calls": [{"index": 0, "id": "c1", "function": {"name": "get_weather", "arguments": "{}"}}]}),
        _chunk({"tool_calls": [{"index": 1, "id": "c2", "function": {"name": "apply_patch", "arguments": ""}}]}),
        _chunk({"tool_calls": [{"index": 1, "function": {"arguments": "{\"input\": \"patch\"}"}}]}),
        _chunk({}, "tool_calls"),
    ]) + stream.finished()
    kinds = [e["type"] for e in events]
    assert kinds.count("response.output_item.added") == 2
    assert "response.custom_tool_call_input.done" in kinds
    final = events[-1]["response"]["output"]
    assert (final[0]["type"], final[1]["type"], final[1]["input"]) == ("function_call", "custom_tool_call", "patch")


def test_a_length_finish_is_incomplete_and_a_failure_is_typed() -> None:
    stream = _stream()
    events = _run(stream, [_chunk({"content": "cut"}), _chunk({}, "length")]) + stream.finished()
    assert events[-1]["type"] == "response.incomplete"
    assert events[-1]["response"]["incomplete_details"] == {"reason": "max_output_tokens"}
    assert events[-2]["item"]["status"] == "incomplete"
    broken = _stream()
    events = _run(broken, [_chunk({"content": "half"})]) + broken.failed("The upstream broke.")
    assert [e["type"] for e in events][-3:] == ["response.content_part.done", "response.output_item.done",
                                                "response.failed"]
    assert events[-1]["response"]["error"] == {"code": "server_error", "message": "The upstream broke."}
    assert events[-1]["response"]["output"][0]["content"][0]["text"] == "half"
    assert [e["sequence_number"] for e in events] == list(range(len(events)))


def test_an_empty_stream_still_completes_with_one_message() -> None:
    stream = _stream()
    events = _run(stream, [_chunk({}, "stop")]) + stream.finished()
    assert [e["type"] for e in events] == ["response.created", "response.in_progress", "response.completed"]
    assert events[-1]["response"]["output"][0]["type"] == "message"


def test_events_are_named_server_sent_events() -> None:
    raw = dialect.sse({"type": "response.created", "sequence_number": 0})
    assert raw == b'event: response.created\ndata: {"type":"response.created","sequence_number":0}\n\n'


def test_store_defaults_to_true_even_when_sent_as_null() -> None:
    assert dialect.parse({"model": "m", "input": "x"})[0].stored
    assert dialect.parse({"model": "m", "input": "x", "store": None})[0].stored
    assert not dialect.parse({"model": "m", "input": "x", "store": False})[0].stored


def test_a_bad_part_after_a_stored_conversation_is_named_where_the_request_has_it() -> None:
    history = [dialect.message_item("before")] * 3
    with pytest.raises(BadRequest) as refused:
        _chat({"input": [{"role": "user", "content": [{"type": "input_image", "file_id": "f"}]}]}, history)
    assert refused.value.param == "input[0].content[0].image_url"


def test_a_tool_schema_with_a_property_named_type_is_no_media() -> None:
    from unigate.domain import tokens

    schema = {"type": "object", "properties": {"type": {"type": "string"}}}
    assert tokens.media_parts(_chat({"input": "x", "tools": [{**WEATHER, "parameters": schema}]}).body) == (0, 0)
