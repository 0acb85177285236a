"""Chat on the Session: the body of a chat request as its own ``send`` and ``stream`` send
it, and the parser of a chat stream's events."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, Literal

from . import _convert
from ._events import event_data, skip_named_event
from ._sse import ServerSentEvent
from ._streams import Skip
from .errors import RequestValidationError

if TYPE_CHECKING:
    from .models import ChatRequest, ChatStreamChunk

__all__ = ["chat_request", "parse_chat_event"]


def chat_request(
    kind: Literal["send", "stream"],
    request: ChatRequest,
    http_headers: Mapping[str, str] | None,
    extra_body: Mapping[str, Any] | None,
    extra_query: Mapping[str, Any] | None,
    extra_headers: Mapping[str, str] | None,
) -> tuple[bytes | None, Mapping[str, Any] | None, Mapping[str, str] | None]:
    """(body, query, headers) of a chat request: its JSON, checked for the mode it is sent
    in, with openai-style extras merged in after it was validated (none: as it is)."""
    body: bytes | None = chat_body(request, stream=kind == "stream")
    if extra_body is None and extra_query is None and extra_headers is None:
        return body, None, http_headers
    from ._operations import with_extras

    return with_extras(
        kind,
        body,
        http_headers,
        extra_body=extra_body,
        extra_query=extra_query,
        extra_headers=extra_headers,
    )


def chat_body(request: ChatRequest, *, stream: bool) -> bytes:
    """The JSON body of a chat request, checked for the mode it is sent in.

    A non-streaming call refuses ``stream=True``; a streaming one sends ``"stream": true``
    whatever the request says (set on the plain dict: rebuilding the request with
    ``attrs.evolve`` would validate it all over again).
    """
    from .models import ChatRequest

    if not isinstance(request, ChatRequest):
        raise RequestValidationError(
            f"expected a ChatRequest, got {type(request).__name__}", path="request"
        )
    if not stream:
        if request.stream is True:
            raise RequestValidationError(
                "stream=True: use Session.stream() for a streaming request", path="stream"
            )
        return _convert.dumps(request)
    if request.stream is True:
        return _convert.dumps(request)
    body = _convert.unstructure(request)
    body["stream"] = True
    return _convert.dumps(body)


def parse_chat_event(event: ServerSentEvent) -> ChatStreamChunk | Skip:
    """One SSE event of a chat stream → a typed chunk, ``SKIP`` for a named event that is
    not a chunk, or the mid-stream error raised."""
    from .models import ChatStreamChunk

    name = event.event
    if name is not None and name != "message":
        return skip_named_event(event)
    return _convert.parse(event_data(event), ChatStreamChunk)
