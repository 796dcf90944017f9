"""Issue #29's findings across tenants and at the edges: health belongs to the operator's calls, header values
built from input are always valid, the low findings (renames, SSRF forms, URLs with spaces, anchored
patterns, Unicode deployment names), and upstream nonsense that used to be a 500."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from tests.integration.chat_helpers import assert_money_consistent, run_chat
from unigate.accounts import accounts, billing
from unigate.catalog import customendpoints, customkeys, deployments
from unigate.domain import model_strings
from unigate.domain.errors import BadRequest, Conflict, UnigateError, UpstreamError
from unigate.domain.records import Caller
from unigate.gateway import chat
from unigate.infra import ssrf
from unigate.providers.upstream import retry_after_seconds
from unigate.stores import customkeys as key_store
from unigate.stores.accounts import now_iso

CHAIN = "gpt-4o@openai->llama-3.1-70b-chat@together-ai"


def test_a_tenants_own_bad_key_never_cools_the_endpoint_down_for_others(providers: Any, account: str) -> None:
    """The finding: a custom key with a NUL byte made each request a failure counted against the shared
    endpoint; ten of them turned another tenant's fallback chain away from it. (Such a key is now refused on
    entry, too; this one is stored as an older release would have.)"""
    key_store.put(account, "openai", "sk-bad\x00key-0123", now_iso())
    for _ in range(10):
        with pytest.raises(UnigateError):
            run_chat({"model": "gpt-4o@openai", "use_custom_keys": True,
                      "messages": [{"role": "user", "content": "hi"}]})
    accounts.create_account(name="other", account_id="acct_other")
    billing.grant("acct_other", 10_000_000, idempotency_key="start")
    headers, _ = run_chat({"model": CHAIN, "messages": [{"role": "user", "content": "hi"}]}, "acct_other")
    assert headers["x-unigate-endpoint"] == "gpt-4o@openai"
    assert_money_consistent("acct_other")


@pytest.mark.parametrize("value", ["sk-bad\x00key-0123", "sk-ключ-0123456", "sk has spaces 123", "short"])
def test_a_stored_key_that_fails_validation_is_a_400_naming_it_on_use(providers: Any, account: str,
                                                                      value: str) -> None:
    """A key stored before values were checked on entry (or written to the store directly) is checked again on
    use: a 400 naming the key, before any hold or upstream call, never a connection error counted against the
    shared endpoint."""
    from unigate.gateway import routing

    key_store.put(account, "openai", value, now_iso())
    sent = len(providers.received)
    with pytest.raises(BadRequest) as refused:
        run_chat({"model": "gpt-4o@openai", "use_custom_keys": True, "messages": [{"role": "user", "content": "hi"}]})
    assert refused.value.param == "use_custom_keys"
    assert "'openai'" in refused.value.message
    assert value not in refused.value.message
    assert len(providers.received) == sent
    assert assert_money_consistent() == 10_000_000
    assert routing._known_failures.get("gpt-4o@openai", 0) == 0


def test_a_custom_endpoints_stored_key_that_fails_validation_is_a_400_naming_it(account: str, monkeypatch: Any
                                                                                ) -> None:
    async def vetted(url: str) -> None:
        return None

    monkeypatch.setattr(ssrf, "pin", vetted)
    customkeys.create(account, "mine", "sk-mine-0123456789")
    asyncio.run(customendpoints.create(account, "llm", "https://llm.example.com/v1", "mine"))
    key_store.put(account, "mine", "sk-bad\x00key-0123", now_iso())
    with pytest.raises(BadRequest) as refused:
        chat.prepare({"model": "llm@custom", "messages": [{"role": "user", "content": "hi"}]},
                     Caller(account, "key_test"))
    assert refused.value.param == "model"
    assert "'mine'" in refused.value.message


@pytest.mark.parametrize("value", ["sk-bad\x00key-0123", "sk-ключ-0123456", "sk has spaces 123", "sk-tab\tkey-123"])
def test_custom_key_values_are_validated_on_entry(account: str, value: str) -> None:
    with pytest.raises(BadRequest) as refused:
        customkeys.create(account, "openai", value)
    assert refused.value.param == "value"


def test_unknown_parameter_names_make_a_valid_dropped_params_header(providers: Any, account: str) -> None:
    headers, _ = run_chat({"model": "gpt-4o@openai", "messages": [{"role": "user", "content": "hi"}],
                           "ünïcödé": 1, "a\nb": 2})
    value = headers["x-unigate-dropped-params"]
    value.encode("latin-1")
    assert value.isascii()
    assert value.isprintable()
    assert "%C3%BCn%C3%AFc%C3%B6d%C3%A9" in value


@pytest.mark.parametrize("name", ["\u212aimi", "kimi\u0130", "caf\u00e9"])
def test_deployment_names_are_ascii_so_they_round_trip_through_case_folding(aws: None, name: str) -> None:
    with pytest.raises(BadRequest):
        deployments.create(name, "gpt-4o@openai")


def test_renaming_a_custom_key_to_its_own_name_keeps_it(account: str) -> None:
    customkeys.create(account, "openai", "sk-mine-0123456789")
    customkeys.rename(account, "openai", "openai")
    assert key_store.value(account, "openai") == "sk-mine-0123456789"


def test_renaming_a_custom_key_onto_another_is_refused(account: str) -> None:
    customkeys.create(account, "openai", "sk-first-0123456789")
    customkeys.create(account, "other", "sk-second-0123456789")
    with pytest.raises(Conflict):
        customkeys.rename(account, "openai", "other")
    assert key_store.value(account, "other") == "sk-second-0123456789"
    assert key_store.value(account, "openai") == "sk-first-0123456789"


def test_renaming_a_custom_endpoint_to_its_own_name_or_onto_another(account: str, monkeypatch: Any) -> None:
    async def vetted(url: str) -> None:
        return None

    monkeypatch.setattr(ssrf, "pin", vetted)
    customkeys.create(account, "k", "sk-mine-0123456789")
    for name in ("one", "two"):
        asyncio.run(customendpoints.create(account, name, f"https://{name}.example.com/v1", "k"))
    customendpoints.rename(account, "one", "one")
    with pytest.raises(Conflict):
        customendpoints.rename(account, "one", "two")
    assert {e["name"]: e["url"] for e in customendpoints.listing(account)} == {
        "one": "https://one.example.com/v1", "two": "https://two.example.com/v1"}


def test_a_custom_endpoint_url_with_spaces_is_refused(account: str) -> None:
    customkeys.create(account, "k", "sk-mine-0123456789")
    with pytest.raises(BadRequest) as refused:
        asyncio.run(customendpoints.create(account, "e", "https://api.example.com/v1 HTTP/1.1\r\nX: y", "k"))
    assert refused.value.param == "url"


@pytest.mark.parametrize("address", ["::7f00:1", "::a9fe:a9fe", "::ffff:0:7f00:1", "fec0::1", "::1", "::"])
def test_ssrf_refuses_ipv4_compatible_translated_and_site_local_addresses(address: str) -> None:
    assert ssrf.blocked(address)


@pytest.mark.parametrize("address", ["2606:4700::1111", "8.8.8.8", "::ffff:8.8.8.8"])
def test_ssrf_lets_public_addresses_through(address: str) -> None:
    assert not ssrf.blocked(address)


def test_validation_patterns_are_anchored_at_the_very_end() -> None:
    """`$` also matches before a trailing newline; every pattern ends with \\Z."""
    with pytest.raises(UnigateError):
        model_strings.parse("gpt-4o\n@openai")
    assert model_strings._PROVIDER.match("openai\n") is None
    assert model_strings._MODEL.match("gpt-4o\n") is None


def test_names_with_a_trailing_newline_are_refused(account: str) -> None:
    with pytest.raises(BadRequest):
        customkeys.create(account, "openai\n", "sk-mine-0123456789")
    with pytest.raises(BadRequest):
        billing.grant(account, 1, idempotency_key="key\n")


@pytest.mark.parametrize("value", ["inf", "nan", "1e300", "-inf"])
def test_retry_after_nonsense_is_no_advice(value: str) -> None:
    """`Retry-After: inf` used to overflow into a 500."""
    assert retry_after_seconds(value) in (None, 0.0)


def test_choices_that_are_not_objects_are_a_502_with_the_hold_refunded(providers: Any, account: str,
                                                                      monkeypatch: Any) -> None:
    from unigate.providers.openai import adapter as openai_compat

    async def nonsense(*args: Any, **kwargs: Any) -> Any:
        return {"choices": ["not an object", 3], "usage": {"prompt_tokens": 1, "completion_tokens": 1}}

    monkeypatch.setattr(openai_compat, "post_json", nonsense)
    with pytest.raises(UpstreamError) as failed:
        asyncio.run(chat.complete(chat.prepare({"model": "gpt-4o@openai",
                                                "messages": [{"role": "user", "content": "hi"}]},
                                               Caller(account, "key_test")), Caller(account, "key_test")))
    assert failed.value.status == 502
    assert assert_money_consistent() == 10_000_000


def test_a_tool_choice_naming_no_function_properly_is_no_crash(aws: None) -> None:
    """It raised AttributeError in the Anthropic, Gemini and Bedrock translations (a 500)."""
    for model in ("claude-haiku-4.5@anthropic", "gemini-2.5-flash@gemini", "llama-3.1-70b-chat@aws-bedrock"):
        (prepared,) = chat.prepare({"model": model, "messages": [{"role": "user", "content": "hi"}], "tools": [
            {"type": "function", "function": {"name": "f"}}], "tool_choice": {"type": "function", "function": 3}},
            Caller("acct_test", "key_test"))
        assert prepared.worst_case_micros > 0


def test_query_listing_filters_and_forged_cursors_are_400s(account: str) -> None:
    import base64
    import json

    from unigate.accounts import querylog

    with pytest.raises(BadRequest) as refused:
        querylog.list_queries(account, tags=[f"t{i}" for i in range(1000)])
    assert refused.value.param == "tags"
    forged = {"listing": "queries", "key": {"account_id": {"S": account}, "other": {"S": "x"}}}
    cursor = base64.urlsafe_b64encode(json.dumps(forged).encode()).decode()
    with pytest.raises(BadRequest) as refused:
        querylog.list_queries(account, cursor=cursor)
    assert refused.value.param == "cursor"
