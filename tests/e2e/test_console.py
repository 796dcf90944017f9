"""The web console in a real browser: headless Chromium (the system's, Debian's `chromium` package) driven by
Playwright against the local server (`unigate dev`), with traffic sent through the API as a client would.

One browser for the module; each test opens its own context (its own sessionStorage, so it signs in anew)
and fails on any console error or uncaught exception. Screenshots of each page go to
.unigate/console-screenshots/ (UNIGATE_SCREENSHOTS moves them; docs/console-*.png are copies of three).
"""

from __future__ import annotations

import os
import shutil
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.conftest import ROOT

pytestmark = pytest.mark.e2e

CHROMIUM = os.environ.get("UNIGATE_CHROMIUM") or shutil.which("chromium") or shutil.which("chromium-browser")
SHOTS = Path(os.environ.get("UNIGATE_SCREENSHOTS") or ROOT / ".unigate" / "console-screenshots")
HOSTILE_TAG = "<img src=x onerror=alert(1)>"
# A refused key makes Chromium log the failed request itself; it is expected where a test sends one.
REFUSED = "Failed to load resource: the server responded with a status of 401 (Unauthorized)"


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    if CHROMIUM is None:
        pytest.skip("no Chromium: the console's browser tests need Debian's `chromium` package. `make test` installs "
                    "it when run as root (or run `sudo apt-get install chromium`), or set UNIGATE_CHROMIUM to a "
                    "Chromium binary.")
    playwright_api = pytest.importorskip("playwright.sync_api", reason="Playwright for Python is in the test "
                                         "extra: `make .venv/.test` installs it from the lock")
    with playwright_api.sync_playwright() as playwright:
        # The system's browser: Playwright's own downloads are never used.
        launched = playwright.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        yield launched
        launched.close()


class Console:
    """A page of the console in a fresh browser context, with what its console and network reported."""

    def __init__(self, browser: Any, url: str, *, width: int = 1280, height: int = 900) -> None:
        self.url = url
        self.context = browser.new_context(viewport={"width": width, "height": height})
        self.page = self.context.new_page()
        self.errors: list[str] = []
        self.dialogs: list[str] = []
        self.responses: list[Any] = []
        self.page.on("console", lambda m: self.errors.append(m.text) if m.type == "error" else None)
        self.page.on("pageerror", lambda e: self.errors.append(f"uncaught: {e}"))
        self.page.on("dialog", lambda d: (self.dialogs.append(d.message), d.dismiss()))
        # A bound builtin cannot be a Playwright handler (it sets an attribute on the handler).
        self.page.on("response", lambda r: self.responses.append(r))  # noqa: PLW0108

    def open(self, route: str = "") -> None:
        self.page.goto(f"{self.url}/{route}")

    def sign_in(self, key: str) -> None:
        self.open()
        self.page.fill("#key", key)
        self.page.click("#signin-form button[type=submit]")

    def go(self, route: str) -> None:
        self.page.evaluate("route => { location.hash = route; }", route)

    def shot(self, name: str, *, full_page: bool = True) -> Path:
        SHOTS.mkdir(parents=True, exist_ok=True)
        path = SHOTS / f"{name}.png"
        self.page.evaluate("window.scrollTo(0, 0)")
        self.page.screenshot(path=str(path), full_page=full_page)
        if full_page:
            self.page.screenshot(path=str(SHOTS / f"{name}-top.png"))
        return path


@pytest.fixture
def console(browser: Any, server: Any) -> Iterator[Console]:
    opened = Console(browser, server.url)
    yield opened
    opened.context.close()
    assert opened.errors == []
    assert opened.dialogs == []


def _chat(server: Any, model: str, *, tags: list[str], stream: bool = True, text: str = "one two three four") -> None:
    response = httpx.post(f"{server.url}/v0/chat/completions", timeout=30,
                          headers={"Authorization": f"Bearer {server.key}"},
                          json={"model": model, "stream": stream, "tags": tags,
                                "messages": [{"role": "user", "content": text}]})
    assert response.status_code == 200, response.text


def _money(credits: float) -> str:
    """A balance as the console shows it: to the micro-credit, at least two decimals."""
    whole, _, fraction = f"{credits:,.6f}".partition(".")
    return f"${whole}.{fraction.rstrip('0').ljust(2, '0')}"


def _credits(server: Any) -> float:
    return httpx.get(f"{server.url}/v0/credits", headers={"Authorization": f"Bearer {server.key}"}).json()["credits"]


def test_make_dev_prints_the_console_link_first(server: Any) -> None:
    assert (server.state_dir / "server.log").read_text().splitlines()[0] == f"console  {server.url}/"


