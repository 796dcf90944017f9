"""The web console's static files (GET / and /console/*), answered to API Gateway proxy events.

The files are read once per process and served from memory: nothing a request names is ever opened, so a
path is either one of the known files or a 404. Every asset is addressed under a version made from the
files' own contents (`/console/v-<hash>/...`, written into the page), so it can be cached for a year and
a deploy is seen at once; the page itself is revalidated each time (ETag). Every answer carries a strict
Content-Security-Policy: the console's scripts and styles come from the API's own origin, and its data
from the public JSON API on that origin with the user's key.

No FastAPI here: serving a file needs none of it, and the function's cold start stays a bare handler's.
"""

from __future__ import annotations

import hashlib
import json
import mimetypes
from dataclasses import dataclass
from pathlib import Path
from typing import Any

CONTENT_SECURITY_POLICY = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self'; connect-src 'self'; "
    "font-src 'self'; object-src 'none'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
)
SECURITY_HEADERS = {
    "Content-Security-Policy": CONTENT_SECURITY_POLICY,
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "X-Frame-Options": "DENY",
    "Cross-Origin-Opener-Policy": "same-origin",
}
IMMUTABLE = "public, max-age=31536000, immutable"
# Unversioned asset paths (an old page, a bookmark): short, so a deploy is picked up soon.
SHORT = "public, max-age=300"
PAGE = "no-cache"
INDEX = "index.html"
# Written into the page where its assets' version goes.
VERSION_MARK = "{{version}}"
_TYPES = {".js": "text/javascript; charset=utf-8", ".css": "text/css; charset=utf-8",
          ".html": "text/html; charset=utf-8", ".svg": "image/svg+xml", ".txt": "text/plain; charset=utf-8",
          ".json": "application/json"}


@dataclass(frozen=True)
class _File:
    body: str
    content_type: str
    etag: str


def _file(body: str, name: str) -> _File:
    suffix = Path(name).suffix
    content_type = _TYPES.get(suffix) or mimetypes.guess_type(name)[0] or "application/octet-stream"
    return _File(body, content_type, '"' + hashlib.sha256(body.encode()).hexdigest()[:20] + '"')


class Site:
    def __init__(self, root: Path) -> None:
        texts = {p.relative_to(root).as_posix(): p.read_text(encoding="utf-8")
                 for p in sorted(root.rglob("*")) if p.is_file()}
        digest = hashlib.sha256()
        for name, text in texts.items():
            digest.update(name.encode() + b"\0" + text.encode() + b"\0")
        self.version = digest.hexdigest()[:12]
        self.files = {name: _file(text, name) for name, text in texts.items() if name != INDEX}
        self.page = _file(texts[INDEX].replace(VERSION_MARK, self.version), INDEX)

    def respond(self, event: dict[str, Any]) -> dict[str, Any]:
        method = event.get("httpMethod", "GET")
        if method not in ("GET", "HEAD"):
            return self._error(405, "Method not allowed", {"Allow": "GET, HEAD"})
        if event.get("resource") == "/console/{proxy+}":
            name = (event.get("pathParameters") or {}).get("proxy", "")
            prefix, _, rest = name.partition("/")
            versioned = prefix.startswith("v-")
            if versioned:
                name = rest
            found = self.files.get(name)
            cache = IMMUTABLE if versioned and prefix == f"v-{self.version}" else SHORT
        else:
            # The page's asset links are relative (the API may sit under a stage or base path): the page must
            # be addressed as a folder, `/api/` rather than `/api`. A HEAD (clients such as Claude Code check
            # their base URL with one, written without the slash) is answered as it is: it loads no assets.
            seen = (event.get("requestContext") or {}).get("path") or "/"
            if not seen.endswith("/") and method != "HEAD":
                return {"statusCode": 308, "headers": {**SECURITY_HEADERS, "Location": seen + "/",
                                                        "Cache-Control": SHORT}, "body": "", "isBase64Encoded": False}
            found, cache = self.page, PAGE
        if found is None:
            return self._error(404, "Not found")
        headers = {**SECURITY_HEADERS, "Content-Type": found.content_type, "Cache-Control": cache,
                   "ETag": found.etag}
        request_headers = {k.lower(): v for k, v in (event.get("headers") or {}).items()}
        if found.etag in request_headers.get("if-none-match", ""):
            return {"statusCode": 304, "headers": headers, "body": "", "isBase64Encoded": False}
        return {"statusCode": 200, "headers": headers, "body": "" if method == "HEAD" else found.body,
                "isBase64Encoded": False}

    @staticmethod
    def _error(status: int, message: str, extra: dict[str, str] | None = None) -> dict[str, Any]:
        headers = {**SECURITY_HEADERS, "Content-Type": "application/json", "Cache-Control": "no-store",
                   **(extra or {})}
        return {"statusCode": status, "headers": headers, "body": json.dumps({"error": message}),
                "isBase64Encoded": False}
