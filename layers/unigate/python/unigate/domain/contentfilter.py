"""A deployment's content filter: categories of blocked terms and patterns, enforced on the input (the
request is refused with 400, code content_filter) and on the output (the choice ends with finish reason
content_filter and its text is withheld), with the category named either way."""

from __future__ import annotations

import re
from functools import lru_cache
from typing import Any

from unigate.domain.errors import BadRequest
from unigate.domain.records import FilterCategory

# Text is checked whole; a very long output is checked on its last part as it grows (a match must fit).
OUTPUT_WINDOW = 4096


@lru_cache(maxsize=256)
def compiled(category: FilterCategory) -> re.Pattern[str]:
    """One case-insensitive expression per category: its terms as whole words, then its patterns."""
    alternatives = [rf"\b{re.escape(term)}\b" for term in category.terms if term]
    alternatives += [f"(?:{pattern})" for pattern in category.patterns]
    if not alternatives:
        raise ValueError(f"content filter category {category.name!r} has no terms or patterns")
    return re.compile("|".join(alternatives), re.IGNORECASE)


def validate(categories: tuple[FilterCategory, ...]) -> None:
    for category in categories:
        try:
            compiled(category)
        except re.error as exc:
            raise BadRequest(f"Content filter category {category.name!r} has an invalid pattern: {exc}.") from None
        except ValueError as exc:
            raise BadRequest(str(exc)) from None


def blocked(categories: tuple[FilterCategory, ...], text: str, *, output: bool) -> str | None:
    """The first category that blocks this text, in the direction given."""
    for category in categories:
        if (category.output if output else category.input) and compiled(category).search(text):
            return category.name
    return None


def message_text(messages: list[dict[str, Any]]) -> str:
    """Every piece of text a chat request sends: contents, text parts and tool-call arguments."""
    pieces = []
    for message in messages:
        content = message.get("content")
        if isinstance(content, str):
            pieces.append(content)
        elif isinstance(content, list):
            pieces.extend(str(p.get("text", "")) for p in content if isinstance(p, dict))
        for call in message.get("tool_calls") or []:
            if isinstance(call, dict):
                pieces.append(str((call.get("function") or {}).get("arguments", "")))
    return "\n".join(pieces)


def check_input(categories: tuple[FilterCategory, ...], text: str) -> None:
    category = blocked(categories, text, output=False)
    if category is not None:
        raise BadRequest(f"The request was blocked by the deployment's content filter (category: {category}).",
                         code="content_filter")


def filter_choices(categories: tuple[FilterCategory, ...], choices: Any) -> list[str]:
    """Withholds each blocked choice's output in a whole chat.completion: finish reason content_filter and
    Azure's content_filter_results naming the category. Returns the categories that blocked."""
    hits = []
    for choice in choices if isinstance(choices, list) else []:
        message = choice.get("message") or {}
        text = str(message.get("content") or "") + "".join(
            str((c.get("function") or {}).get("arguments", "")) for c in message.get("tool_calls") or [])
        category = blocked(categories, text, output=True)
        if category is not None:
            choice["message"] = {"role": "assistant", "content": ""}
            choice["finish_reason"] = "content_filter"
            choice["content_filter_results"] = {category: {"filtered": True}}
            hits.append(category)
    return hits
