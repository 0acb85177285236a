"""Resource groups of the facade (``client.chat``, ...), loaded on first use."""

from ._chat import Chat

__all__ = ["Chat"]
