"""Bring your own provider keys: stored under the account's own path, shown masked, used with
use_custom_keys and charged only the configured fee."""

from __future__ import annotations

import math

import pytest

from tests.fakes.upstream import CANARY_KEYS
from tests.integration.chat_helpers import assert_money_consistent, run_chat
from unigate.catalog import customkeys
from unigate.catalog.entries import get_catalog
from unigate.domain.errors import BadRequest, NotFound
from unigate.infra import aws
from unigate.infra.config import get_settings

MINE = "sk-my-own-openai-key-42"
ASK = {"model": "gpt-4o@openai", "messages": [{"role": "user", "content": "hello"}], "use_custom_keys": True}


def test_keys_are_stored_per_account_and_shown_masked(account: str) -> None:
    assert customkeys.create(account, "openai", MINE) == {"info": "API key created successfully!"}
    assert customkeys.listing(account) == [{"name": "openai", "value": "****y-42"}]
    assert customkeys.show(account, "openai") == {"name": "openai", "value": "****y-42"}
    secret = aws.client("secretsmanager").get_secret_value(SecretId=f"unigate/accounts/{account}/openai")
    assert secret["SecretString"] == MINE
    customkeys.rename(account, "openai", "openai-old")
    assert [k["name"] for k in customkeys.listing(account)] == ["openai-old"]
    customkeys.delete(account, "openai-old")
    assert customkeys.listing(account) == []
    with pytest.raises(NotFound):
        customkeys.show(account, "openai")
    bad = [("../other/openai", MINE), ("ok", "short"), ("ok", "line\nbreak-key-1234"), ("", MINE)]
    for name, value in bad:
        with pytest.raises(BadRequest):
            customkeys.create(account, name, value)


def test_use_custom_keys_sends_the_callers_key_and_charges_nothing(providers, account: str) -> None:
    customkeys.create(account, "openai", MINE)
    _, body = run_chat(ASK)
    assert providers.last("/v1/chat/completions").headers["authorization"] == f"Bearer {MINE}"
    assert body["usage"]["cost"] == 0
    assert assert_money_consistent() == 10_000_000
    run_chat({**ASK, "use_custom_keys": False})
    assert providers.last("/v1/chat/completions").headers["authorization"] == f"Bearer {CANARY_KEYS['openai']}"
    assert assert_money_consistent() < 10_000_000


def test_the_fee_is_a_percent_of_the_list_price(providers, account: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("UNIGATE_BYOK_FEE_PERCENT", "10")
    get_settings.cache_clear()
    customkeys.create(account, "openai", MINE)
    _, body = run_chat(ASK)
    usage = body["usage"]
    list_price = get_catalog().endpoint("gpt-4o", "openai").cost_micros(usage["prompt_tokens"],
                                                                       usage["completion_tokens"])
    assert round(usage["cost"] * 1_000_000) == math.ceil(list_price / 10)
    assert assert_money_consistent() == 10_000_000 - math.ceil(list_price / 10)


def test_a_missing_own_key_is_a_400_before_anything_is_held(providers, account: str) -> None:
    with pytest.raises(BadRequest, match="no custom API key named 'openai'"):
        run_chat(ASK)
    assert providers.received == []
    assert assert_money_consistent() == 10_000_000
