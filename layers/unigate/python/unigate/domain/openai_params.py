"""OpenAI's chat completion parameters, as unigate sorts them: forwarded, Unify's own extras, or dropped."""

from __future__ import annotations

# The OpenAI chat parameters unigate knows; anything else is dropped (and listed in a header).
OPENAI_PARAMS = frozenset({
    "model", "messages", "temperature", "top_p", "n", "stream", "stream_options", "stop", "max_tokens",
    "max_completion_tokens", "presence_penalty", "frequency_penalty", "logit_bias", "logprobs", "top_logprobs",
    "user", "seed", "tools", "tool_choice", "parallel_tool_calls", "response_format", "functions",
    "function_call", "modalities", "audio", "prediction", "store", "metadata", "service_tier", "reasoning_effort",
})
# Unify's extras: read by unigate, never forwarded.
UNIFY_EXTRAS = frozenset({"tags", "drop_params", "use_custom_keys", "log_query_body", "log_response_body"})
ALWAYS_FORWARDED = frozenset({"model", "messages", "stream"})
