"""OpenAI's legacy completions (`POST /v1/completions`): the request, its translation to the chat form, and
the chat form's answers (whole and streamed) back as `text_completion` objects.

An upstream that serves completions natively gets the request as it came; its answers are carried through the
chat pipeline in the chat form (`text` as the message content, the legacy `logprobs` object untouched) and
turned back here, so billing, filters and the query log see one form.
"""

from __future__ import annotations

import math
from typing import Annotated, Any

from pydantic import Field

from unigate.domain.openai_params import OPENAI_PARAMS
from unigate.domain.request_models import MAX_N, MAX_STOP, Body, Penalty, StreamOptions, TokenArray, UnifyExtras

# OpenAI's default, which self-hosted servers (vLLM, TGI) share; it also bounds the hold.
DEFAULT_MAX_TOKENS = 16
MAX_BEST_OF = 20
MAX_LOGPROBS = 5
MAX_PROMPTS = 2048

# The parameters of OpenAI's completions API; anything else follows drop_params / extra-parameters.
PARAMS = frozenset({
    "model", "prompt", "best_of", "echo", "frequency_penalty", "logit_bias", "logprobs", "max_tokens", "n",
    "presence_penalty", "seed", "stop", "stream", "stream_options", "suffix", "temperature", "top_p", "user",
})
# Those the chat form carries as they are; `prompt`, `logprobs` and `echo` are translated, and `suffix`
# and `best_of` have no chat equivalent.
SHARED = frozenset({
    "frequency_penalty", "logit_bias", "max_tokens", "n", "presence_penalty", "seed", "stop", "stream",
    "stream_options", "temperature", "top_p", "user",
})
UNTRANSLATABLE = ("suffix", "best_of")
# Chat's parameters that are not the completions API's: in a completions request they are foreign
# (dropped and listed, refused or passed through as the extra-parameters header says), never chat parameters.
CHAT_ONLY = OPENAI_PARAMS - PARAMS
# The chat parameters a completions parameter becomes, to name the one the client sent.
FROM_CHAT = {"top_logprobs": "logprobs"}


class CompletionRequest(UnifyExtras, Body):
    """OpenAI's legacy completion request; `model` is an endpoint string. Endpoints that serve completions
    natively get it passed through; the others get it translated to chat (one text prompt)."""

    model: str = Field(examples=["llama-3.1-8b-chat@together-ai", "gpt-3.5-turbo-instruct@openai"])
    prompt: str | TokenArray | Annotated[list[str], Field(min_length=1, max_length=MAX_PROMPTS)] | Annotated[
        list[TokenArray], Field(min_length=1, max_length=MAX_PROMPTS)] = Field(
        description="a string, a list of strings, a token array or a list of token arrays")
    suffix: str | None = None
    max_tokens: Annotated[int, Field(ge=0)] | None = Field(default=None, description="16 when not given, as OpenAI")
    temperature: Annotated[float, Field(ge=0, le=2)] | None = None
    top_p: Annotated[float, Field(ge=0, le=1)] | None = None
    n: Annotated[int, Field(ge=1, le=MAX_N)] | None = None
    best_of: Annotated[int, Field(ge=1, le=MAX_BEST_OF)] | None = None
    stream: bool = False
    stream_options: StreamOptions | None = None
    logprobs: Annotated[int, Field(ge=0, le=MAX_LOGPROBS)] | None = None
    echo: bool | None = None
    stop: str | Annotated[list[str], Field(max_length=MAX_STOP)] | None = None
    presence_penalty: Penalty | None = None
    frequency_penalty: Penalty | None = None
    logit_bias: Annotated[dict[str, Annotated[float, Field(ge=-100, le=100)]], Field(max_length=1024)] | None = None
    seed: int | None = None
    user: str | None = None


def prompts(request: CompletionRequest) -> list[str | list[int]]:
    """The prompts as a list: strings or token arrays."""
    value = request.prompt
    if isinstance(value, str) or (value and isinstance(value[0], int)):
        return [value]
    return list(value)  # type: ignore[arg-type]


def max_tokens(request: CompletionRequest) -> int:
    return DEFAULT_MAX_TOKENS if request.max_tokens is None else request.max_tokens