def test_the_first_view_is_small_cached_and_locked_down(console: Console) -> None:
    console.open()
    console.page.wait_for_selector("#signin-form")
    console.page.wait_for_load_state("networkidle")
    loaded = [r for r in console.responses if r.url.startswith(console.url)]
    assert sum(len(r.body()) for r in loaded) < 100_000
    page, *assets = loaded
    assert page.headers["content-security-policy"].startswith("default-src 'self'; script-src 'self';")
    assert page.headers["cache-control"] == "no-cache"
    assert assets
    assert all("/console/v-" in r.url for r in assets)
    assert {r.headers["cache-control"] for r in assets} == {"public, max-age=31536000, immutable"}
    # The chart library is loaded only by a page that draws a chart.
    assert not [r for r in loaded if "uPlot" in r.url]
    console.shot("sign-in")


def test_a_wrong_key_says_so_and_the_right_one_shows_the_balance(console: Console, server: Any) -> None:
    console.sign_in("ug_" + "A" * 38)
    error = console.page.locator("#signin-error")
    error.wait_for(state="visible")
    assert "not accepted" in error.inner_text()
    assert console.page.locator("#nav").is_hidden()
    console.errors.remove(REFUSED)

    console.page.fill("#key", server.key)
    console.page.click("#signin-form button[type=submit]")
    console.page.wait_for_selector("#model-search")
    balance = _credits(server)
    assert console.page.locator("#who").inner_text().endswith(_money(balance))
    # The key is kept in this tab only: not in the URL, not in a cookie.
    assert server.key not in console.page.url
    assert console.context.cookies() == []
    assert console.page.evaluate("sessionStorage.getItem('unigate.key')") == server.key


def test_traffic_shows_in_the_benchmarks_the_charts_and_the_query_log(console: Console, server: Any,
                                                                      fake_upstream: Any) -> None:
    tag = f"console-{uuid.uuid4().hex[:8]}"
    fake_upstream.delays.update({"alpha": 0.08, "beta": 0.01})
    try:
        for _ in range(6):
            for provider in ("alpha", "beta"):
                _chat(server, f"routing-test@{provider}", tags=[tag, provider])
    finally:
        fake_upstream.delays.clear()
    console.sign_in(server.key)
    console.page.wait_for_selector("#model-search")
    console.go("#/benchmarks?model=routing-test")
    console.page.wait_for_selector("#price-chart canvas")
    console.page.wait_for_selector("#history-chart canvas")
    rows = console.page.locator("#endpoints tbody tr")
    assert rows.count() == 2
    by_endpoint = {rows.nth(i).locator("td").first.inner_text().split()[0]: rows.nth(i).locator("td").all_inner_texts()
                   for i in range(2)}
    assert set(by_endpoint) == {"routing-test@alpha", "routing-test@beta"}
    for cells in by_endpoint.values():
        assert int(cells[10]) >= 6  # samples
        assert cells[1].endswith(" ms")
        assert cells[11] == "just now"
    assert by_endpoint["routing-test@alpha"][6] == "$0.5"  # input price per 1M, from the catalog
    choices = dict(zip(console.page.locator("#choices .choice b").all_inner_texts(),
                       console.page.locator("#choices .choice code").all_inner_texts(), strict=True))
    assert choices["routing-test@lowest-ttft"] == "routing-test@beta"
    assert choices["routing-test@lowest-input-cost"] == "routing-test@alpha"
    console.shot("benchmarks")

    console.go("#/account")
    console.page.wait_for_selector("#spend-chart canvas")
    log = console.page.locator("#querylog")
    log.get_by_text(tag).first.wait_for()
    assert console.page.locator("#balance-value").inner_text() == _money(_credits(server))
    assert tag in console.page.locator("#spend-tags").inner_text()
    console.page.fill("#log-tag", "beta")
    console.page.click("#log-filters button[type=submit]")
    console.page.wait_for_function("() => { const rows = [...document.querySelectorAll('#log-results tbody tr')];"
                                   " return rows.length && rows.every(r => r.innerText.includes('test@beta')); }")
    shown = console.page.locator("#log-results tbody tr")
    assert shown.count() >= 6
    assert all("beta" in text for text in shown.all_inner_texts())
    console.shot("account")


