"""The legacy completions dialect's pure translations (unigate.dialects.completions) and Azure's error envelope."""

from __future__ import annotations

import pytest

from unigate.dialects import completions as dialect
from unigate.domain import request_models
from unigate.domain.errors import BadRequest


def _request(**body: object) -> dialect.CompletionRequest:
    return request_models.parse(dialect.CompletionRequest, {"model": "m@p", **body})


def test_to_chat_maps_the_shared_parameters_and_logprobs() -> None:
    request = _request(prompt="hi", max_tokens=5, temperature=0.3, stop="\n", logprobs=3, echo=True, suffix="s",
                       best_of=2, tags=["t"], top_k=4)
    chat = dialect.to_chat(request.model_dump(exclude_unset=True), request)
    assert chat == {"model": "m@p", "messages": [{"role": "user", "content": "hi"}], "max_tokens": 5,
                    "temperature": 0.3, "stop": "\n", "logprobs": True, "top_logprobs": 3, "tags": ["t"], "top_k": 4,
                    "drop_params": True}


def test_to_chat_defaults_max_tokens_to_openais_16() -> None:
    request = _request(prompt="hi")
    assert dialect.to_chat(request.model_dump(exclude_unset=True), request)["max_tokens"] == 16
    assert dialect.max_tokens(request) == 16


@pytest.mark.parametrize(("body", "param"), [
    ({"prompt": [1, 2]}, "prompt"),
    ({"prompt": [[1], [2]]}, "prompt"),
    ({"prompt": "x", "max_tokens": 0}, "max_tokens"),
    ({"prompt": "x", "echo": True, "logprobs": 0}, "echo"),
])
def test_what_chat_cannot_serve(body: dict, param: str) -> None:
    obstacle = dialect.untranslatable(_request(**body))
    assert obstacle is not None
    assert obstacle[1] == param


def test_text_prompts_translate_one_or_several() -> None:
    assert dialect.untranslatable(_request(prompt=["only"], echo=True)) is None
    several = _request(prompt=["a", "b", "c"], n=2)
    assert dialect.untranslatable(several) is None
    assert dialect.text_prompts(several) == ["a", "b", "c"]
    # OpenAI's numbering: the n choices of each prompt in turn.
    assert [dialect.chat_index(p, c, 2) for p in range(3) for c in range(2)] == [0, 1, 2, 3, 4, 5]
    assert dialect.prompts(_request(prompt=[5, 6])) == [[5, 6]]
    assert dialect.prompts(_request(prompt=[[5], [6]])) == [[5], [6]]


@pytest.mark.parametrize(("body", "param"), [
    ({"prompt": None}, "prompt"),
    ({"prompt": []}, "prompt"),
    ({"prompt": "x", "logprobs": 6}, "logprobs"),
    ({"prompt": "x", "n": 0}, "n"),
    ({"prompt": "x", "stop": ["a", "b", "c", "d", "e"]}, "stop"),
    ({"prompt": "x", "temperature": "hot"}, "temperature"),
    ({"prompt": "x", "echo": "yes"}, "echo"),
])
def test_invalid_requests_name_the_field(body: dict, param: str) -> None:
    with pytest.raises(BadRequest) as refused:
        _request(**body)
    assert refused.value.param == param


def test_worst_case_prompt_bounds_bytes_and_counts_tokens() -> None:
    assert dialect.worst_case_prompt(["abcdef", [1, 2, 3]]) == 3 + 2 + 3


def test_native_answers_survive_the_chat_form() -> None:
    native = {"id": "cmpl-1", "object": "text_completion", "created": 7, "model": "up", "system_fingerprint": "fp",
              "choices": [{"text": "hello", "index": 0, "finish_reason": "length",
                           "logprobs": {"tokens": ["hello"], "token_logprobs": [-0.1],
                                        "top_logprobs": [{"hello": -0.1}], "text_offset": [0]}}],
              "usage": {"prompt_tokens": 1, "completion_tokens": 1, "total_tokens": 2}}
    chat = dialect.native_to_chat(native)
    assert chat["object"] == "chat.completion"
    assert chat["choices"][0]["message"] == {"role": "assistant", "content": "hello"}
    assert dialect.to_legacy(chat) == native