def untranslatable(request: CompletionRequest) -> tuple[str, str] | None:
    """Why the request cannot be translated to chat, and the field at fault: chat takes text prompts (several
    are one chat call each) and generates at least one token, and has no log probabilities for an echoed
    prompt."""
    items = prompts(request)
    if not all(isinstance(item, str) for item in items):
        return "Token-array prompts need an endpoint that serves completions natively.", "prompt"
    if request.max_tokens == 0:
        return "max_tokens 0 needs an endpoint that serves completions natively.", "max_tokens"
    if request.echo and request.logprobs is not None:
        return "echo with logprobs needs an endpoint that serves completions natively.", "echo"
    return None


def worst_case_prompt(items: list[str | list[int]]) -> int:
    """At most one token per 3 UTF-8 bytes of a text prompt (and a little overhead); a token array is its length."""
    return sum(len(item) if isinstance(item, list) else 3 + math.ceil(len(item.encode()) / 3) for item in items)


def to_chat(sent: dict[str, Any], request: CompletionRequest) -> dict[str, Any]:
    """The request in the chat form: each text prompt a user message (for the checks, which see every prompt;
    several prompts are then sent one per chat call, see text_prompts), the shared parameters as they are,
    `logprobs` as chat's `logprobs` + `top_logprobs`, and unknown fields kept for drop_params /
    extra-parameters. `suffix`, `best_of`, `echo` and chat's own parameters (CHAT_ONLY) are the completions
    service's to handle."""
    items = prompts(request)
    texts = [item for item in items if isinstance(item, str)] or [""]
    body: dict[str, Any] = {key: value for key, value in sent.items()
                            if key in SHARED or key not in PARAMS | CHAT_ONLY}
    body["model"] = request.model
    # Whether an endpoint takes every parameter depends on whether it is called natively, which the
    # completions service decides after planning; drop_params: false is enforced there.
    body["drop_params"] = True
    body["messages"] = [{"role": "user", "content": text} for text in texts]
    body["max_tokens"] = max(max_tokens(request), 1)
    if request.logprobs is not None:
        body["logprobs"] = True
        if request.logprobs:
            body["top_logprobs"] = request.logprobs
    return body


def text_prompts(request: CompletionRequest) -> list[str]:
    """The text prompts, each the one user message of its own chat call."""
    return [item for item in prompts(request) if isinstance(item, str)]


def chat_index(prompt: int, choice: int, n: int) -> int:
    """A choice's index in a several-prompt answer, as OpenAI numbers them: the n choices of each prompt in turn."""
    return prompt * n + choice


