"""Typed errors, one per HTTP status that OpenRouter documents, under one base class.

Everything this package raises on purpose derives from :class:`OpenRouterError` (the official
SDK's name), so ``except OpenRouterError`` catches every failure of a call — HTTP statuses,
mid-stream errors, connection failures and timeouts, invalid input and unparseable bodies —
and never a bare httpx or aiohttp exception.

HTTP errors carry ``.status_code``, ``.headers``, ``.body`` (the raw text) and ``.data``, the
parsed ``{"error": {...}}`` body: ``e.data.message``, ``e.data.code``, ``e.data.metadata``
(and ``e.data.error.message``, the official SDK's spelling).

No error text carries an API key, even one the server echoed back: messages, bodies, headers
and parsed error objects are redacted where they are built (see ``_redaction.py``).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, ClassVar

import attrs
import orjson

from ._redaction import redact, redact_headers, redact_json

if TYPE_CHECKING:
    import httpx

__all__ = [
    "APIConnectionError",
    "APIRedirectError",
    "APIStatusError",
    "APITimeoutError",
    "BadGatewayResponseError",
    "BadRequestResponseError",
    "ChatError",
    "ClientClosedError",
    "ClientClosedRequestResponseError",
    "ConflictResponseError",
    "EdgeNetworkTimeoutResponseError",
    "ErrorBody",
    "ErrorDetails",
    "ForbiddenResponseError",
    "GatewayTimeoutResponseError",
    "GoneResponseError",
    "HeaderValueError",
    "InternalServerResponseError",
    "NoResponseError",
    "NotFoundResponseError",
    "OpenRouterDefaultError",
    "OpenRouterError",
    "PayloadTooLargeResponseError",
    "PaymentRequiredResponseError",
    "ProviderOverloadedResponseError",
    "RateLimitTimeoutError",
    "TLSVerificationError",
    "RequestInfo",
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


@attrs.frozen
class RequestInfo:
    """The request an error came from, as far as it is safe to show: its method and URL
    (a key in the URL masked). Headers and body are left out: they carry the key and the
    prompt."""

    method: str
    url: str

    def __str__(self) -> str:
        return f"{self.method} {self.url}"


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

    #: set where the request is known but no httpx.Request was built (a prepared send)
    request_info: RequestInfo | None = None

    def __init__(self, message: str) -> None:
        message = redact(message)  # a server may have echoed the key into it
        super().__init__(message)
        self.message = message

    @property
    def request(self) -> RequestInfo | None:
        """The request that failed (method and URL), when there was one: from the response,
        or from the transport's error for a connection failure (openai's ``.request``)."""
        if self.request_info is not None:
            return self.request_info
        for source in (self.raw_response, self.__cause__):
            try:
                request = getattr(source, "request", None)  # httpx raises when it has none
            except RuntimeError:
                continue
            if request is not None and hasattr(request, "method"):
                from ._logging import redact_url  # (userinfo and key-like query values too)

                return RequestInfo(str(request.method), redact_url(str(request.url)))
        return None

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


class HeaderValueError(RequestValidationError):
    """A header name or value that cannot be sent (a line break or other control character,
    a character outside ASCII such as a pasted zero-width space, surrounding whitespace).
    Found before anything was sent; the message names the header, never its value."""

    def __init__(self, message: str, *, header: str) -> None:
        super().__init__(message, path=f"headers[{header!r}]")
        self.header = header
        """The header's name."""


class ResponseValidationError(OpenRouterError):
    """A response body that is not valid JSON or does not match its model.

    The raw text stays on ``.body`` so nothing the server sent is lost.
    """

    def __init__(
        self, message: str, *, body: str | None = None, status_code: int | None = None
    ) -> None:
        super().__init__(message)
        self.body = redact(body) if body else body
        self.status_code = status_code


class APIConnectionError(OpenRouterError):
    """No (complete) response: the connection failed, was refused or dropped."""


#: The official SDK's name for "no HTTP response was received".
NoResponseError = APIConnectionError


class APITimeoutError(APIConnectionError):
    """A connect, read, write or pool timeout, or the whole call's ``timeout_ms``, ran out."""


class RateLimitTimeoutError(APITimeoutError):
    """The call's timeout ran out before it could be sent: it was held at the Session's
    rate-limit gate. ``waited_on`` says by what: ``"cool-down"`` (after a 429),
    ``"concurrency"`` (``max_concurrency``), ``"rpm"`` or ``"tpm"``. Never retried: the call's
    time is up, and another attempt would wait at the same gate."""

    def __init__(self, message: str, *, waited_on: str) -> None:
        super().__init__(message)
        self.waited_on = waited_on
        """What held the call: ``"cool-down"``, ``"concurrency"``, ``"rpm"`` or ``"tpm"``."""


