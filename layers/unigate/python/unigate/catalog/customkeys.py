"""Bring your own provider keys (Unify's custom API keys), per account (service layer).

A key named after a provider (`openai`, `anthropic`...) is used instead of the gateway's own when a chat
request sets `use_custom_keys`; such requests are charged only the configured fee. Values are shown
again only masked to their last four characters (Unify's listing does the same; unigate masks the
single-key answer too, as a key once stored should not be readable back through the API).
"""

from __future__ import annotations

import re
from typing import Any

from unigate.domain.errors import BadRequest, Conflict, NotFound
from unigate.stores import customkeys as store
from unigate.stores.accounts import now_iso

_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._\-]{0,63}\Z")


def check_name(name: str, field: str = "name") -> str:
    if not isinstance(name, str) or not _NAME.match(name):
        raise BadRequest(f"'{field}' must be 1-64 characters of A-Z a-z 0-9 . _ -", param=field)
    return name


def _masked(item: dict[str, Any]) -> dict[str, str]:
    return {"name": item["name"], "value": "****" + str(item.get("hint", ""))}


VALUE_RULE = "a key of 8-4096 printable ASCII characters without spaces"


def valid_value(value: object) -> bool:
    """A key value that can go into an HTTP header: printable ASCII without spaces, or every call with it would
    fail (and, before this check, count against the shared endpoint's health)."""
    return isinstance(value, str) and 8 <= len(value) <= 4096 and value.isascii() and value.isprintable() \
        and " " not in value


def usable(name: str, value: str, *, param: str) -> str:
    """A stored value as it is used, checked again: one stored before the check on entry existed (or written to
    the store directly) is a 400 naming the key, never a failed call to the provider."""
    if not valid_value(value):
        raise BadRequest(f"The custom API key {name!r} holds a value that is not {VALUE_RULE}; store it again "
                         f"(POST /v0/custom_api_key?name={name}&value=...).", param=param)
    return value


def create(account_id: str, name: str, value: str) -> dict[str, str]:
    check_name(name)
    if not valid_value(value):
        raise BadRequest(f"'value' must be {VALUE_RULE}.", param="value")
    store.put(account_id, name, value, now_iso())
    return {"info": "API key created successfully!"}


def show(account_id: str, name: str) -> dict[str, str]:
    for item in store.listed(account_id):
        if item["name"] == check_name(name):
            return _masked(item)
    raise NotFound(f"No custom API key named {name!r}.", param="name")


def listing(account_id: str) -> list[dict[str, str]]:
    return [_masked(item) for item in store.listed(account_id)]


def delete(account_id: str, name: str) -> dict[str, str]:
    if not store.delete(account_id, check_name(name)):
        raise NotFound(f"No custom API key named {name!r}.", param="name")
    return {"info": "API key deleted successfully!"}


def rename(account_id: str, name: str, new_name: str) -> dict[str, str]:
    secret = store.value(account_id, check_name(name))
    if secret is None:
        raise NotFound(f"No custom API key named {name!r}.", param="name")
    if check_name(new_name, "new_name") == name:
        return {"info": "API key renamed successfully!"}  # renaming to its own name changes nothing
    if store.value(account_id, new_name) is not None:
        raise Conflict(f"A custom API key named {new_name!r} already exists.", param="new_name")
    store.put(account_id, new_name, secret, now_iso())
    store.delete(account_id, name)
    return {"info": "API key renamed successfully!"}


def provider_key(account_id: str, provider: str) -> str:
    """The caller's own key for a provider, for `use_custom_keys`; a 400 when there is none."""
    secret = store.value(account_id, provider)
    if secret is None:
        raise BadRequest(f"use_custom_keys is set, but you have no custom API key named {provider!r} "
                         f"(create one with POST /v0/custom_api_key?name={provider}&value=...).",
                         param="use_custom_keys")
    return usable(provider, secret, param="use_custom_keys")
