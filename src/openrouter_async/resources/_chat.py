"""``client.chat``: ``send`` (sync) and ``send_async``, as the product description uses them."""

from __future__ import annotations

import difflib
import functools
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, Literal, overload

import attrs

from .._convert import structure
from .._streams import AsyncStream, SyncStream
from .._unset import UNSET, Unset
from ..errors import RequestValidationError
from ..models import ChatRequest, ChatResult, ChatStreamChunk

if TYPE_CHECKING:
    from .._client import OpenRouter
    from .._config import RetryConfig

__all__ = ["Chat"]


@functools.cache
def _chat_request_fields() -> frozenset[str]:
    return frozenset(field.name for field in attrs.fields(ChatRequest)) - {"model_extra"}


def build_chat_request(stream: bool | Unset, params: dict[str, Any]) -> ChatRequest:
    """Keyword arguments → a validated ChatRequest; unknown names fail here, by name.

    (A field the spec does not know yet can still be sent: ``model_extra={...}``.)
    """
    known = _chat_request_fields()
    for name in params:
        if name not in known and name != "model_extra":
            close = difflib.get_close_matches(name, known, n=1)
            hint = f"; did you mean {close[0]!r}?" if close else ""
            raise RequestValidationError(f"unknown argument{hint}", path=name)
    if stream is not UNSET:
        params["stream"] = stream
    return structure(params, ChatRequest, path="")


class Chat:
    """Chat completions: ``send`` and ``send_async``."""

    def __init__(self, client: OpenRouter) -> None:
        self._client = client

    @overload
    def send(
        self,
        *,
        stream: Literal[True],
        retries: RetryConfig | None = None,
        timeout_ms: int | float | None = None,
        http_headers: Mapping[str, str] | None = None,
        **params: Any,
    ) -> SyncStream[ChatStreamChunk]: ...

    @overload
    def send(
        self,
        *,
        stream: Literal[False] | Unset = UNSET,
        retries: RetryConfig | None = None,
        timeout_ms: int | float | None = None,
        http_headers: Mapping[str, str] | None = None,
        **params: Any,
    ) -> ChatResult: ...

    def send(
        self,
        *,
        stream: bool | Unset = UNSET,
        retries: RetryConfig | None = None,
        timeout_ms: int | float | None = None,
        http_headers: Mapping[str, str] | None = None,
        **params: Any,
    ) -> ChatResult | SyncStream[ChatStreamChunk]:
        """Create a chat completion (``POST /chat/completions``).

        Takes every field of :class:`ChatRequest` as a keyword (``model``, ``messages``,
        ``temperature``, ``tools``, ``provider``, ...). With ``stream=True`` returns a stream
        to use as ``with response as event_stream: for event in event_stream:``.
        """
        request = build_chat_request(stream, params)
        client = self._client
        if request.stream is True:
            portal_thread, session = client._sync()
            opened = portal_thread.portal.call(
                functools.partial(
                    session.open_chat_stream,
                    request,
                    retries=retries,
                    timeout_ms=timeout_ms,
                    http_headers=http_headers,
                )
            )
            return SyncStream(opened, portal_thread.portal)
        return client._call_sync(
            lambda session: session.send(
                request, retries=retries, timeout_ms=timeout_ms, http_headers=http_headers
            )
        )

    @overload
    async def send_async(
        self,
        *,
        stream: Literal[True],
        retries: RetryConfig | None = None,
        timeout_ms: int | float | None = None,
        http_headers: Mapping[str, str] | None = None,
        **params: Any,
    ) -> AsyncStream[ChatStreamChunk]: ...

    @overload
    async def send_async(
        self,
        *,
        stream: Literal[False] | Unset = UNSET,
        retries: RetryConfig | None = None,
        timeout_ms: int | float | None = None,
        http_headers: Mapping[str, str] | None = None,
        **params: Any,
    ) -> ChatResult: ...

    async def send_async(
        self,
        *,
        stream: bool | Unset = UNSET,
        retries: RetryConfig | None = None,
        timeout_ms: int | float | None = None,
        http_headers: Mapping[str, str] | None = None,
        **params: Any,
    ) -> ChatResult | AsyncStream[ChatStreamChunk]:
        """Async :meth:`send`; with ``stream=True`` returns an async stream to use as
        ``async with response as event_stream: async for event in event_stream:``."""
        session = self._client._session_async()
        request = build_chat_request(stream, params)
        if request.stream is True:
            return await session.open_chat_stream(
                request, retries=retries, timeout_ms=timeout_ms, http_headers=http_headers
            )
        return await session.send(
            request, retries=retries, timeout_ms=timeout_ms, http_headers=http_headers
        )