class Echo:
    """What a translated `echo: true` puts before each choice's text: its prompt (choice i belongs to prompt
    i // n)."""

    def __init__(self, texts: list[str], n: int = 1) -> None:
        self.texts = texts
        self.n = max(n, 1)

    def of(self, index: int) -> str:
        return self.texts[min(index // self.n, len(self.texts) - 1)] if self.texts else ""


# --------------------------------------------------------------------------------- native -> chat form
def _chat_choice(choice: dict[str, Any], *, stream: bool) -> dict[str, Any]:
    text = choice.get("text")
    converted = {key: value for key, value in choice.items() if key != "text"}
    converted["delta" if stream else "message"] = (
        {"content": text if isinstance(text, str) else ""} if stream
        else {"role": "assistant", "content": text if isinstance(text, str) else ""})
    return converted


def native_to_chat(body: dict[str, Any], *, stream: bool = False) -> dict[str, Any]:
    """A native text_completion (or one of its stream chunks) in the chat form the pipeline runs on."""
    choices = body.get("choices")
    return {**body, "object": "chat.completion.chunk" if stream else "chat.completion",
            "choices": [_chat_choice(c, stream=stream) for c in choices if isinstance(c, dict)]
            if isinstance(choices, list) else []}


# --------------------------------------------------------------------------------- chat form -> legacy
def legacy_logprobs(logprobs: Any, offset: int = 0) -> dict[str, Any] | None:
    """A choice's log probabilities in the legacy shape: a native upstream's as they are; chat's
    `{"content": [{token, logprob, top_logprobs}]}` as tokens, token_logprobs, top_logprobs and text_offset."""
    if not isinstance(logprobs, dict):
        return None
    content = logprobs.get("content")
    if not isinstance(content, list):
        return logprobs  # already the legacy shape
    tokens: list[str] = []
    token_logprobs: list[float | None] = []
    top: list[dict[str, float | None]] = []
    offsets: list[int] = []
    for entry in content:
        if not isinstance(entry, dict):
            continue
        token = str(entry.get("token", ""))
        tokens.append(token)
        token_logprobs.append(entry.get("logprob"))
        top.append({str(t.get("token", "")): t.get("logprob") for t in entry.get("top_logprobs") or []
                    if isinstance(t, dict)})
        offsets.append(offset)
        offset += len(token)
    return {"tokens": tokens, "token_logprobs": token_logprobs, "top_logprobs": top, "text_offset": offsets}


def _completion_id(chat_id: Any) -> str:
    text = str(chat_id or "cmpl-unigate")
    return "cmpl-" + text.removeprefix("chatcmpl-") if text.startswith("chatcmpl-") else text


def _finish(reason: Any) -> Any:
    # Tools are not part of the completions API; anything else a provider may say is passed on.
    return "stop" if reason in ("tool_calls", "function_call") else reason


def to_legacy(body: dict[str, Any], *, echo: Echo | None = None) -> dict[str, Any]:
    """A chat.completion (or a native answer in the chat form) as a text_completion. `echo` holds the prompts a
    translated request asked to have echoed before each choice's text."""
    choices = []
    for choice in body.get("choices") or []:
        message = choice.get("message") or {}
        content = message.get("content")
        text = content if isinstance(content, str) else ""
        index = choice.get("index", 0)
        prefix = echo.of(index) if echo is not None and isinstance(index, int) else ""
        converted = {"text": prefix + text, "index": index,
                     "logprobs": legacy_logprobs(choice.get("logprobs"), len(prefix)),
                     "finish_reason": _finish(choice.get("finish_reason"))}
        if "content_filter_results" in choice:
            converted["content_filter_results"] = choice["content_filter_results"]
        choices.append(converted)
    legacy = {"id": _completion_id(body.get("id")), "object": "text_completion", "created": body.get("created", 0),
              "model": body.get("model"), "choices": choices}
    for key in ("system_fingerprint", "usage"):
        if key in body:
            legacy[key] = body[key]
    return legacy


class StreamTranslator:
    """Chat chunks to text_completion chunks, one stream at a time (a translated echo goes first, once per
    choice)."""

    def __init__(self, echo: Echo | None = None) -> None:
        self.echo = echo
        self.echoed: set[int] = set()
        self.positions: dict[int, int] = {}

    def chunk(self, chunk: dict[str, Any]) -> dict[str, Any] | None:
        """The legacy chunk, or None for a chunk that carries nothing (the chat form's opening role chunk)."""
        if chunk.get("object") != "chat.completion.chunk":
            return chunk  # an error envelope mid-stream, passed on as OpenAI sends it
        choices = []
        for choice in chunk.get("choices") or []:
            index = choice.get("index", 0)
            content = (choice.get("delta") or {}).get("content")
            text = content if isinstance(content, str) else ""
            prefix = ""
            if self.echo is not None and isinstance(index, int) and index not in self.echoed:
                self.echoed.add(index)
                prefix = self.echo.of(index)
            start = self.positions.get(index, 0)
            logprobs = legacy_logprobs(choice.get("logprobs"), start + len(prefix))
            text = prefix + text
            self.positions[index] = start + len(text)
            if not text and choice.get("finish_reason") is None and logprobs is None:
                continue
            converted = {"text": text, "index": index, "logprobs": logprobs,
                         "finish_reason": _finish(choice.get("finish_reason"))}
            if "content_filter_results" in choice:
                converted["content_filter_results"] = choice["content_filter_results"]
            choices.append(converted)
        if not choices and "usage" not in chunk:
            return None
        legacy = {"id": _completion_id(chunk.get("id")), "object": "text_completion",
                  "created": chunk.get("created", 0), "model": chunk.get("model"), "choices": choices}
        for key in ("system_fingerprint", "usage"):
            if chunk.get(key) is not None:
                legacy[key] = chunk[key]
        return legacy
