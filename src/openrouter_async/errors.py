"""Typed errors, one per HTTP status that OpenRouter documents, under one base class.

Everything this package raises on purpose derives from :class:`OpenRouterError` (the official
SDK's name), so ``except OpenRouterError`` catches every failure of a call — HTTP statuses,
mid-stream errors, connection failures and timeouts, invalid input and unparseable bodies —
and never a bare httpx or aiohttp exception.

HTTP errors carry ``.status_code``, ``.headers``, ``.body`` (the raw text) and ``.data``, the
parsed ``{"error": {...}}`` body: ``e.data.message``, ``e.data.code``, ``e.data.metadata``
(and ``e.data.error.message``, the official SDK's spelling).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, ClassVar

import attrs
import orjson

if TYPE_CHECKING:
    import httpx

__all__ = [
    "APIConnectionError",
    "APIStatusError",
    "APITimeoutError",
    "BadGatewayResponseError",
    "BadRequestResponseError",
    "ChatError",
    "ClientClosedRequestResponseError",
    "ConflictResponseError",
    "EdgeNetworkTimeoutResponseError",
    "ErrorBody",
    "ErrorDetails",
    "ForbiddenResponseError",
    "GatewayTimeoutResponseError",
    "GoneResponseError",
    "InternalServerResponseError",
    "NoResponseError",
    "NotFoundResponseError",
    "OpenRouterDefaultError",
    "OpenRouterError",
    "PayloadTooLargeResponseError",
    "PaymentRequiredResponseError",
    "ProviderOverloadedResponseError",
    "RequestTimeoutResponseError",
    "RequestValidationError",
    "ResponseValidationError",
    "ServiceUnavailableResponseError",
    "StreamIdleTimeoutError",
    "TooManyRequestsResponseError",
    "UnauthorizedResponseError",
    "UnprocessableEntityResponseError",
    "error_for_status",
]


@attrs.frozen
class ErrorDetails:
    """The ``error`` object of an OpenRouter error body or of a mid-stream error event.

    ``code`` is usually the HTTP status as a number, but providers pass through strings
    (``"rate_limit_exceeded"``), so both are accepted. Unknown keys are kept in ``extra``.
    """

    message: str
    """What went wrong, in words."""
    code: int | str | None = None
    """Usually the HTTP status; a provider's own code (a string) passes through."""
    metadata: dict[str, Any] | None = None
    """Details, when OpenRouter gives some (``provider_name``, ``raw``, a guardrail's id...)."""
    extra: dict[str, Any] = attrs.field(factory=dict, repr=False)
    """Any other keys of the error object."""

    @classmethod
    def from_json(cls, value: Any, *, fallback_message: str = "") -> ErrorDetails:
        """Lenient parse: an error report must never fail to be built."""
        if not isinstance(value, Mapping):
            text = value if isinstance(value, str) else fallback_message
            return cls(message=text or fallback_message)
        message = value.get("message")
        code = value.get("code")
        metadata = value.get("metadata")
        return cls(
            message=message if isinstance(message, str) else str(message or fallback_message),
            code=code if isinstance(code, (int, str)) and not isinstance(code, bool) else None,
            metadata=dict(metadata) if isinstance(metadata, Mapping) else None,
            extra={k: v for k, v in value.items() if k not in ("message", "code", "metadata")},
        )


@attrs.frozen
class ErrorBody:
    """A parsed error response body ``{"error": {...}, "user_id": ..., ...}``.

    ``message``, ``code`` and ``metadata`` read through to ``error`` so that both
    ``e.data.message`` and ``e.data.error.message`` work.
    """

    error: ErrorDetails
    """The ``error`` object."""
    user_id: str | None = None
    """The ``user_id`` of the body, when given."""
    openrouter_metadata: dict[str, Any] | None = None
    """The ``openrouter_metadata`` of the body, when given."""
    extra: dict[str, Any] = attrs.field(factory=dict, repr=False)
    """Any other keys of the body."""

    @property
    def message(self) -> str:
        """``error.message``."""
        return self.error.message

    @property
    def code(self) -> int | str | None:
        """``error.code``."""
        return self.error.code

    @property
    def metadata(self) -> dict[str, Any] | None:
        """``error.metadata``."""
        return self.error.metadata

    @classmethod
    def from_json(cls, value: Any, *, fallback_message: str = "") -> ErrorBody:
        """Lenient parse of an error body (or of anything a server sent instead)."""
        if not isinstance(value, Mapping) or "error" not in value:
            return cls(error=ErrorDetails.from_json(value, fallback_message=fallback_message))
        user_id = value.get("user_id")
        meta = value.get("openrouter_metadata")
        return cls(
            error=ErrorDetails.from_json(value["error"], fallback_message=fallback_message),
            user_id=user_id if isinstance(user_id, str) else None,
            openrouter_metadata=dict(meta) if isinstance(meta, Mapping) else None,
            extra={
                k: v
                for k, v in value.items()
                if k not in ("error", "user_id", "openrouter_metadata")
            },
        )


