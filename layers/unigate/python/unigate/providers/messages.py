"""What translating OpenAI's messages into another provider's needs alike: stop sequences, merged turns, tool
arguments."""

from __future__ import annotations

import json
from typing import Any


def stop_sequences(body: dict[str, Any]) -> list[str]:
    """OpenAI's `stop` (a string or a list) as the list other providers take."""
    stop = body.get("stop")
    if not stop:
        return []
    return [stop] if isinstance(stop, str) else list(stop)


def merge_turn(turns: list[dict[str, Any]], role: str, items: list[dict[str, Any]], field: str = "content") -> None:
    """Appends a turn, merging it into the previous one of the same role (Anthropic, Gemini and Bedrock
    require alternating roles; OpenAI allows runs of one role)."""
    if not items:
        return
    if turns and turns[-1]["role"] == role:
        turns[-1][field].extend(items)
    else:
        turns.append({"role": role, field: items})


def tool_arguments(tool_call: dict[str, Any]) -> Any:
    """An OpenAI tool call's arguments (a JSON string) as a value; {} when they are not valid JSON."""
    try:
        return json.loads((tool_call.get("function") or {}).get("arguments") or "{}")
    except ValueError:
        return {}



def chosen_tool(choice: dict[str, Any]) -> str:
    """The function an OpenAI tool_choice object names ("" when it names none properly)."""
    function = choice.get("function")
    name = function.get("name") if isinstance(function, dict) else None
    return name if isinstance(name, str) else ""
