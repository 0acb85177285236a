"""Translate transport exceptions into ours: callers never see a bare httpx exception."""

from __future__ import annotations

import httpx

from .errors import APIConnectionError, APITimeoutError

__all__ = ["translate_transport_error"]


def translate_transport_error(
    error: BaseException, *, streaming: bool = False
) -> APIConnectionError:
    """Wrap an httpx (or socket) error; the original stays reachable as ``__cause__``.

    The message names the failure and never the request's headers, so no secret leaks.
    """
    where = " mid-stream" if streaming else ""
    if isinstance(error, httpx.TimeoutException | TimeoutError):
        wrapped: APIConnectionError = APITimeoutError(
            f"{type(error).__name__}{where}: {str(error) or 'timed out'}"
        )
    else:
        wrapped = APIConnectionError(
            f"{type(error).__name__}{where}: {str(error) or 'connection failed'}"
        )
    wrapped.__cause__ = error
    return wrapped
