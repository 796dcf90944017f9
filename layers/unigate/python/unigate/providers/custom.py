"""Custom endpoints (`name@custom`): OpenAI-compatible servers registered by callers. Every call vets the
URL again and connects to the address it checked (unigate.infra.ssrf), keeping the host name for TLS."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import replace
from typing import Any

from unigate.infra import ssrf
from unigate.providers.base import UpstreamCall
from unigate.providers.openai_compat import OpenAICompatible


class CustomEndpoint(OpenAICompatible):
    async def _pinned(self, call: UpstreamCall) -> UpstreamCall:
        target = await asyncio.to_thread(ssrf.pin, call.provider.base_url or "")
        return replace(call, credentials={**call.credentials, "base_url": target.base_url,
                                          "host": target.host_header, "server_name": target.server_name})

    def headers(self, call: UpstreamCall) -> dict[str, str]:
        return {**super().headers(call), "Host": str(call.credentials["host"])}

    def request_options(self, call: UpstreamCall) -> dict[str, Any]:
        if str(call.credentials["base_url"]).startswith("https://"):
            return {"server_name": call.credentials["server_name"]}
        return {}

    async def complete(self, call: UpstreamCall) -> dict[str, Any]:
        return await super().complete(await self._pinned(call))

    async def stream(self, call: UpstreamCall) -> AsyncIterator[dict[str, Any]]:
        async for item in super().stream(await self._pinned(call)):
            yield item
