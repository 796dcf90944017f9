"""Money through the real stores on moto's DynamoDB: exact, exactly-once, never negative, always summing."""

from concurrent.futures import ThreadPoolExecutor
from types import SimpleNamespace

import pytest

from unigate.accounts import accounts, billing
from unigate.domain.errors import BadRequest, Conflict, InsufficientCredits, NotFound
from unigate.infra import aws
from unigate.infra.config import get_settings
from unigate.stores import accounts as store


def _balance(account: str) -> int:
    return accounts.get_account(account).balance_micros


def _assert_consistent(account: str) -> None:
    balance = _balance(account)
    assert balance >= 0
    assert store.ledger_sum(account) == balance


def test_grants_add_exactly_and_the_ledger_sums_to_the_balance(account: str) -> None:
    billing.grant(account, 2_500_000, idempotency_key="a")
    billing.grant(account, 1, idempotency_key="b")
    assert _balance(account) == 12_500_001
    _assert_consistent(account)
    assert billing.credits_of(account) == {"id": account, "credits": 12.500001}


def test_a_grant_is_applied_once_per_idempotency_key(account: str) -> None:
    first = billing.grant(account, 5_000_000, idempotency_key="payment-42")
    again = billing.grant(account, 5_000_000, idempotency_key="payment-42")
    assert again.entry_id == first.entry_id
    assert again.created_at == first.created_at
    assert _balance(account) == 15_000_000
    with pytest.raises(Conflict):
        billing.grant(account, 6_000_000, idempotency_key="payment-42")
    assert _balance(account) == 15_000_000
    _assert_consistent(account)


def test_concurrent_grants_with_one_key_credit_once(account: str) -> None:
    with ThreadPoolExecutor(max_workers=16) as pool:
        results = list(pool.map(lambda _: billing.grant(account, 1_000_000, idempotency_key="same"), range(32)))
    assert {r.entry_id for r in results} == {"grant#same"}
    assert _balance(account) == 11_000_000
    _assert_consistent(account)


@pytest.mark.parametrize("amount", [0, -5, True, 10**30])
def test_grants_must_be_positive_and_bounded(account: str, amount: int) -> None:
    with pytest.raises(BadRequest):
        billing.grant(account, amount, idempotency_key="bad")
    assert _balance(account) == 10_000_000


@pytest.mark.parametrize("key", ["", "a" * 129, "has space", "semi;colon", "uni\u00e7ode"])
def test_idempotency_keys_are_validated(account: str, key: str) -> None:
    with pytest.raises(BadRequest):
        billing.grant(account, 1, idempotency_key=key)


def test_grant_to_a_missing_account_changes_nothing(aws: None) -> None:
    with pytest.raises(NotFound):
        billing.grant("acct_missing", 1, idempotency_key="x")
    assert store.get_entry("acct_missing", "grant#x") is None


def test_hold_then_settle_charges_the_cost_and_returns_the_rest(account: str) -> None:
    held = billing.hold(account, 3_000_000)
    assert _balance(account) == 7_000_000
    _assert_consistent(account)
    assert billing.settle(held, 1_234_567)
    assert _balance(account) == 10_000_000 - 1_234_567
    _assert_consistent(account)
    assert store.list_open_holds(account) == []


def test_settle_and_release_apply_once(account: str) -> None:
    held = billing.hold(account, 3_000_000)
    assert billing.settle(held, 1_000_000)
    assert not billing.settle(held, 2_000_000)
    assert not billing.release(held)
    assert _balance(account) == 9_000_000
    other = billing.hold(account, 1_000_000)
    assert billing.release(other)
    assert not billing.settle(other, 500_000)
    assert _balance(account) == 9_000_000
    _assert_consistent(account)


def test_a_negative_cost_charges_nothing(account: str) -> None:
    held = billing.hold(account, 3_000_000)
    billing.settle(held, -5_000_000)
    assert _balance(account) == 10_000_000
    _assert_consistent(account)


def _uncollected(account: str) -> list:
    entries, _ = store.list_ledger(account, limit=500)
    return [e for e in entries if e.kind == "uncollected"]


def test_a_cost_beyond_the_hold_is_charged_when_the_balance_covers_it(account: str) -> None:
    """Issue #29: the charge is what the usage says, never clamped to the hold."""
    held = billing.hold(account, 3_000_000)
    billing.settle(held, 4_500_000)
    assert _balance(account) == 10_000_000 - 4_500_000
    assert _uncollected(account) == []
    _assert_consistent(account)


def test_what_the_balance_cannot_cover_is_an_uncollected_entry(account: str) -> None:
    """Issue #29: an absurd (or honest but unforeseen) cost takes the whole balance, never below zero, and the
    rest is written down as uncollected, never dropped."""
    held = billing.hold(account, 3_000_000)
    billing.settle(held, 12_000_000)
    assert _balance(account) == 0
    (entry,) = _uncollected(account)
    assert entry.amount_micros == 0
    assert entry.details == {"uncollected": "2000000", "cost": "12000000", "held": "3000000"}
    _assert_consistent(account)


