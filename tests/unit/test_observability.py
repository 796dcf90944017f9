"""Log lines carry the Lambda context, although the logger is created only when something is logged."""

from __future__ import annotations

import json

import pytest

from unigate.infra import observability
from unigate_tools.invoke import LambdaContext


def _lines(capsys: pytest.CaptureFixture[str]) -> list[dict[str, object]]:
    return [json.loads(line) for line in capsys.readouterr().out.splitlines() if line.startswith("{")]


def test_the_context_reaches_lines_logged_by_a_logger_made_during_or_before_the_invocation(
        capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("POWERTOOLS_LOG_LEVEL", "INFO")
    observability.get_logger.cache_clear()

    @observability.lambda_entry
    def handler(event: dict[str, str], context: object) -> None:
        observability.get_logger().info(event["say"])

    handler({"say": "first"}, LambdaContext(function_name="fn"))
    handler({"say": "second with ug_Enoa1U1C7EwJ4EHbPeoVwP8GuSAECSoO38TXPe"}, LambdaContext(function_name="fn"))
    first, second = _lines(capsys)
    assert first["message"] == "first"
    assert first["function_name"] == "fn"
    assert second["message"] == "second with [REDACTED]"
    assert first["function_request_id"] != second["function_request_id"]
    assert second["cold_start"] is False
    observability.get_logger.cache_clear()
