"""Domain errors. Each carries its HTTP status so that exactly one place (unigate.web) maps them.

Messages are written for the caller and must never contain a secret: no API key, no provider key.
A subclass states its status, OpenAI error `type` and default code as class keywords.
"""

from __future__ import annotations

from typing import Any


class UnigateError(Exception):
    status = 500
    # OpenAI's error `type`, used on the /v1 surface so that its SDKs raise the matching class.
    openai_type = "api_error"
    code: str | None = None

    def __init_subclass__(cls, *, status: int | None = None, openai_type: str | None = None,
                          code: str | None = None, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if status is not None:
            cls.status = status
        if openai_type is not None:
            cls.openai_type = openai_type
        if code is not None:
            cls.code = code

    def __init__(self, message: str, *, param: str | None = None, code: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.param = param
        if code is not None:
            self.code = code
        # Response headers the answer carries (x-unigate-cost when a failed request was charged).
        self.headers: dict[str, str] = {}


class BadRequest(UnigateError, status=400, openai_type="invalid_request_error"):
    """The request is malformed or asks for something unigate cannot do."""


class InvalidApiKey(UnigateError, status=401, openai_type="authentication_error", code="invalid_api_key"):
    def __init__(self) -> None:
        super().__init__("Invalid API key")


class InsufficientCredits(UnigateError, status=402, openai_type="insufficient_quota", code="insufficient_credits"):
    """The balance cannot cover the request's worst-case cost."""


class KeyBudgetExceeded(InsufficientCredits, code="key_budget_exceeded"):
    """The key's budget for the current period cannot cover the request's worst-case cost (the account's
    balance may still)."""


class NotAuthenticated(UnigateError, status=403, openai_type="authentication_error"):
    def __init__(self) -> None:
        super().__init__("Not authenticated")


class Forbidden(UnigateError, status=403, openai_type="permission_error"):
    """The key may not do this (a model it is not allowed, a suspended account, a non-IAM admin call)."""


class NotFound(UnigateError, status=404, openai_type="not_found_error"):
    """No such model, endpoint, deployment or record (or none the caller may see)."""


class Conflict(UnigateError, status=409, openai_type="invalid_request_error", code="conflict"):
    """The thing already exists, or the idempotency key was used for something else."""


class PayloadTooLarge(UnigateError, status=413, openai_type="invalid_request_error", code="payload_too_large"):
    """The request body is over the size limit."""


class ArgumentsMismatch(UnigateError, status=422, openai_type="invalid_request_error"):
    def __init__(self, message: str = "The provided arguments don't correspond to the specified model.", *,
                 param: str | None = None) -> None:
        super().__init__(message, param=param)


class RateLimited(UnigateError, status=429, openai_type="rate_limit_error"):
    def __init__(self, message: str, *, retry_after: int | None = None, headers: dict[str, str] | None = None,
                 code: str | None = None) -> None:
        super().__init__(message, code=code)
        self.retry_after = retry_after
        self.headers = dict(headers or {})


class UpstreamError(UnigateError, status=502, code="upstream_error"):
    """The provider failed or answered something that is not its API."""


class ServiceUnavailable(UnigateError, status=503, code="service_unavailable"):
    """Nothing can serve the request now (credentials missing, every endpoint cooling down, a busy store)."""


class Unpriced(ServiceUnavailable, code="endpoint_unpriced"):
    """An endpoint without a known price that the operator has neither priced nor marked free."""


class CredentialsUnavailable(ServiceUnavailable, code="credentials_unavailable"):
    """The gateway has no key for the provider: fallbacks pass over the endpoint, as over a 5xx."""


class UpstreamTimeout(UnigateError, status=504, code="upstream_timeout"):
    """The provider did not answer in time."""