def test_an_excess_the_balance_lost_meanwhile_is_taken_as_far_as_it_goes(account: str) -> None:
    """The balance falls between the hold and the settle (another request): the settle takes what is left."""
    held = billing.hold(account, 3_000_000)
    other = billing.hold(account, 6_000_000)
    billing.settle(held, 5_000_000)
    assert _balance(account) == 0
    (entry,) = _uncollected(account)
    assert entry.details["uncollected"] == "1000000"
    billing.settle(other, 6_000_000)
    _assert_consistent(account)


def test_a_hold_beyond_the_balance_is_refused_and_changes_nothing(account: str) -> None:
    with pytest.raises(InsufficientCredits):
        billing.hold(account, 10_000_001)
    assert _balance(account) == 10_000_000
    _assert_consistent(account)
    billing.hold(account, 10_000_000)
    assert _balance(account) == 0


def test_concurrent_holds_never_overdraw(account: str) -> None:
    """50 requests each holding 1 credit against 10 credits: exactly 10 admitted, none overdrawn."""

    def attempt(_: int) -> object:
        try:
            return billing.hold(account, 1_000_000)
        except InsufficientCredits:
            return None

    with ThreadPoolExecutor(max_workers=25) as pool:
        holds = [h for h in pool.map(attempt, range(50)) if h is not None]
    assert len(holds) == 10
    assert _balance(account) == 0
    _assert_consistent(account)
    with ThreadPoolExecutor(max_workers=10) as pool:
        list(pool.map(lambda h: billing.settle(h, 250_000), holds))
    assert _balance(account) == 10 * 750_000
    assert store.list_open_holds(account) == []
    _assert_consistent(account)


def test_the_ledger_pages_in_order(account: str) -> None:
    for i in range(7):
        billing.grant(account, 1, idempotency_key=f"p{i}")
    entries, cursor, seen = [], None, 0
    while True:
        page, cursor = store.list_ledger(account, limit=3, start=cursor)
        entries.extend(page)
        seen += 1
        if cursor is None:
            break
    assert len(entries) == 8
    assert seen >= 3
    assert [e.created_at for e in entries] == sorted(e.created_at for e in entries)


def test_a_ledger_near_dynamodbs_item_collection_cap_is_alarmed(account: str,
                                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    """DynamoDB answers a write to a table with a local index, when asked, with its estimate of the item
    collection's size; moto gives none, so the answer is DynamoDB's shape added to moto's."""
    ledger = get_settings().ledger_table
    asked: list[str | None] = []
    estimate = [1.0, 2.0]

    def note_asked(params: dict[str, object], **_: object) -> None:
        asked.append(params.get("ReturnItemCollectionMetrics"))  # type: ignore[arg-type]

    def with_sizes(http_response: object, parsed: dict[str, object], **_: object) -> None:
        if getattr(http_response, "status_code", 0) != 200:
            return
        parsed["ItemCollectionMetrics"] = {
            ledger: [{"ItemCollectionKey": {"account_id": {"S": account}}, "SizeEstimateRangeGB": list(estimate)}],
            "SomeOtherTable": [{"ItemCollectionKey": {"k": {"S": "x"}}, "SizeEstimateRangeGB": [9.0, 10.0]}],
        }

    counted: list[str] = []
    warned: list[tuple[str, dict[str, object]]] = []
    monkeypatch.setattr("unigate.accounts.billing.count", lambda name, *_, **__: counted.append(name))
    monkeypatch.setattr("unigate.accounts.billing.get_logger", lambda: SimpleNamespace(
        warning=lambda message, extra: warned.append((message, extra))))
    events = aws.client("dynamodb").meta.events
    events.register("before-parameter-build.dynamodb.TransactWriteItems", note_asked)
    events.register("after-call.dynamodb.TransactWriteItems", with_sizes)
    try:
        first = billing.hold(account, 1_000)
        assert counted == []
        assert asked == ["SIZE"]
        estimate[:] = [7.5, 8.5]
        billing.hold(account, 1_000)
        assert counted == ["LedgerNearLimit"]
        assert asked == ["SIZE", "SIZE"]
        assert [extra for _, extra in warned] == [{"account_id": account, "ledger_gb": 8.5}]
        assert billing.settle(first, 400) is True
        assert asked == ["SIZE", "SIZE", None]  # only the hold asks: it is the write every request makes first
    finally:
        events.unregister("before-parameter-build.dynamodb.TransactWriteItems", note_asked)
        events.unregister("after-call.dynamodb.TransactWriteItems", with_sizes)
    _assert_consistent(account)
