"""The usage record of each family and its price per token class, checked against hand calculations."""

from __future__ import annotations

from decimal import Decimal

from unigate.catalog.entries import EndpointSpec
from unigate.domain.usage import Usage, from_anthropic, from_bedrock, from_gemini, from_openai, price, worst_case

# Claude Sonnet 4.5's list prices (USD per 1M): input 3, cache read 0.30, 5 m write 3.75, 1 h write 6, output 15;
# above 200k prompt tokens: input 6, output 22.5, cache read 0.60, 5 m write 7.50, 1 h write 12.
SONNET = EndpointSpec.model_validate({
    "name": "claude-sonnet-4.5@anthropic", "upstream": "claude-sonnet-4-5", "input": "3", "output": "15",
    "cache_read": "0.3", "cache_write": "3.75", "cache_write_1h": "6", "context": 1000000, "max_output": 64000,
    "tiers": [{"above": 200000, "input": "6", "output": "22.5", "cache_read": "0.6", "cache_write": "7.5",
               "cache_write_1h": "12"}],
})
# o-series style: a reasoning price of its own.
REASONER = EndpointSpec.model_validate({
    "name": "r@openai", "upstream": "r", "input": "1.1", "output": "4.4", "cache_read": "0.275",
    "reasoning": "8.8", "context": 200000, "max_output": 100000,
})


def test_openai_prompt_includes_cached_and_completion_includes_reasoning() -> None:
    used = from_openai({"prompt_tokens": 1000, "completion_tokens": 500,
                        "prompt_tokens_details": {"cached_tokens": 600},
                        "completion_tokens_details": {"reasoning_tokens": 200}})
    assert used == Usage(input=400, cache_read=600, output=300, reasoning=200)
    # 400 x 1.1 + 600 x 0.275 + 300 x 4.4 + 200 x 8.8 = 440 + 165 + 1320 + 1760 = 3685
    assert price(used, REASONER.prices).micros == 3685


def test_anthropic_input_excludes_cache_reads_and_writes_split_by_ttl() -> None:
    used = from_anthropic({"input_tokens": 400, "cache_read_input_tokens": 600, "cache_creation_input_tokens": 300,
                           "cache_creation": {"ephemeral_5m_input_tokens": 100, "ephemeral_1h_input_tokens": 200},
                           "output_tokens": 500})
    assert used == Usage(input=400, cache_read=600, cache_write_5m=100, cache_write_1h=200, output=500)
    # 400 x 3 + 600 x 0.3 + 100 x 3.75 + 200 x 6 + 500 x 15 = 1200 + 180 + 375 + 1200 + 7500 = 10455
    priced = price(used, SONNET.prices)
    assert priced.micros == 10455
    assert priced.details["cache_write_1h"] == Decimal(1200)
    # Without the TTL split, every write is a 5-minute write.
    assert from_anthropic({"input_tokens": 1, "cache_creation_input_tokens": 300}).cache_write_5m == 300
    # The chat form carries it all and reads back the same.
    assert from_openai(used.to_chat()) == used


def test_gemini_prompt_includes_cached_and_thoughts_are_apart() -> None:
    used = from_gemini({"promptTokenCount": 1000, "cachedContentTokenCount": 600, "candidatesTokenCount": 300,
                        "thoughtsTokenCount": 200})
    assert used == Usage(input=400, cache_read=600, output=300, reasoning=200)
    assert used.to_chat()["completion_tokens"] == 500


def test_bedrock_reports_cache_reads_and_writes_beside_input() -> None:
    used = from_bedrock({"inputTokens": 400, "cacheReadInputTokens": 600, "cacheWriteInputTokens": 100,
                         "outputTokens": 50})
    assert used == Usage(input=400, cache_read=600, cache_write_5m=100, output=50)


def test_a_prompt_over_the_long_context_tier_is_priced_whole_at_the_tier() -> None:
    used = Usage(input=150_001, cache_read=50_000, output=1_000)
    # 200,001 prompt tokens > 200k: 150,001 x 6 + 50,000 x 0.6 + 1,000 x 22.5 = 900,006 + 30,000 + 22,500
    assert price(used, SONNET.prices).micros == 952_506
    at_the_line = Usage(input=150_000, cache_read=50_000, output=1_000)
    assert price(at_the_line, SONNET.prices).micros == 450_000 + 15_000 + 15_000


def test_rounded_up_once_per_request() -> None:
    # 1 x 0.275 + 1 x 1.1 = 1.375 -> 2, not 1 + 2 = 3 from rounding each class.
    assert price(Usage(input=1, cache_read=1), REASONER.prices).micros == 2


def test_the_worst_case_uses_the_highest_applicable_rate() -> None:
    # Prompt tokens may all be 1-hour writes above the tier (12); completion at the tier's output (22.5).
    assert worst_case(SONNET.prices, 1000, 100) == 12_000 + 2_250
    assert worst_case(REASONER.prices, 1000, 100) == 1_100 + 880


def test_unknown_classes_fall_back_to_their_nearest_price() -> None:
    plain = EndpointSpec.model_validate({"name": "m@p", "upstream": "m", "input": "2", "output": "8",
                                         "context": 1000, "max_output": 100})
    rates = plain.prices.base
    assert (rates.cache_read, rates.cache_write_5m, rates.cache_write_1h, rates.reasoning) == (2, 2, 2, 8)
    unpriced = EndpointSpec.model_validate({"name": "m@p", "upstream": "m", "context": 1000, "max_output": 100})
    assert not unpriced.priced
    free = unpriced.model_copy(update={"free": True})
    assert free.priced
    assert price(Usage(input=10, output=10), free.prices).micros == 0


def test_deprecated_by_date() -> None:
    dated = SONNET.model_copy(update={"deprecation_date": "2026-11-30"})
    assert dated.deprecated("2026-11-30")
    assert not dated.deprecated("2026-11-29")
    assert not SONNET.deprecated("2099-01-01")
