"""Pure rules of the chat service: timeouts, failure mapping, token estimates."""

import pytest

from unigate.domain import tokens
from unigate.domain.errors import BadRequest, RateLimited, UpstreamError, UpstreamTimeout
from unigate.gateway import chat
from unigate.providers.base import UpstreamFailure
from unigate.stores.metrics import OUTCOMES


def test_the_upstream_timeout_leaves_time_to_settle() -> None:
    assert chat._timeout(None) == 60.0
    assert chat._timeout(30_000) == 28.0
    assert chat._timeout(500) == 1.0


@pytest.mark.parametrize(
    ("failure", "error", "status"),
    [
        (UpstreamFailure(429, "slow down", retry_after=7), RateLimited, 429),
        (UpstreamFailure(500, "boom"), UpstreamError, 502),
        (UpstreamFailure(503, "busy"), UpstreamError, 502),
        (UpstreamFailure(400, "bad"), BadRequest, 400),
        (UpstreamFailure(401, "Incorrect API key provided: sk-abcdef1234567890"), UpstreamError, 502),
        (UpstreamFailure(None, "timeout", kind="timeout"), UpstreamTimeout, 504),
        (UpstreamFailure(408, "timeout"), UpstreamTimeout, 504),
        (UpstreamFailure(None, "refused", kind="connect"), UpstreamError, 502),
    ],
)
def test_failures_map_to_the_contract(failure: UpstreamFailure, error: type, status: int) -> None:
    mapped = chat.failure_to_error(failure, "openai")
    assert isinstance(mapped, error)
    assert mapped.status == status
    assert "sk-abcdef" not in mapped.message
    if isinstance(mapped, RateLimited):
        assert mapped.retry_after == 7


@pytest.mark.parametrize(
    "failure",
    [UpstreamFailure(status, "x") for status in (400, 401, 404, 408, 409, 422, 429, 500, 502, 503, 504, 529)]
    + [UpstreamFailure(None, "x", kind=kind) for kind in ("timeout", "connect", "protocol")],
)
def test_every_failure_is_measured_as_an_outcome_the_benchmarks_count(failure: UpstreamFailure) -> None:
    # An endpoint's sample count is the sum of its outcome counters (unigate.catalog.metrics.summarize).
    assert chat.outcome_of(failure) in OUTCOMES


def test_provider_messages_are_redacted() -> None:
    failure = UpstreamFailure(400, "Incorrect API key provided: sk-abcdef1234567890 for ug_" + "A" * 38)
    assert "sk-abcdef" not in failure.message
    assert "ug_AAAA" not in failure.message


def test_worst_case_prompt_covers_the_fair_estimate() -> None:
    messages = [{"role": "user", "content": "héllo wörld " * 50}, {"role": "assistant", "content": None}]
    assert tokens.worst_case_prompt(messages) >= tokens.prompt_estimate(messages) > 0
    assert tokens.estimate("") == 1
