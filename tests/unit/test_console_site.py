"""The console's static files (unigate.web.console): versioned caching, revalidation, security headers and
that only the known files can be reached. The shipped files themselves are checked too: no inline script or
style (the CSP forbids them), no remote URL, no way to write HTML from data."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import ROOT
from unigate.web.console import CONTENT_SECURITY_POLICY, Site

STATIC = ROOT / "functions/console/static"


def _event(resource: str, proxy: str | None = None, *, method: str = "GET", seen: str = "/api/",
           headers: dict[str, str] | None = None) -> dict[str, Any]:
    return {"resource": resource, "httpMethod": method, "headers": headers or {},
            "pathParameters": {"proxy": proxy} if proxy is not None else None, "requestContext": {"path": seen}}


@pytest.fixture
def site(tmp_path: Path) -> Site:
    (tmp_path / "js").mkdir()
    (tmp_path / "index.html").write_text('<script type="module" src="console/v-{{version}}/js/app.js"></script>')
    (tmp_path / "js/app.js").write_text("export const a = 1;\n")
    (tmp_path / "app.css").write_text("body { color: red; }\n")
    return Site(tmp_path)


def test_the_page_names_its_assets_by_version_and_is_revalidated(site: Site) -> None:
    answer = site.respond(_event("/"))
    assert answer["statusCode"] == 200
    assert answer["body"] == f'<script type="module" src="console/v-{site.version}/js/app.js"></script>'
    assert answer["headers"]["Cache-Control"] == "no-cache"
    assert answer["headers"]["Content-Security-Policy"] == CONTENT_SECURITY_POLICY
    again = site.respond(_event("/", headers={"If-None-Match": answer["headers"]["ETag"]}))
    assert again["statusCode"] == 304
    assert again["body"] == ""


def test_versioned_assets_are_immutable_and_others_short_lived(site: Site) -> None:
    current = site.respond(_event("/console/{proxy+}", f"v-{site.version}/js/app.js"))
    assert current["statusCode"] == 200
    assert current["headers"]["Content-Type"] == "text/javascript; charset=utf-8"
    assert current["headers"]["Cache-Control"] == "public, max-age=31536000, immutable"
    assert current["body"] == "export const a = 1;\n"
    # A page from before a deploy asks for the old version: it gets today's file, not cached for long.
    stale = site.respond(_event("/console/{proxy+}", "v-0123456789ab/app.css"))
    assert stale["headers"]["Cache-Control"] == "public, max-age=300"
    assert stale["headers"]["Content-Type"] == "text/css; charset=utf-8"
    assert site.respond(_event("/console/{proxy+}", "app.css"))["headers"]["Cache-Control"] == "public, max-age=300"


def test_the_version_follows_the_contents(tmp_path: Path, site: Site) -> None:
    before = site.version
    (tmp_path / "app.css").write_text("body { color: blue; }\n")
    assert Site(tmp_path).version != before


@pytest.mark.parametrize("proxy", ["../index.html", "../../etc/passwd", "js/../../app.py", "index.html", "js",
                                   "v-x/../app.css", "%2e%2e/app.py", ""])
def test_only_the_known_files_are_served(site: Site, proxy: str) -> None:
    answer = site.respond(_event("/console/{proxy+}", proxy))
    assert answer["statusCode"] == 404
    assert answer["body"] == '{"error": "Not found"}'
    assert answer["headers"]["X-Content-Type-Options"] == "nosniff"


def test_other_methods_are_refused_and_head_has_no_body(site: Site) -> None:
    refused = site.respond(_event("/", method="POST"))
    assert refused["statusCode"] == 405
    assert refused["headers"]["Allow"] == "GET, HEAD"
    head = site.respond(_event("/console/{proxy+}", "app.css", method="HEAD"))
    assert head["statusCode"] == 200
    assert head["body"] == ""


def test_the_page_is_addressed_as_a_folder(site: Site) -> None:
    answer = site.respond(_event("/", seen="/api"))
    assert answer["statusCode"] == 308
    assert answer["headers"]["Location"] == "/api/"


def test_a_head_of_the_page_is_200_without_a_body_with_or_without_the_slash(site: Site) -> None:
    # Claude Code checks its base URL (`https://.../Prod`, no slash) with HEAD before its first request.
    for seen in ("/api/", "/api"):
        answer = site.respond(_event("/", method="HEAD", seen=seen))
        assert answer["statusCode"] == 200, seen
        assert answer["body"] == ""
        assert answer["headers"]["Content-Type"] == "text/html; charset=utf-8"


def test_the_shipped_console_keeps_to_its_policy() -> None:
    files = {p.relative_to(STATIC).as_posix(): p.read_text() for p in STATIC.rglob("*") if p.is_file()}
    own = {name: text for name, text in files.items() if not name.startswith("vendor/")}
    page = files["index.html"]
    # No inline script, style or handler: the CSP (script-src 'self'; style-src 'self') would block them.
    assert not re.search(r"<script(?![^>]*\bsrc=)", page)
    assert "<style" not in page
    assert not re.search(r"\son[a-z]+=", page)
    assert " style=" not in page
    for name, text in own.items():
        # No remote resource: everything comes from the API's own origin (SVG's namespace is a
        # name, not a fetch; example.com is a placeholder).
        assert not re.search(r"""["'(]https?://(?!www\.w3\.org/2000/svg|[a-z-]+\.example\.com)""", text), name
        if name.endswith(".js"):
            # Data never becomes markup: text nodes only.
            assert not re.search(r"innerHTML|outerHTML|insertAdjacentHTML|document\.write|eval\(|new Function",
                                 text), name
            # The key stays in sessionStorage.
            assert "localStorage" not in text
            assert "document.cookie" not in text
    assert "MIT License" in files["vendor/uplot/LICENSE.txt"]
    assert files["vendor/uplot/uPlot.iife.min.js"].startswith("/*! https://github.com/leeoniya/uPlot (v1.6.32) */")
    # The first view (the page, its stylesheet and the modules app.js imports at once) stays small; the chart
    # library and the pages load when used.
    first = ["index.html", "app.css", "favicon.svg", "js/app.js", "js/api.js", "js/dom.js"]
    assert sum(len(files[name].encode()) for name in first) < 40_000
