import time

import pytest

from unigate.accounts import auth
from unigate.domain import keys
from unigate.domain.errors import InvalidApiKey, NotAuthenticated, NotFound


def test_a_created_key_authenticates_to_its_account(account: str) -> None:
    record, secret = auth.create_key(account, name="ci", allowed_models=("gpt-4o@openai",))
    caller = auth.authenticate(f"Bearer {secret}")
    assert caller.account_id == account
    assert caller.key_id == record.key_id
    assert caller.allowed_models == ("gpt-4o@openai",)


def test_the_plaintext_is_never_stored(account: str) -> None:
    from unigate.infra import aws

    _, secret = auth.create_key(account)
    for table in aws.client("dynamodb").list_tables()["TableNames"]:
        for item in aws.client("dynamodb").scan(TableName=table)["Items"]:
            assert secret not in str(item)
            assert secret[3:] not in str(item)


@pytest.mark.parametrize("header", [None, "", "   "])
def test_no_credentials(header: str | None, account: str) -> None:
    with pytest.raises(NotAuthenticated):
        auth.authenticate(header)


def test_bad_credentials(account: str) -> None:
    _, secret = auth.create_key(account)
    other = keys.generate_key()
    for header in (
        "Bearer",
        f"Basic {secret}",
        f"Bearer {other}",
        f"Bearer {secret[:-1]}",
        "Bearer " + "x" * 16_000,
        "Bearer ' OR 1=1 --",
        'Bearer {"$ne": null}',
        f"Bearer {secret}\r\nX-Injected: 1",
    ):
        with pytest.raises(InvalidApiKey):
            auth.authenticate(header)


def test_revoked_and_expired_keys_stop_working(account: str) -> None:
    record, secret = auth.create_key(account)
    auth.authenticate(f"Bearer {secret}")
    auth.revoke_key(record.key_id)
    with pytest.raises(InvalidApiKey):
        auth.authenticate(f"Bearer {secret}")

    _, short_lived = auth.create_key(account, expires_in_days=1 / 86400)  # one second
    auth.authenticate(f"Bearer {short_lived}")
    time.sleep(1.1)
    with pytest.raises(InvalidApiKey):
        auth.authenticate(f"Bearer {short_lived}")


def test_keys_are_listed_without_secrets_and_for_existing_accounts_only(account: str) -> None:
    created = [auth.create_key(account, name=f"k{i}") for i in range(3)]
    listed = auth.list_keys(account)
    assert {k.key_id for k in listed} == {r.key_id for r, _ in created}
    assert all(k.hint.startswith("ug_...") for k in listed)
    with pytest.raises(NotFound):
        auth.create_key("acct_missing")
    with pytest.raises(NotFound):
        auth.revoke_key("key_missing")


def _authorize(headers: dict[str, str]) -> dict[str, object]:
    from unigate.accounts.authorizer import authorize

    event = {"methodArn": "arn:aws:execute-api:us-east-1:1:api/stage/POST/v1/messages", "headers": headers}
    return dict(authorize(event)["context"])  # type: ignore[arg-type]


def test_the_authorizer_takes_a_key_from_authorization_x_api_key_or_api_key_in_that_order(account: str) -> None:
    _, secret = auth.create_key(account)
    for headers in ({"Authorization": f"Bearer {secret}"}, {"X-Api-Key": secret}, {"api-key": f" {secret} "},
                    {"authorization": "  ", "x-api-key": secret}):
        assert _authorize(headers)["account_id"] == account, headers
    assert _authorize({"Authorization": "Bearer ug_wrong", "x-api-key": secret}) == {"error": "invalid_api_key"}
    assert _authorize({"x-api-key": f"Bearer {secret}"}) == {"error": "invalid_api_key"}
    assert _authorize({}) == {"error": "not_authenticated"}
    assert _authorize({"Proxy-Authorization": f"Bearer {secret}"}) == {"error": "not_authenticated"}


def test_the_authorizer_caches_lookups_by_key_hash_for_its_ttl(account: str, monkeypatch: pytest.MonkeyPatch) -> None:
    from unigate.accounts import authorizer
    from unigate.infra.config import get_settings

    record, secret = auth.create_key(account)
    unknown = keys.generate_key()
    assert _authorize({"x-api-key": secret})["account_id"] == account
    assert _authorize({"x-api-key": unknown}) == {"error": "invalid_api_key"}
    assert keys.hash_key(secret) in authorizer._cache
    assert secret not in str(authorizer._cache)
    auth.revoke_key(record.key_id)
    # Within the TTL the cached outcomes stand (as API Gateway's cache did), each costing no lookup.
    assert _authorize({"Authorization": f"Bearer {secret}"})["account_id"] == account
    assert _authorize({"x-api-key": unknown}) == {"error": "invalid_api_key"}
    monkeypatch.setenv("UNIGATE_AUTHORIZER_CACHE_SECONDS", "0")
    get_settings.cache_clear()
    assert _authorize({"x-api-key": secret}) == {"error": "invalid_api_key"}


def test_a_store_that_cannot_be_read_is_unavailable_and_not_cached(account: str,
                                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    from unigate.accounts import authorizer
    from unigate.stores import keys as key_store

    _, secret = auth.create_key(account)

    def broken(digest: str) -> None:
        raise RuntimeError("DynamoDB is down")

    monkeypatch.setattr(key_store, "get_by_hash", broken)
    assert _authorize({"x-api-key": secret}) == {"error": "unavailable"}
    assert authorizer._cache == {}
    monkeypatch.undo()
    assert _authorize({"x-api-key": secret})["account_id"] == account
