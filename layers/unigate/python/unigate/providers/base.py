"""The interface every provider adapter implements: one call in (UpstreamCall), OpenAI shapes out, and
UpstreamFailure for every way an upstream can fail."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any, Protocol, runtime_checkable

from unigate.catalog.entries import EndpointSpec, ProviderSpec
from unigate.infra.observability import redact


@dataclass
class UpstreamCall:
    """One request to one provider: the OpenAI-shaped body (already filtered to what the provider
    supports, `model` set to the provider's own id), the credentials and the time it may take."""

    endpoint: EndpointSpec
    provider: ProviderSpec
    body: dict[str, Any]
    credentials: dict[str, Any] = field(default_factory=dict)
    timeout: float = 60.0
    # Parameters outside OpenAI's API passed through to the provider's own payload as they are
    # (the `extra-parameters: pass-through` header).
    extra: dict[str, Any] = field(default_factory=dict)
    # Custom endpoints: the address vetted before the hold (an unigate.infra.ssrf.Pinned), which the call connects to.
    pinned: Any = None

    @property
    def max_tokens(self) -> int:
        requested = self.body.get("max_completion_tokens") or self.body.get("max_tokens")
        return int(requested) if requested else self.endpoint.max_output

    def base_url(self) -> str:
        url = self.credentials.get("base_url") or self.provider.base_url
        if not url:
            raise UpstreamFailure(None, f"No base URL is configured for {self.provider.name}.", kind="config")
        return str(url).rstrip("/")


class UpstreamFailure(Exception):
    """The upstream refused, failed, timed out or spoke nonsense. `status` is its HTTP status, if any."""

    def __init__(
        self,
        status: int | None,
        message: str,
        *,
        kind: str = "http",
        retry_after: float | None = None,
        started: bool | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.message = redact(message)[:500]
        self.kind = kind  # http | timeout | connect | protocol | config
        self.retry_after = retry_after
        # Whether the request may have reached the upstream. Only a failure that provably came before it was
        # sent (no connection made, a header that cannot be sent) says the provider cannot have billed it.
        self.started = kind not in ("connect", "config") if started is None else started
        # What the attempt was charged for it (a call cut by its deadline after it was sent: its whole hold).
        self.charged_micros = 0


def secrets_of(credentials: dict[str, Any]) -> list[str]:
    """The credential values worth scrubbing, as scrub() takes them (a short value would match ordinary text)."""
    return [v for v in credentials.values() if isinstance(v, str) and len(v) >= 6]


def scrubbed(value: Any, secrets: list[str]) -> Any:
    """`value` (an answer, a chunk, text) with every credential of the call replaced: providers can be made to
    put their key into successful content too, and the caller must never see it, nor the query log keep it."""
    if not secrets:
        return value
    if isinstance(value, str):
        for secret in secrets:
            if secret in value:
                value = value.replace(secret, "[REDACTED]")
        return value
    if isinstance(value, dict):
        return {k: scrubbed(v, secrets) for k, v in value.items()}
    if isinstance(value, list):
        return [scrubbed(v, secrets) for v in value]
    return value


class StreamScrubber:
    """Scrubs the call's credentials from streamed text, a credential split across two chunks included. Text
    comes in by channel (a choice's content, a tool call's arguments, a content block): of each channel, only
    the end that could begin a credential (its longest suffix that is a proper prefix of one) is held back,
    to go out with the channel's next piece or at its end (`flush`). Any other text passes at once, so a
    stream is never buffered beyond what could be part of a key."""

    def __init__(self, secrets: list[str]) -> None:
        self.secrets = secrets
        self._held: dict[Any, str] = {}

    def feed(self, channel: Any, text: str) -> str:
        """What of the channel's text so far can go out now, scrubbed."""
        if not self.secrets:
            return text
        text = scrubbed(self._held.pop(channel, "") + text, self.secrets)
        keep = self._unsafe_end(text)
        if keep:
            self._held[channel] = text[-keep:]
            return text[:-keep]
        return text

    def flush(self, channel: Any) -> str:
        """The channel's held-back text (it ended: what could have begun a key did not)."""
        return self._held.pop(channel, "")

    def drop(self) -> None:
        """Forgets what is held back (the stream was cut, and that text must not go out)."""
        self._held.clear()

    def channels(self) -> list[Any]:
        """The channels that hold text back."""
        return list(self._held)

    def _unsafe_end(self, text: str) -> int:
        longest = 0
        for secret in self.secrets:
            tail = text[-(len(secret) - 1):]
            start = tail.find(secret[0])
            while start != -1:
                if secret.startswith(tail[start:]):  # the first such start is the longest suffix
                    longest = max(longest, len(tail) - start)
                    break
                start = tail.find(secret[0], start + 1)
        return longest


def scrub(failure: UpstreamFailure, credentials: dict[str, Any]) -> UpstreamFailure:
    """Removes the credentials of the call from a failure's message: providers echo keys back in their
    error messages ("Incorrect API key provided: ..."), and not every key has a recognisable shape."""
    for value in credentials.values():
        if isinstance(value, str) and len(value) >= 6:
            failure.message = failure.message.replace(value, "[REDACTED]")
    return failure


class Adapter(Protocol):
    def request_body(self, call: UpstreamCall, *, stream: bool) -> Any:
        """The body sent upstream for `call`, exactly (what the hold is computed from)."""
        ...

    async def complete(self, call: UpstreamCall) -> dict[str, Any]:
        """A whole OpenAI `chat.completion` object."""
        ...

    def stream(self, call: UpstreamCall) -> AsyncIterator[dict[str, Any]]:
        """OpenAI `chat.completion.chunk` objects as they arrive; usage, when known, on the last."""
        ...


# One event of a native Messages stream: its name, its data exactly as the upstream sent it (relayed to the
# client byte for byte), and that data parsed (read for usage and text).
NativeEvent = tuple[str, str, dict[str, Any]]


@runtime_checkable
class MessagesNative(Protocol):
    """An upstream that takes Anthropic's Messages body as it is (unigate.gateway.messages passes the client's
    body through): Anthropic itself, and Claude on Bedrock and on Vertex AI, each in its own envelope.
    `forwarded` holds the client's anthropic-version and anthropic-beta headers; `body` has `model` set to
    the provider's id and no `stream`."""

    async def messages_complete(self, call: UpstreamCall, body: dict[str, Any], forwarded: dict[str, str], *,
                                beta: bool = False) -> dict[str, Any]:
        """Anthropic's `message` object as the upstream answered it."""
        ...

    def messages_stream(self, call: UpstreamCall, body: dict[str, Any], forwarded: dict[str, str], *,
                        beta: bool = False) -> AsyncIterator[NativeEvent]:
        """Anthropic's stream events as they arrive."""
        ...

    async def messages_count_tokens(self, call: UpstreamCall, body: dict[str, Any], forwarded: dict[str, str], *,
                                    beta: bool = False) -> int | None:
        """The upstream's own count of the prompt's input tokens, or None where it has no count API."""
        ...


@dataclass
class Embedded:
    """An embeddings answer: one vector per input, in input order, and the tokens the provider counted."""

    vectors: list[list[float]]
    prompt_tokens: int | None = None


class Embedder(Protocol):
    def embedding_body(self, call: UpstreamCall) -> Any:
        """The body (or bodies) sent upstream for an embeddings call (what the hold is computed from)."""
        ...

    async def embed(self, call: UpstreamCall) -> Embedded:
        """Embeds call.body["input"]: strings or token arrays, or, when call.body["images"] is true,
        {"image": data URL, "text": optional} items. call.body may name "dimensions" and "input_type"."""
        ...