def test_chat_logprobs_become_the_legacy_shape_after_an_echo() -> None:
    chat = {"id": "chatcmpl-9", "created": 1, "model": "m@p", "choices": [{
        "index": 0, "message": {"role": "assistant", "content": "ab"}, "finish_reason": "tool_calls",
        "logprobs": {"content": [{"token": "a", "logprob": -1.0, "top_logprobs": [{"token": "a", "logprob": -1.0},
                                                                                  {"token": "x", "logprob": -2.0}]},
                                 {"token": "b", "logprob": -0.5, "top_logprobs": []}]}}]}
    legacy = dialect.to_legacy(chat, echo=dialect.Echo(["Q: "]))
    assert legacy["id"] == "cmpl-9"
    assert legacy["choices"] == [{"text": "Q: ab", "index": 0, "finish_reason": "stop", "logprobs": {
        "tokens": ["a", "b"], "token_logprobs": [-1.0, -0.5], "top_logprobs": [{"a": -1.0, "x": -2.0}, {}],
        "text_offset": [3, 4]}}]


def test_stream_translation_echoes_once_per_choice_and_drops_empty_chunks() -> None:
    translator = dialect.StreamTranslator(echo=dialect.Echo(["P "]))

    def chunk(index: int, content: str | None, finish: str | None = None) -> dict:
        delta = {"content": content} if content is not None else {}
        return {"id": "chatcmpl-1", "object": "chat.completion.chunk", "created": 1, "model": "m",
                "choices": [{"index": index, "delta": delta, "finish_reason": finish}]}

    out = [translator.chunk(chunk(0, "a")), translator.chunk(chunk(1, "b")), translator.chunk(chunk(0, "c")),
           translator.chunk(chunk(0, None, "stop"))]
    assert [c["choices"][0]["text"] for c in out if c] == ["P a", "P b", "c", ""]
    assert out[-1]["choices"][0]["finish_reason"] == "stop"
    assert dialect.StreamTranslator().chunk(chunk(0, "")) is None
    usage = {"id": "x", "object": "chat.completion.chunk", "created": 1, "model": "m", "choices": [],
             "usage": {"prompt_tokens": 1}}
    assert translator.chunk(usage) == {"id": "x", "object": "text_completion", "created": 1, "model": "m",
                                       "choices": [], "usage": {"prompt_tokens": 1}}
    error = {"error": {"message": "cut"}}
    assert translator.chunk(error) == error


def test_each_choice_echoes_its_own_prompt() -> None:
    echo = dialect.Echo(["one ", "two "], n=2)
    chat = {"id": "chatcmpl-2", "created": 1, "model": "m@p", "choices": [
        {"index": i, "message": {"role": "assistant", "content": "x"}, "finish_reason": "stop"} for i in range(4)]}
    assert [c["text"] for c in dialect.to_legacy(chat, echo=echo)["choices"]] == ["one x", "one x", "two x", "two x"]
    translator = dialect.StreamTranslator(echo)
    chunks = [translator.chunk({"id": "c", "object": "chat.completion.chunk", "created": 1, "model": "m",
                                "choices": [{"index": i, "delta": {"content": "y"}, "finish_reason": None}]})
              for i in (3, 0, 3)]
    assert [c["choices"][0]["text"] for c in chunks if c] == ["two y", "one y", "y"]


def test_azure_errors_carry_a_string_code() -> None:
    from unigate.web.errors import error_body, surface_of

    assert surface_of("/openai/deployments/x/chat/completions") == "azure"
    assert error_body("azure", "m", kind="rate_limit_error", param=None, code=None, status=429) == {
        "error": {"code": "429", "message": "m"}}
    assert error_body("azure", "bad", kind="invalid_request_error", param="temperature", code=None, status=400) == {
        "error": {"code": "400", "message": "bad", "param": "temperature"}}
    blocked = error_body("azure", "b", kind="invalid_request_error", param=None, code="content_filter", status=400)
    assert blocked["error"]["innererror"] == {"code": "ResponsibleAIPolicyViolation"}
    assert error_body(surface_of("/v1/completions"), "m", kind="k", param="p", code=None) == {
        "error": {"message": "m", "type": "k", "param": "p", "code": None}}