class ClientClosedError(OpenRouterError, RuntimeError):
    """A call on a client (or Session) that was closed: ``close()`` was called or its
    ``with`` block was left. A closed client stays closed (build a new one), as with httpx."""


class TLSVerificationError(APIConnectionError):
    """The server's TLS certificate failed verification (an unknown CA, a wrong host name, an
    expired certificate). Never retried: the next attempt would meet the same certificate. The
    message says how to trust a private CA (``verify=``, ``SSL_CERT_FILE`` / ``SSL_CERT_DIR``)."""


class StreamIdleTimeoutError(APITimeoutError):
    """A stream went quiet: no data event within the idle timeout.

    Keep-alive comments (``: OPENROUTER PROCESSING``) do not count as data.
    """


class ChatError(OpenRouterError):
    """An error reported inside a successful response: a mid-stream ``{"error": {...}}`` event
    (``finish_reason: "error"``) or an ``{"error": ...}`` body sent with status 200."""

    def __init__(self, error: ErrorDetails, *, chunk: Any = None) -> None:
        error = _redacted_details(error)
        code = f" (code {error.code})" if error.code is not None else ""
        super().__init__(f"{error.message}{code}")
        self.error = error
        """The ``error`` object (``e.error.message``, ``e.error.code``)."""
        self.chunk = redact_json(chunk)
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


class APIRedirectError(APIStatusError):
    """A redirect that was not followed: a 301/302/303 answering a POST (following it would
    turn the call into a GET and drop its body), a redirect loop, too many redirects, or a
    ``Location`` that is missing or not an http(s) URL. ``location`` is where the server
    pointed (redacted), or ``None``."""

    def __init__(
        self,
        message: str,
        *,
        status_code: int,
        location: str | None,
        headers: httpx.Headers | None = None,
        raw_response: httpx.Response | None = None,
    ) -> None:
        super().__init__(
            ErrorBody(error=ErrorDetails(message=message, code=status_code)),
            status_code=status_code,
            headers=redact_headers(headers) if headers is not None else None,
            body="",
            raw_response=raw_response,
        )
        self.location = location
        """Where the redirect pointed, redacted; ``None`` when it had no usable Location."""


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


def _redacted_details(error: ErrorDetails) -> ErrorDetails:
    """``error`` with any key a server echoed into it masked (the same object if none)."""
    message = redact(error.message)
    metadata = redact_json(error.metadata)
    extra = redact_json(error.extra)
    if message == error.message and metadata is error.metadata and extra is error.extra:
        return error
    return attrs.evolve(error, message=message, metadata=metadata, extra=extra)


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
    """Build the typed error for an HTTP error response; never fails, whatever the body.

    Any key the server echoed (in the body or a header) is masked before anything is built
    from them, ``raw_response`` included: it is then a redacted copy holding the body read.
    """
    raw_text = body.decode("utf-8", errors="replace")
    text = redact(raw_text)
    try:
        if text != raw_text:
            body = text.encode()
        parsed: Any = orjson.loads(body) if body else None
    except orjson.JSONDecodeError:
        parsed = None
    if headers is not None:
        clean_headers = redact_headers(headers)
        if raw_response is not None and (clean_headers is not headers or text != raw_text):
            raw_response = _redacted_response(raw_response, clean_headers, body)
        headers = clean_headers
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


_BODY_FRAMING = ("content-encoding", "content-length", "transfer-encoding")


def _redacted_response(
    response: httpx.Response, headers: httpx.Headers, body: bytes
) -> httpx.Response:
    """A copy of ``response`` with redacted headers and body (already read, and redacted)."""
    import httpx

    # The copy holds the body decoded (and perhaps shorter): its framing and encoding
    # headers are those of the copy, not of what was sent.
    clean = httpx.Headers(
        [(k, v) for k, v in headers.multi_items() if k.lower() not in _BODY_FRAMING],
        encoding=headers.encoding,
    )
    copy = httpx.Response(
        response.status_code,
        headers=clean,
        content=body,
        extensions=response.extensions,
    )
    try:
        copy.request = response.request
    except RuntimeError:  # the response was built without a request
        pass
    return copy
