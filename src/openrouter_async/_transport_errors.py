"""Translate transport exceptions into ours: callers never see a bare httpx exception."""

from __future__ import annotations

import ssl

import httpx

from .errors import APIConnectionError, APITimeoutError, TLSVerificationError

__all__ = ["translate_transport_error"]


def translate_transport_error(
    error: BaseException, *, streaming: bool = False
) -> APIConnectionError:
    """Wrap an httpx (or socket) error; the original stays reachable as ``__cause__``.

    The message names the failure and never the request's headers, so no secret leaks. A
    certificate that failed verification says so, and how to trust a private CA.
    """
    where = " mid-stream" if streaming else ""
    if isinstance(error, httpx.TimeoutException | TimeoutError):
        wrapped: APIConnectionError = APITimeoutError(
            f"{type(error).__name__}{where}: {str(error) or 'timed out'}"
        )
    elif (failure := _certificate_failure(error)) is not None:
        wrapped = TLSVerificationError(
            f"TLS certificate verification failed: {_reason(failure)}. "
            "To trust a private CA (a corporate proxy's), pass verify='/path/to/ca.pem' or an "
            "ssl.SSLContext, or set SSL_CERT_FILE / SSL_CERT_DIR"
        )
    else:
        wrapped = APIConnectionError(
            f"{type(error).__name__}{where}: {str(error) or 'connection failed'}"
        )
    wrapped.__cause__ = error
    return wrapped


def _reason(failure: ssl.CertificateError) -> str:
    return str(getattr(failure, "verify_message", None) or failure)


def _certificate_failure(error: BaseException) -> ssl.CertificateError | None:
    """The certificate error under ``error`` (each transport chains it its own way)."""
    seen = 0
    current: BaseException | None = error
    while current is not None and seen < 8:
        # aiohttp's ClientConnectorCertificateError is one too, but keeps the original as an
        # attribute (with the verify message): that one first.
        inner = getattr(current, "certificate_error", None)
        if isinstance(inner, ssl.CertificateError):
            return inner
        if isinstance(current, ssl.CertificateError):
            return current
        current = current.__cause__ or current.__context__
        seen += 1
    return None
