"""The chat form's `reasoning_effort` as the reasoning parameter of the wire formats that have no such field
(Anthropic's `thinking`, Gemini's `thinkingConfig`, Claude on Bedrock's `thinking` through Converse's
additional fields), and what that parameter displaces. Pure.

Budgets are LiteLLM's (1024 / 2048 / 4096 thinking tokens for low / medium / high), within the request's
output cap: thinking tokens are output tokens, so the hold, which prices the whole cap, still bounds the
bill. Anthropic takes no budget under 1024 tokens and none at or above max_tokens; where the cap leaves no
room, or the request forces a tool, or the conversation continues a tool call without its thinking block
(Anthropic refuses all three with thinking on), the request is sent without thinking and
`reasoning_effort` is listed as dropped.
"""

from __future__ import annotations

from typing import Any

EFFORTS = ("none", "minimal", "low", "medium", "high", "xhigh")
# Thinking tokens per effort; "none" turns thinking off (Gemini's 0; Anthropic's is simply no thinking).
BUDGETS = {"minimal": 1024, "low": 1024, "medium": 2048, "high": 4096, "xhigh": 8192}
GEMINI_BUDGETS = {"none": 0, "minimal": 128, "low": 1024, "medium": 2048, "high": 4096, "xhigh": 8192}
ANTHROPIC_MIN_BUDGET = 1024
# Anthropic with thinking: temperature only 1, top_p from 0.95.
MIN_TOP_P = 0.95
# The families whose adapters translate reasoning_effort themselves (the others forward it as it is).
TRANSLATED = frozenset({"anthropic", "gemini", "bedrock"})


def claude_on_bedrock(upstream: str) -> bool:
    return "anthropic.claude" in upstream


def takes_effort(family: str, upstream: str, capabilities: tuple[str, ...]) -> bool:
    """A translating family takes reasoning_effort only at endpoints the catalog says reason (and, on Bedrock,
    only Claude's: the one Converse model family whose thinking is a request field)."""
    if family == "bedrock" and not claude_on_bedrock(upstream):
        return False
    return family in TRANSLATED and "reasoning" in capabilities


def _forced_tool(body: dict[str, Any]) -> bool:
    choice = body.get("tool_choice")
    return bool(body.get("tools")) and (choice == "required" or isinstance(choice, dict))


def _continues_tool_call(messages: list[dict[str, Any]]) -> bool:
    """The conversation ends in an assistant's tool calls and their results: Anthropic wants that turn to
    start with the thinking block it produced, which the chat form does not carry."""
    for message in reversed(messages):
        role = message.get("role")
        if role in ("tool", "function"):
            continue
        return role == "assistant" and bool(message.get("tool_calls"))
    return False


def anthropic_thinking(body: dict[str, Any], max_tokens: int) -> dict[str, Any] | None:
    """Anthropic's `thinking` for the body's reasoning_effort, or None when it cannot be on."""
    budget = BUDGETS.get(str(body.get("reasoning_effort")))
    if budget is None or _forced_tool(body) or _continues_tool_call(body.get("messages") or []):
        return None
    budget = min(budget, max_tokens - 1)
    if budget < ANTHROPIC_MIN_BUDGET:
        return None
    return {"type": "enabled", "budget_tokens": budget}


def anthropic_displaced(body: dict[str, Any], thinking: dict[str, Any] | None) -> list[str]:
    """The sampling parameters Anthropic refuses beside thinking."""
    if thinking is None:
        return []
    out = []
    if body.get("temperature") is not None and body["temperature"] != 1:
        out.append("temperature")
    if body.get("top_p") is not None and body["top_p"] < MIN_TOP_P:
        out.append("top_p")
    return out


def gemini_thinking(body: dict[str, Any], max_tokens: int) -> dict[str, Any] | None:
    """Gemini's thinkingConfig for the body's reasoning_effort (its thoughts asked for, to be relayed)."""
    budget = GEMINI_BUDGETS.get(str(body.get("reasoning_effort")))
    if budget is None:
        return None
    budget = min(budget, max_tokens)
    return {"thinkingBudget": budget, "includeThoughts": budget > 0}


def reconcile(family: str, upstream: str, body: dict[str, Any], max_tokens: int) -> list[str]:
    """Removes from a chat body bound to an endpoint what its reasoning parameter displaces, or
    reasoning_effort itself when thinking cannot be on there; returns the names removed (dropped)."""
    if body.get("reasoning_effort") is None or family not in ("anthropic", "bedrock"):
        return []
    thinking = anthropic_thinking(body, max_tokens)
    if thinking is None:
        removed = [] if body["reasoning_effort"] == "none" else ["reasoning_effort"]
        body.pop("reasoning_effort")
        return removed
    removed = anthropic_displaced(body, thinking)
    for name in removed:
        body.pop(name)
    return removed