class OpenRouterError(Exception):
    """Base class of every error this package raises on purpose."""

    message: str
    """The error's text (also its ``str()``)."""
    status_code: int | None = None
    """The HTTP status, when there was a response."""
    headers: httpx.Headers | None = None
    """The response's headers, when there was a response."""
    body: str | None = None
    """The response's body as text, when there was one."""
    raw_response: httpx.Response | None = None
    """The ``httpx.Response``, when one was built."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message

    def __str__(self) -> str:
        return self.message


class RequestValidationError(OpenRouterError, ValueError):
    """Invalid input, found before any request was sent. ``path`` names the field."""

    def __init__(self, message: str, *, path: str = "") -> None:
        super().__init__(f"{path}: {message}" if path else message)
        self.path = path
        """The bad field (``messages[0].content``), or empty."""
        self.reason = message
        """The message without the path."""


class ResponseValidationError(OpenRouterError):
    """A response body that is not valid JSON or does not match its model.

    The raw text stays on ``.body`` so nothing the server sent is lost.
    """

    def __init__(
        self, message: str, *, body: str | None = None, status_code: int | None = None
    ) -> None:
        super().__init__(message)
        self.body = body
        self.status_code = status_code


class APIConnectionError(OpenRouterError):
    """No (complete) response: the connection failed, was refused or dropped."""


#: The official SDK's name for "no HTTP response was received".
NoResponseError = APIConnectionError


class APITimeoutError(APIConnectionError):
    """A connect, read, write or pool timeout, or the whole call's ``timeout_ms``, ran out."""


class StreamIdleTimeoutError(APITimeoutError):
    """A stream went quiet: no data event within the idle timeout.

    Keep-alive comments (``: OPENROUTER PROCESSING``) do not count as data.
    """


class ChatError(OpenRouterError):
    """An error reported inside a successful response: a mid-stream ``{"error": {...}}`` event
    (``finish_reason: "error"``) or an ``{"error": ...}`` body sent with status 200."""

    def __init__(self, error: ErrorDetails, *, chunk: Any = None) -> None:
        code = f" (code {error.code})" if error.code is not None else ""
        super().__init__(f"{error.message}{code}")
        self.error = error
        """The ``error`` object (``e.error.message``, ``e.error.code``)."""
        self.chunk = chunk
        """The decoded JSON of the stream event that carried the error, else ``None``."""


class APIStatusError(OpenRouterError):
    """An HTTP error response. Subclasses name the status; ``OpenRouterDefaultError`` the rest."""

    status: ClassVar[int | None] = None
    """The HTTP status a subclass stands for (``None`` on ``OpenRouterDefaultError``)."""
    data: ErrorBody
    """The parsed error body: ``e.data.message``, ``e.data.code``, ``e.data.metadata``."""
    status_code: int
    body: str

    def __init__(
        self,
        data: ErrorBody,
        *,
        status_code: int,
        headers: httpx.Headers | None,
        body: str,
        raw_response: httpx.Response | None = None,
    ) -> None:
        super().__init__(f"{status_code}: {data.message}" if data.message else str(status_code))
        self.data = data
        self.status_code = status_code
        self.headers = headers
        self.body = body
        self.raw_response = raw_response


class OpenRouterDefaultError(APIStatusError):
    """An HTTP error status that has no class of its own."""


class BadRequestResponseError(APIStatusError):
    """400: invalid request parameters or malformed input."""

    status = 400


class UnauthorizedResponseError(APIStatusError):
    """401: authentication required or invalid credentials."""

    status = 401


class PaymentRequiredResponseError(APIStatusError):
    """402: insufficient credits or quota."""

    status = 402


class ForbiddenResponseError(APIStatusError):
    """403: insufficient permissions, or a guardrail blocked the request."""

    status = 403


class NotFoundResponseError(APIStatusError):
    """404: the resource does not exist."""

    status = 404


class RequestTimeoutResponseError(APIStatusError):
    """408: the operation exceeded its time limit on the server."""

    status = 408


class ConflictResponseError(APIStatusError):
    """409: the request conflicts with the resource's current state."""

    status = 409


class GoneResponseError(APIStatusError):
    """410: the resource is gone."""

    status = 410


class PayloadTooLargeResponseError(APIStatusError):
    """413: the request payload exceeds size limits."""

    status = 413


class UnprocessableEntityResponseError(APIStatusError):
    """422: semantic validation failure."""

    status = 422


class TooManyRequestsResponseError(APIStatusError):
    """429: rate limit exceeded. See ``headers['Retry-After']``."""

    status = 429


class ClientClosedRequestResponseError(APIStatusError):
    """499: the client closed the request."""

    status = 499


class InternalServerResponseError(APIStatusError):
    """500: unexpected server error."""

    status = 500


class BadGatewayResponseError(APIStatusError):
    """502: the provider (upstream API) failed."""

    status = 502


class ServiceUnavailableResponseError(APIStatusError):
    """503: service temporarily unavailable."""

    status = 503


class GatewayTimeoutResponseError(APIStatusError):
    """504: gateway timeout."""

    status = 504


class EdgeNetworkTimeoutResponseError(APIStatusError):
    """524: the provider request timed out at the edge network."""

    status = 524


class ProviderOverloadedResponseError(APIStatusError):
    """529: the provider is temporarily overloaded."""

    status = 529


_BY_STATUS: dict[int, type[APIStatusError]] = {
    cls.status: cls
    for cls in APIStatusError.__subclasses__()
    if cls.status is not None  # OpenRouterDefaultError has none
}


def error_for_status(
    status_code: int,
    body: bytes,
    *,
    headers: httpx.Headers | None = None,
    raw_response: httpx.Response | None = None,
) -> APIStatusError:
    """Build the typed error for an HTTP error response; never fails, whatever the body."""
    text = body.decode("utf-8", errors="replace")
    try:
        parsed: Any = orjson.loads(body) if body else None
    except orjson.JSONDecodeError:
        parsed = None
    fallback = text.strip()[:500] or f"HTTP {status_code}"
    data = ErrorBody.from_json(parsed if parsed is not None else text, fallback_message=fallback)
    cls = _BY_STATUS.get(status_code, OpenRouterDefaultError)
    return cls(
        data,
        status_code=status_code,
        headers=headers,
        body=text,
        raw_response=raw_response,
    )
