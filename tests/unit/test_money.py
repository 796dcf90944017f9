from decimal import Decimal

import pytest

from unigate.domain.money import AmountError, credits_to_micros, format_credits, micros_to_credits


@pytest.mark.parametrize(
    ("amount", "micros"),
    [("10", 10_000_000), ("12.5", 12_500_000), ("0.000001", 1), (3, 3_000_000), (Decimal("232.32"), 232_320_000)],
)
def test_credit_amounts_parse_exactly(amount: object, micros: int) -> None:
    assert credits_to_micros(amount) == micros  # type: ignore[arg-type]


@pytest.mark.parametrize("amount", ["0", "-1", "0.0000001", "NaN", "Infinity", "abc", "", 1.5, True, "1e400"])
def test_bad_amounts_are_refused(amount: object) -> None:
    with pytest.raises(AmountError):
        credits_to_micros(amount)  # type: ignore[arg-type]


def test_json_and_text_forms() -> None:
    assert micros_to_credits(10_000_000) == 10.0
    assert micros_to_credits(232_320_000) == 232.32
    assert format_credits(12_500_000) == "12.5"
    assert format_credits(10_000_000) == "10.0"
    assert format_credits(1) == "0.000001"

