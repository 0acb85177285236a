"""The redirect policy of every exchange (JSON calls, streams, uploads and downloads).

The Session sends on its transport directly, below httpx's client, so redirects are followed
here, with httpx's semantics where they are safe for an API client:

* 307 and 308 are followed with the same method and body, to any http(s) URL;
* 301, 302 and 303 are followed as GET (HEAD stays HEAD) when the request was a GET or HEAD.
  On any other method (a POST) they are refused: following them would silently turn the call
  into a GET without its body, which is never what an API call means;
* a redirect to another origin (scheme, host or port) is followed without the credentials:
  ``Authorization`` and the other credential headers are dropped, as httpx (and so openai)
  does; a plain ``http://host`` -> ``https://host`` upgrade keeps them, as in httpx;
* a loop, more than :data:`MAX_REDIRECTS` hops, or a ``Location`` that is missing or not an
  http(s) URL is an :class:`~openrouter_async.errors.APIRedirectError` naming the status and
  where the server pointed (redacted).

Hops are part of one attempt: they pass no rate-limit gate again, count as no retry, and
stay within the call's deadline.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable

import httpx

from ._logging import redact_url
from ._redaction import redact_headers
from .errors import APIRedirectError

__all__ = ["MAX_REDIRECTS", "REDIRECT_STATUSES", "follow_redirects", "redirect_request"]

#: As httpx's client.
MAX_REDIRECTS = 20
REDIRECT_STATUSES = frozenset({301, 302, 303, 307, 308})
_SAME_METHOD = frozenset({307, 308})
_SAFE_METHODS = frozenset({"GET", "HEAD"})
# Never carried to another origin.
_CREDENTIAL_HEADERS = ("authorization", "proxy-authorization", "cookie", "x-api-key", "api-key")
# Describe a body; dropped with it when a redirect turns the request into a GET.
_BODY_HEADERS = ("content-length", "transfer-encoding", "content-type")
_DEFAULT_PORTS = {"http": 80, "https": 443}

Send = Callable[[httpx.Request], Awaitable[httpx.Response]]


async def follow_redirects(
    send: Send,
    request: httpx.Request,
    response: httpx.Response,
    *,
    logger: logging.Logger | None = None,
) -> httpx.Response:
    """Follow ``response`` (a redirect answering ``request``) with ``send`` until a response
    that is not a redirect, which is returned; raise :class:`APIRedirectError` where the
    policy refuses. Every redirect response is closed."""
    seen = {(request.method, str(request.url))}
    hops = 0
    while response.status_code in REDIRECT_STATUSES:
        try:
            hops += 1
            if hops > MAX_REDIRECTS:
                raise _error(
                    f"too many redirects (more than {MAX_REDIRECTS})",
                    response,
                    response.headers.get("location"),
                    request,
                )
            follow = redirect_request(request, response)
            if (follow.method, str(follow.url)) in seen:
                raise _error("redirect loop", response, str(follow.url), request)
            seen.add((follow.method, str(follow.url)))
        finally:
            await response.aclose()
        if logger is not None:
            logger.debug(
                "%s %s -> %d, following the redirect to %s",
                request.method,
                redact_url(str(request.url)),
                response.status_code,
                redact_url(str(follow.url)),
            )
        request = follow
        response = await send(request)
    return response


def redirect_request(request: httpx.Request, response: httpx.Response) -> httpx.Request:
    """The request that follows the redirect ``response`` to ``request``, or the
    :class:`APIRedirectError` raised when the policy refuses it."""
    status = response.status_code
    location = response.headers.get("location")
    if not location:
        raise _error("redirect without a Location header", response, None, request)
    try:
        url = httpx.URL(location)
        if url.scheme and not url.host:  # "https:/path": httpx reads it as on the same host
            url = url.copy_with(host=request.url.host)
        if url.is_relative_url:
            url = request.url.join(url)
    except httpx.InvalidURL:
        raise _error("redirect to an invalid Location", response, None, request) from None
    if url.scheme not in _DEFAULT_PORTS or not url.host:
        raise _error("redirect to a URL that is not http(s)", response, str(url), request)

    method = request.method
    if status not in _SAME_METHOD and method not in _SAFE_METHODS:
        raise _error(
            f"{status} redirect answering a {method}: not followed, as it would resend the "
            "call as a GET without its body (set base_url to the new location instead)",
            response,
            str(url),
            request,
        )

    headers = request.headers.copy()
    headers.pop("host", None)  # the new request sets its own
    if not _same_origin(request.url, url) and not _is_https_upgrade(request.url, url):
        for name in _CREDENTIAL_HEADERS:
            headers.pop(name, None)
    extensions = request.extensions
    if status in _SAME_METHOD:
        try:
            content = request.content
        except httpx.RequestNotRead:  # a streamed body (multipart): sent again from the start
            return httpx.Request(
                method, url, headers=headers, stream=request.stream, extensions=extensions
            )
        return httpx.Request(method, url, headers=headers, content=content, extensions=extensions)
    # 301/302/303 after a GET or HEAD: the same method, without a body.
    for name in _BODY_HEADERS:
        headers.pop(name, None)
    return httpx.Request(method, url, headers=headers, extensions=extensions)


def _origin(url: httpx.URL) -> tuple[str, str, int | None]:
    return url.scheme, url.host, url.port or _DEFAULT_PORTS.get(url.scheme)


def _same_origin(url: httpx.URL, other: httpx.URL) -> bool:
    return _origin(url) == _origin(other)


def _is_https_upgrade(url: httpx.URL, location: httpx.URL) -> bool:
    """``http://host[:80]`` -> ``https://host[:443]``: the same server, now encrypted."""
    return (
        url.host == location.host
        and _origin(url)[0::2] == ("http", 80)
        and _origin(location)[0::2] == ("https", 443)
    )


def _error(
    what: str, response: httpx.Response, location: str | None, request: httpx.Request
) -> APIRedirectError:
    shown = redact_url(location) if location is not None else None
    where = f" to {shown}" if shown is not None else ""
    headers = response.headers
    clean = redact_headers(headers)
    return APIRedirectError(
        f"{what}: {request.method} {redact_url(str(request.url))} answered "
        f"{response.status_code}{where}",
        status_code=response.status_code,
        location=shown,
        headers=clean,
        # The response only when none of its headers carried a key (they would show there).
        raw_response=response if clean is headers else None,
    )
