"""The ``chat`` group as users get it: the generated operations plus conveniences the API
has no operation for (a tool runner, structured outputs into your own classes).

A hand-written subclass of the generated groups, on top of them (``tests/test_layers.py``):
the Session and the facade attach these instead of the generated classes.
"""

from __future__ import annotations

from ._parse import AsyncParseMixin, ParseMixin
from ._tools import AsyncToolRunnerMixin, ToolRunnerMixin
from .resources._chat import AsyncChat, Chat

__all__ = ["AsyncChatGroup", "ChatGroup"]


class AsyncChatGroup(AsyncParseMixin, AsyncToolRunnerMixin, AsyncChat):
    """``session.chat``: the generated chat operations, and the conveniences below."""

    __slots__ = ()


class ChatGroup(ParseMixin, ToolRunnerMixin, Chat):
    """``client.chat``: the generated chat operations (sync and ``_async``), and the
    conveniences below."""

    __slots__ = ()
