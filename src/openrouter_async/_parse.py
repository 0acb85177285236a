"""Structured outputs into the caller's own classes: ``chat.parse(response_format=Cls)``.

(Being written; the mixins are attached to the chat group by ``_chat_group.py``.)
"""

from __future__ import annotations

__all__ = ["AsyncParseMixin", "ParseMixin"]


class AsyncParseMixin:
    """``session.chat.parse`` (and its stream)."""

    __slots__ = ()


class ParseMixin:
    """``client.chat.parse`` / ``parse_async`` (and their streams)."""

    __slots__ = ()
