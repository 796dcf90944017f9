"""Custom endpoints (Unify's `name@custom`): an OpenAI-compatible URL of the caller's own, called with one
of the caller's custom API keys (service layer).

The URL is vetted against SSRF at registration and again before every call's hold (unigate.infra.ssrf). Requests to a
custom endpoint cost no credits: the caller pays its own provider; they still hold (zero), settle, and
write their query log record.
"""

from __future__ import annotations

from decimal import Decimal

from unigate.catalog.customkeys import check_name, usable
from unigate.catalog.entries import EndpointSpec, ProviderSpec
from unigate.domain.errors import BadRequest, Conflict, NotFound
from unigate.domain.openai_params import OPENAI_PARAMS
from unigate.infra import ssrf
from unigate.stores import customendpoints as store
from unigate.stores import customkeys as key_store
from unigate.stores.accounts import now_iso

PROVIDER = "custom"
MAX_URL = 2048


async def create(account_id: str, name: str, url: str, key_name: str, model_arg: str | None = None
                 ) -> dict[str, str]:
    check_name(name)
    check_name(key_name, "key_name")
    if not isinstance(url, str) or len(url) > MAX_URL or not (url.isascii() and url.isprintable()) or " " in url:
        raise BadRequest(f"'url' must be a URL of at most {MAX_URL} printable ASCII characters without spaces.",
                         param="url")
    if model_arg is not None and (not model_arg or len(model_arg) > 256):
        raise BadRequest("'model_arg' must be 1-256 characters.", param="model_arg")
    await ssrf.pin(url)
    if not any(item["name"] == key_name for item in key_store.listed(account_id)):
        raise NotFound("Custom API Key not found.", param="key_name")
    store.put(account_id, {"name": name, "url": url.rstrip("/"), "key_name": key_name,
                           "model_arg": model_arg or name, "created_at": now_iso()})
    return {"info": "Custom endpoint created successfully!"}


def listing(account_id: str) -> list[dict[str, str]]:
    return [{"name": i["name"], "model_arg": i["model_arg"], "url": i["url"], "key": i["key_name"]}
            for i in store.listed(account_id)]


def delete(account_id: str, name: str) -> dict[str, str]:
    if not store.delete(account_id, check_name(name)):
        raise NotFound("Custom endpoint not found.", param="name")
    return {"info": "Custom endpoint deleted successfully!"}


def rename(account_id: str, name: str, new_name: str) -> dict[str, str]:
    item = store.get(account_id, check_name(name))
    if item is None:
        raise NotFound("Custom endpoint not found.", param="name")
    if check_name(new_name, "new_name") == name:
        return {"info": "Custom endpoint renamed successfully!"}  # renaming to its own name changes nothing
    if store.get(account_id, new_name) is not None:
        raise Conflict(f"A custom endpoint named {new_name!r} already exists.", param="new_name")
    store.put(account_id, {**{k: v for k, v in item.items() if k not in ("account_id", "sk")},
                           "name": check_name(new_name, "new_name")})
    store.delete(account_id, name)
    return {"info": "Custom endpoint renamed successfully!"}


def resolve(account_id: str, name: str) -> tuple[EndpointSpec, ProviderSpec, str]:
    """The endpoint and provider a `name@custom` request goes to, and the caller's key for it. The URL's
    form is checked here; its addresses, which need DNS, before the attempt's hold (chat._attempt)."""
    item = store.get(account_id, name)
    if item is None:
        raise NotFound(f"No custom endpoint named {name!r}.", param="model")
    ssrf.check(item["url"])
    key = key_store.value(account_id, item["key_name"])
    if key is None:
        raise BadRequest(f"The custom API key {item['key_name']!r} of {name}@custom no longer exists.", param="model")
    usable(item["key_name"], key, param="model")

    endpoint = EndpointSpec(name=f"{name}@{PROVIDER}", upstream=item["model_arg"], input=Decimal(0), output=Decimal(0),
                            context=10_000_000, max_output=1_000_000)
    provider = ProviderSpec(name=PROVIDER, family="custom", base_url=item["url"], params=OPENAI_PARAMS)
    return endpoint, provider, key