def test_a_hostile_tag_is_shown_as_text_and_runs_nothing(console: Console, server: Any) -> None:
    _chat(server, "echo@echo", tags=[HOSTILE_TAG], stream=False)
    console.sign_in(server.key)
    console.page.wait_for_selector("#model-search")
    console.go("#/account")
    chip = console.page.locator("#log-results .chip", has_text=HOSTILE_TAG).first
    chip.wait_for()
    assert chip.inner_text() == HOSTILE_TAG
    assert console.page.locator("#querylog img, #spend img").count() == 0
    assert HOSTILE_TAG in console.page.locator("#spend-tags").inner_text()
    # Nothing ran: no alert (the fixture fails on any dialog), no request for the image.
    assert not [r for r in console.responses if r.url.endswith("/x")]


def test_a_provider_key_is_added_masked_renamed_and_deleted(console: Console, server: Any) -> None:
    name, secret = f"k{uuid.uuid4().hex[:6]}", "sk-console-test-9f3a2b7c"
    console.sign_in(server.key)
    console.page.wait_for_selector("#model-search")
    console.go("#/account")
    console.page.fill("#key-name", name)
    console.page.fill("#key-value", secret)
    console.page.click("#key-form button[type=submit]")
    row = console.page.locator("#keys tbody tr", has_text=name)
    row.wait_for()
    assert row.locator("td").nth(1).inner_text() == "****" + secret[-4:]
    assert secret not in console.page.content()
    renamed = f"{name}-renamed"
    row.get_by_role("button", name="Rename").click()
    console.page.fill(f"#keys input[aria-label='New name for {name}']", renamed)
    console.page.locator("#keys form.inline button[type=submit]", has_text="Save").click()
    row = console.page.locator("#keys tbody tr", has_text=renamed)
    row.wait_for()
    assert row.locator("td").nth(1).inner_text() == "****" + secret[-4:]
    # A custom endpoint on a private address is refused, and the page says why.
    endpoints = console.page.locator("#custom-endpoints")
    endpoints.get_by_label("Endpoint name").fill("mine")
    endpoints.get_by_label("Endpoint URL").fill("https://127.0.0.1:9/v1")
    endpoints.get_by_label("Key for the endpoint").select_option(renamed)
    endpoints.get_by_role("button", name="Add endpoint").click()
    refusal = endpoints.get_by_role("alert")
    refusal.wait_for(state="visible")
    assert "only public addresses are allowed" in refusal.inner_text()
    # The browser logs the refused request itself.
    console.errors.remove("Failed to load resource: the server responded with a status of 400 (Bad Request)")
    row.get_by_role("button", name="Delete").click()
    row.get_by_role("button", name="Confirm").click()
    row.wait_for(state="detached")
    listed = httpx.get(f"{server.url}/v0/custom_api_key/list", headers={"Authorization": f"Bearer {server.key}"})
    assert not [k for k in listed.json() if k["name"].startswith(name)]


def test_the_models_page_searches_filters_and_copies(console: Console, server: Any) -> None:
    console.sign_in(server.key)
    console.page.wait_for_selector("#model-search")
    console.go("#/models")
    console.page.wait_for_selector("#models-table tbody tr")
    console.shot("models")
    total = len(httpx.get(f"{server.url}/v1/models", headers={"Authorization": f"Bearer {server.key}"}).json()["data"])
    assert console.page.locator("#models-table tbody tr").count() == min(total, 50)
    console.page.fill("#models-search", "routing-test")
    console.page.wait_for_function("() => document.querySelectorAll('#models-table tbody tr').length === 3")
    endpoints = console.page.locator("#models-table tbody tr td:first-child code").all_inner_texts()
    assert sorted(endpoints) == ["routing-test-mini@alpha", "routing-test@alpha", "routing-test@beta"]
    console.page.fill("#models-search", "")
    console.page.select_option("#models-type", "embedding")
    console.page.wait_for_function("() => { const types = [...document.querySelectorAll('#models-table tbody tr "
                                   "td:nth-child(2)')]; return types.length && types.every(c => c.innerText === "
                                   "'embedding'); }")
    assert console.page.locator("#models-table tbody tr").count() > 0


def test_the_pages_fit_a_phone(browser: Any, server: Any) -> None:
    phone = Console(browser, server.url, width=390, height=844)
    try:
        phone.sign_in(server.key)
        phone.page.wait_for_selector("#model-search")
        for route, ready in (("#/account", "#log-results table, #log-results .empty"),
                             ("#/models", "#models-table table"),
                             ("#/benchmarks?model=echo", "#endpoints")):
            phone.go(route)
            phone.page.wait_for_selector(ready)
            assert phone.page.evaluate("document.documentElement.scrollWidth") <= 390, route
        phone.go("#/account")
        phone.page.wait_for_selector("#log-results table, #log-results .empty")
        phone.shot("account-phone")
        assert phone.errors == []
    finally:
        phone.context.close()
