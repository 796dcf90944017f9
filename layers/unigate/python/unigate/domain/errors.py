"""Domain errors. Each carries its HTTP status so that exactly one place (unigate.web) maps them.

Messages are written for the caller and must never contain a secret: no API key, no provider key.
"""

from __future__ import annotations


class UnigateError(Exception):
    status = 500
    # OpenAI's error `type`, used on the /v1 surface so that its SDKs raise the matching class.
    openai_type = "api_error"
    code: str | None = None

    def __init__(self, message: str, *, param: str | None = None, code: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.param = param
        if code is not None:
            self.code = code


class BadRequest(UnigateError):
    status = 400
    openai_type = "invalid_request_error"


class InvalidApiKey(UnigateError):
    status = 401
    openai_type = "authentication_error"
    code = "invalid_api_key"

    def __init__(self) -> None:
        super().__init__("Invalid API key")


class InsufficientCredits(UnigateError):
    status = 402
    openai_type = "insufficient_quota"
    code = "insufficient_credits"


class NotAuthenticated(UnigateError):
    status = 403
    openai_type = "authentication_error"

    def __init__(self) -> None:
        super().__init__("Not authenticated")


class Forbidden(UnigateError):
    status = 403
    openai_type = "permission_error"


class NotFound(UnigateError):
    status = 404
    openai_type = "not_found_error"


class Conflict(UnigateError):
    status = 409
    openai_type = "invalid_request_error"
    code = "conflict"


class PayloadTooLarge(UnigateError):
    status = 413
    openai_type = "invalid_request_error"
    code = "payload_too_large"


class ArgumentsMismatch(UnigateError):
    status = 422
    openai_type = "invalid_request_error"

    def __init__(self, message: str = "The provided arguments don't correspond to the specified model.", *,
                 param: str | None = None) -> None:
        super().__init__(message, param=param)


class RateLimited(UnigateError):
    status = 429
    openai_type = "rate_limit_error"

    def __init__(self, message: str, *, retry_after: int | None = None, headers: dict[str, str] | None = None,
                 code: str | None = None) -> None:
        super().__init__(message, code=code)
        self.retry_after = retry_after
        self.headers = headers or {}


class UpstreamError(UnigateError):
    status = 502
    openai_type = "api_error"
    code = "upstream_error"


class ServiceUnavailable(UnigateError):
    status = 503
    openai_type = "api_error"
    code = "service_unavailable"


class UpstreamTimeout(UnigateError):
    status = 504
    openai_type = "api_error"
    code = "upstream_timeout"
