"""Header names and values checked before anything is sent.

A key pasted with a line break or a zero-width space (U+200B), a referer with a newline, a
header value with a character outside ASCII: httpx refuses some of these deep inside request
building with a bare ``UnicodeEncodeError``, the transports others as a protocol error that
would be retried as a connection failure, and a CR/LF that got through would split the
request. They are refused here instead, as a :class:`~openrouter_async.errors.HeaderValueError`
(a usage error, never retried) that names the header and never shows its value: the value may
be the key.

The Session checks its fixed headers once, at construction; per-call headers and the values a
key callable returns are checked per call, where the common case (printable ASCII) costs two
``str`` method calls.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable, Mapping

from .errors import HeaderValueError

__all__ = ["check_header", "check_headers", "check_value"]

# RFC 9110 token characters: what a field name may be made of.
_TOKEN = re.compile(r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+")


def check_headers(headers: Mapping[str, str] | Iterable[tuple[str, str]]) -> None:
    """:func:`check_header` for every item of ``headers``."""
    items = headers.items() if isinstance(headers, Mapping) else headers
    for name, value in items:
        check_header(name, value)


def check_header(name: str, value: str, *, label: str | None = None) -> None:
    """Raise :class:`HeaderValueError` unless ``name: value`` can be sent as it is.

    ``label`` says what the value is in the user's terms (``"the API key"``) for the message.
    """
    if not isinstance(name, str) or not _TOKEN.fullmatch(name):
        shown = name if isinstance(name, str) and name.isprintable() else ascii(name)
        raise HeaderValueError(
            f"invalid header name {shown!r}: a name is letters, digits and !#$%&'*+-.^_`|~",
            header=str(name),
        )
    check_value(name, value, label=label)


def check_value(name: str, value: str, *, label: str | None = None) -> None:
    """:func:`check_header` for the value alone, of a header whose name is known good."""
    if not isinstance(value, str):
        raise HeaderValueError(
            f"the value of header {name!r} must be a str, got {type(value).__name__}",
            header=name,
        )
    # ASCII only (what httpx encodes header text as); HTAB is allowed inside a value.
    bad = None if value.isascii() and value.isprintable() else _bad_character(value)
    if bad is not None:
        index, char = bad
        raise HeaderValueError(
            f"the value of header {name!r}{_label(label)} contains {_describe(char)} at "
            f"position {index}, which cannot be sent in an HTTP header",
            header=name,
        )
    if value and (value[0] in " \t" or value[-1] in " \t"):
        raise HeaderValueError(
            f"the value of header {name!r}{_label(label)} has leading or trailing "
            "whitespace, which HTTP does not keep; remove it",
            header=name,
        )


def _label(label: str | None) -> str:
    return f" ({label})" if label else ""


def _bad_character(value: str) -> tuple[int, str] | None:
    """The first character that cannot be sent, with its index; None when there is none."""
    for index, char in enumerate(value):
        code = ord(char)
        if (code < 0x20 and char != "\t") or code >= 0x7F:
            return index, char
    return None


def _describe(char: str) -> str:
    """A character named without showing the value around it: ``U+200B ZERO WIDTH SPACE``."""
    names = {"\r": "a carriage return (CR)", "\n": "a line feed (LF)", "\x00": "a NUL byte"}
    if char in names:
        return names[char]
    name = unicodedata.name(char, "")
    kind = "a control character" if ord(char) < 0x20 or ord(char) == 0x7F else "the character"
    return f"{kind} U+{ord(char):04X}" + (f" {name}" if name else "")
