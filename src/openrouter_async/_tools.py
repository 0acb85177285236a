"""Tools from Python functions, and a tool runner: ``tool(fn)``, ``chat.run_tools(...)``.

(Being written; the mixins are attached to the chat group by ``_chat_group.py``.)
"""

from __future__ import annotations

__all__ = ["AsyncToolRunnerMixin", "ToolRunnerMixin"]


class AsyncToolRunnerMixin:
    """``session.chat.run_tools``."""

    __slots__ = ()


class ToolRunnerMixin:
    """``client.chat.run_tools`` / ``run_tools_async``."""

    __slots__ = ()
