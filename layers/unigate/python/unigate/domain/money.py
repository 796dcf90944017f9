"""Credits as exact integers.

1 credit = 1 USD = 1,000,000 micro-credits. Balances, holds and ledger amounts are always integer
micro-credits; floats appear only at the JSON edge, where the contract shows credits as a decimal.
"""

from __future__ import annotations

from decimal import Decimal, InvalidOperation

MICROS_PER_CREDIT = 1_000_000
# No single amount may exceed a billion credits: it keeps balances far inside DynamoDB's 38-digit
# numbers, and no real grant is larger.
MAX_MICROS = 1_000_000_000 * MICROS_PER_CREDIT


class AmountError(ValueError):
    """An amount that is not a positive, finite number of credits with at most six decimals."""


def credits_to_micros(amount: str | int | Decimal) -> int:
    """Parses a positive credit amount exactly ("12.5" -> 12_500_000); floats are refused on purpose."""
    if isinstance(amount, (bool, float)):
        raise AmountError("amounts are given as decimal strings or integers, not floats")
    try:
        value = Decimal(str(amount).strip())
    except InvalidOperation:
        raise AmountError(f"not a number: {amount!r}") from None
    if not value.is_finite():
        raise AmountError("the amount must be finite")
    micros = value * MICROS_PER_CREDIT
    if micros != micros.to_integral_value():
        raise AmountError("credits have at most 6 decimal places")
    if micros <= 0:
        raise AmountError("the amount must be positive")
    if micros > MAX_MICROS:
        raise AmountError("the amount is larger than one billion credits")
    return int(micros)


def micros_to_credits(micros: int) -> float:
    """The JSON form: the nearest double, which prints as the shortest exact decimal (10.0, 232.32)."""
    return float(Decimal(micros) / MICROS_PER_CREDIT)


def format_credits(micros: int) -> str:
    """Exact decimal text for people and headers, without trailing zeros beyond one decimal."""
    text = f"{Decimal(micros) / MICROS_PER_CREDIT:f}"
    if "." in text:
        text = text.rstrip("0")
        if text.endswith("."):
            text += "0"
    else:
        text += ".0"
    return text
