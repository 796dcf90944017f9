"""Custom endpoints (`name@custom`): OpenAI-compatible servers registered by callers. The call connects to the
address vetted before its hold (unigate.infra.ssrf, chat._attempt), keeping the host name for TLS."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import replace
from typing import Any

from unigate.infra import ssrf
from unigate.infra.config import get_settings
from unigate.providers.base import UpstreamCall
from unigate.providers.openai.adapter import OpenAICompatible


class CustomEndpoint(OpenAICompatible):
    async def _pinned(self, call: UpstreamCall) -> UpstreamCall:
        target = call.pinned if isinstance(call.pinned, ssrf.Pinned) else await ssrf.pin(call.provider.base_url or "")
        if get_settings().egress_proxy:
            # aiohttp verifies TLS through a proxy's tunnel against the URL's host, so the URL keeps the host
            # name, and the proxy resolves it (see config.Settings.egress_proxy).
            return replace(call, pinned=target)
        return replace(call, pinned=target, credentials={**call.credentials, "base_url": target.base_url})

    def headers(self, call: UpstreamCall) -> dict[str, str]:
        headers = super().headers(call)
        if isinstance(call.pinned, ssrf.Pinned) and not get_settings().egress_proxy:
            headers["Host"] = call.pinned.host_header
        return headers

    def request_options(self, call: UpstreamCall) -> dict[str, Any]:
        if isinstance(call.pinned, ssrf.Pinned) and not get_settings().egress_proxy:
            # The URL names the address: TLS verifies the host name (and it is what the server is told, SNI).
            # Plain http to a pinned address (policy "any" only) gets its own pool too, by host name.
            return {"server_name": call.pinned.server_name}
        return {}

    async def complete(self, call: UpstreamCall) -> dict[str, Any]:
        return await super().complete(await self._pinned(call))

    async def stream(self, call: UpstreamCall) -> AsyncIterator[dict[str, Any]]:
        async for item in super().stream(await self._pinned(call)):
            yield item
