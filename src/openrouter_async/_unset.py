"""The UNSET sentinel: "this field was not given", as distinct from an explicit ``None``.

Used by the request-only models (``ChatRequest``, ``ProviderPreferences``...): a field left
UNSET is not sent at all; a field set to ``None`` is sent as JSON ``null`` (where the spec
allows null). The models a response can hold (``ChatResult``, ``ChatUsage``, and the ones a
request shares with a response, such as ``ChatAssistantMessage``) have no UNSET: their fields
are ``T | None``, a field the server did not send reads ``None``, and ``None`` is "not given"
there, so a model received and sent back (the tool-calling round trip) sends what it got.
"""

from __future__ import annotations

import enum
from typing import Final, Literal


class Unset(enum.Enum):
    """Type of the :data:`UNSET` sentinel (an enum so that ``Literal`` narrowing works)."""

    UNSET = "UNSET"

    def __bool__(self) -> Literal[False]:
        # Falsy, so that ``if delta.content:`` reads naturally on a missing field.
        return False

    def __repr__(self) -> str:
        return "UNSET"


UNSET: Final = Unset.UNSET
"""A field that was not given: left out of a request, or not sent by the server. Falsy; test
with ``value is UNSET`` to tell it from ``None`` (JSON ``null``) or an empty value."""

__all__ = ["UNSET", "Unset"]
