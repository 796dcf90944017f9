"""Deployments: admin-created names bound to an endpoint plus settings (model version, capacity,
content filter, rate limits), used as `model` in any case.

Requests read them from a per-process cache refreshed every `deployment_cache_seconds`, so a request
naming a deployment costs no DynamoDB read on a warm function; changes reach every function within
that time.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime

from unigate.catalog.entries import get_catalog
from unigate.domain import contentfilter, model_strings
from unigate.domain.errors import BadRequest, Conflict, NotFound
from unigate.domain.records import Deployment, FilterCategory
from unigate.infra.config import get_settings
from unigate.stores import deployments as store

CAPACITY_TYPES = ("on-demand", "provisioned")
_cache: tuple[float, dict[str, Deployment]] | None = None


def _by_name() -> dict[str, Deployment]:
    global _cache  # noqa: PLW0603 - the per-process cache
    now = time.monotonic()
    if _cache is None or now - _cache[0] > get_settings().deployment_cache_seconds:
        _cache = (now, {d.name.lower(): d for d in store.all_deployments()})
    return _cache[1]


def forget() -> None:
    global _cache  # noqa: PLW0603
    _cache = None


def find(name: str) -> Deployment | None:
    return _by_name().get(name.lower())


def listed() -> list[Deployment]:
    return sorted(_by_name().values(), key=lambda d: d.name.lower())


def create(name: str, endpoint: str, *, model_version: str = "", capacity_type: str = "on-demand",
           capacity_tpm: int | None = None, rpm: int | None = None, tpm: int | None = None,
           content_filter: tuple[FilterCategory, ...] = (), replace: bool = False) -> Deployment:
    """Checks and stores a deployment: a plain name, an endpoint in the catalog, a known capacity type,
    positive limits and a content filter whose patterns compile. A name may equal a model's (Azure's own
    example is `Mistral-large`): a bare name without `@` always means a deployment."""
    # ASCII only: names are matched case-insensitively, and only ASCII round-trips through case folding (the
    # KELVIN SIGN lowers to "k", so a name with it would capture another's requests and never be reachable
    # itself); it also keeps the name a valid header value (x-unigate-deployment).
    if not name or len(name) > 64 or not name.isascii() or not all(c.isalnum() or c in "-_." for c in name):
        raise BadRequest("A deployment name is 1 to 64 ASCII letters, digits, '-', '_' or '.'.", param="name")
    chain = model_strings.parse(endpoint)
    if len(chain) != 1 or not isinstance(chain[0].provider, str):
        raise BadRequest("A deployment binds one endpoint, model@provider.", param="endpoint")
    get_catalog().endpoint(chain[0].model, chain[0].provider)
    if capacity_type not in CAPACITY_TYPES:
        raise BadRequest(f"capacity_type is one of {', '.join(CAPACITY_TYPES)}.", param="capacity_type")
    if capacity_type == "provisioned" and capacity_tpm is None:
        raise BadRequest("A provisioned deployment needs its capacity in tokens per minute.", param="capacity_tpm")
    for label, value in (("capacity_tpm", capacity_tpm), ("rpm", rpm), ("tpm", tpm)):
        if value is not None and value < 1:
            raise BadRequest(f"{label} must be at least 1.", param=label)
    contentfilter.validate(content_filter)
    if not replace and find(name) is not None:
        forget()
        if find(name) is not None:
            raise Conflict(f"A deployment named {name!r} exists already.")
    deployment = Deployment(
        name=name, endpoint=endpoint, model_version=model_version, capacity_type=capacity_type,
        capacity_tpm=capacity_tpm, rpm=rpm, tpm=tpm, content_filter=content_filter,
        created_at=datetime.now(UTC).isoformat(timespec="seconds").replace("+00:00", "Z"),
    )
    store.put(deployment)
    forget()
    return deployment


def delete(name: str) -> None:
    if not store.delete(name):
        raise NotFound(f"No deployment named {name!r}.")
    forget()


def categories_from(spec: object) -> tuple[FilterCategory, ...]:
    """A content filter from its JSON form: {"category": {"terms": [...], "patterns": [...],
    "input": true, "output": true}, ...}."""
    if spec is None:
        return ()
    if not isinstance(spec, dict):
        raise BadRequest("content_filter maps category names to {terms, patterns, input, output}.",
                         param="content_filter")
    categories = []
    for name, entry in spec.items():
        if not isinstance(entry, dict):
            raise BadRequest(f"content_filter.{name} must be an object.", param="content_filter")
        terms, patterns = entry.get("terms") or [], entry.get("patterns") or []
        if not all(isinstance(t, str) for t in [*terms, *patterns]):
            raise BadRequest(f"content_filter.{name}: terms and patterns are strings.", param="content_filter")
        categories.append(FilterCategory(name=str(name), terms=tuple(terms), patterns=tuple(patterns),
                                         input=bool(entry.get("input", True)), output=bool(entry.get("output", True))))
    return tuple(categories)
