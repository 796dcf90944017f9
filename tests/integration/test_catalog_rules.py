"""What the catalog's marks do to requests: deprecated endpoints are never chosen by a meta-provider
(but answer when named), and an endpoint without a known price is refused before any hold unless the
operator marked it free."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import use_catalog
from tests.fakes.upstream import catalog_override
from tests.integration.chat_helpers import assert_money_consistent, run_chat
from unigate.catalog.entries import get_catalog
from unigate.domain.errors import NotFound, Unpriced

ENTRY = {"upstream": "routing-test", "context": 8192, "max_output": 1024}
EXTRA = {
    # The cheapest on input, but past its deprecation date.
    "marked@alpha": {**ENTRY, "input": "0.01", "output": "0.01", "deprecation_date": "2020-01-01"},
    "marked@beta": {**ENTRY, "input": "0.50", "output": "0.50", "deprecation_date": "2999-01-01"},
    "gone@alpha": {**ENTRY, "input": "0.01", "output": "0.01", "deprecation_date": "2020-01-01"},
    "unpriced@alpha": ENTRY,
    "unpriced@beta": {**ENTRY, "input": "0.50", "output": "0.50"},
    "free@alpha": {**ENTRY, "free": True},
}


@pytest.fixture
def marked(providers: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    doc = catalog_override(providers.url)
    doc["endpoints"].update(EXTRA)
    use_catalog(doc, tmp_path / "marked.json", monkeypatch)
    yield providers
    get_catalog.cache_clear()


def _ask(model: str) -> dict[str, Any]:
    return {"model": model, "messages": [{"role": "user", "content": "hello"}]}


def test_a_meta_provider_never_chooses_a_deprecated_endpoint(marked: Any, account: str) -> None:
    assert run_chat(_ask("marked@lowest-input-cost"))[0]["x-unigate-endpoint"] == "marked@beta"
    # Named, it still answers (kept, only not chosen).
    assert run_chat(_ask("marked@alpha"))[0]["x-unigate-endpoint"] == "marked@alpha"
    with pytest.raises(NotFound, match="deprecated or unpriced"):
        run_chat(_ask("gone@lowest-input-cost"))


def test_an_unpriced_endpoint_is_refused_before_any_hold(marked: Any, account: str) -> None:
    before = assert_money_consistent()
    with pytest.raises(Unpriced, match="no known price") as refused:
        run_chat(_ask("unpriced@alpha"))
    assert refused.value.status == 503
    assert assert_money_consistent() == before
    assert marked.count("/alpha/") == 0
    # A meta-provider passes over it.
    assert run_chat(_ask("unpriced@lowest-input-cost"))[0]["x-unigate-endpoint"] == "unpriced@beta"


def test_an_endpoint_marked_free_is_served_at_zero(marked: Any, account: str) -> None:
    before = assert_money_consistent()
    _, body = run_chat(_ask("free@alpha"))
    assert body["usage"]["cost"] == 0
    assert assert_money_consistent() == before
