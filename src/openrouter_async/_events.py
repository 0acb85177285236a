"""Stream events → their JSON data, or SKIP: what the event parsers of chat (``_chat.py``) and
of the generated streams (``_operations.py``) build on.

Named events. OpenRouter's chat streams are unnamed ``data:`` events (every recorded real
stream is), but the server, a gateway or a proxy may add events of their own: ``ping``,
``openrouter.metadata``, anything new. The rule, per kind of stream:

* a stream whose chunks carry no type (chat, completions): an event named anything but the
  default (``message``) is not a chunk, and is dropped;
* a stream whose events say their ``type`` in the data (Responses API, Messages, images): an
  event named after its own type (``event: response.created`` with ``"type":
  "response.created"``, as the Responses API and Anthropic send them) is one of its events;
  any other named event is dropped.

Never dropped: a named event carrying an ``error`` object (raised as ChatError), so that a
failure is never mistaken for noise. Dropping is returning :data:`SKIP`.
"""

from __future__ import annotations

from typing import Any

import orjson

from ._decode import raise_error_body
from ._sse import ServerSentEvent
from ._streams import SKIP, Skip
from .errors import ResponseValidationError

__all__ = ["event_data", "skip_named_event", "typed_event_data"]


def event_data(event: ServerSentEvent) -> Any:
    """The JSON data of one SSE event; a mid-stream error (an ``error`` object in an event
    that is not a typed event of its own, as OpenRouter sends it) is raised as ChatError."""
    try:
        data = orjson.loads(event.data)
    except orjson.JSONDecodeError as error:
        raise ResponseValidationError(
            f"a stream event is not JSON: {error}", body=event.data
        ) from None
    if type(data) is dict and "type" not in data:
        raise_error_body(data, chunk=data)
    return data


def skip_named_event(event: ServerSentEvent) -> Skip:
    """``SKIP`` for a named event of a stream whose chunks carry no type; an ``error``
    object in it is raised as :class:`ChatError` instead."""
    if "error" in event.data:
        try:
            data = orjson.loads(event.data)
        except orjson.JSONDecodeError:
            return SKIP
        raise_error_body(data, chunk=data)
    return SKIP


def typed_event_data(event: ServerSentEvent) -> Any:
    """The JSON data of an event of a stream whose events carry their ``type``, or ``SKIP``
    for a named event that is none of them (its name is not its data's type)."""
    name = event.event
    if name is None or name == "message":
        return event_data(event)
    try:
        data = orjson.loads(event.data)
    except orjson.JSONDecodeError:
        return SKIP
    if type(data) is dict:
        if data.get("type") == name:
            return data
        raise_error_body(data, chunk=data)
    return SKIP
