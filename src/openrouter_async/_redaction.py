"""Keeping API keys out of every error text, repr and log line.

A server may echo the key back (``{"error": {"message": "Invalid key sk-or-v1-..."}}``, or a
header carrying it), and errors are built far from the Session that knows the key: in the
response parsers, the stream readers, the retry logger. So the keys in use are remembered
here, process-wide, and every error text is passed through :func:`redact` where it is built
(``errors.py``). Anything shaped like an OpenRouter key (``sk-or-...``) is redacted too, so a
key the Session never saw (another user's, a provisioning call's) does not leak either.

The registry is small and bounded: the keys of the Sessions created, and the most recent
keys a key callable produced.
"""

from __future__ import annotations

import re
import threading
from typing import TYPE_CHECKING, Any

import orjson

if TYPE_CHECKING:
    import httpx

__all__ = ["forget_secrets", "redact", "redact_headers", "redact_json", "remember_secret"]

MASK = "***"
# An OpenRouter key: "sk-or-v1-" then 64 hex digits; other generations and test keys vary,
# so anything after "sk-or-" that looks like key material is masked.
_KEY_PATTERN = re.compile(r"sk-or-[A-Za-z0-9_\-]{8,}")
_KEY_MASK = "sk-or-" + MASK
# Shorter values are not worth masking (a one-letter test key would mask every such letter).
_MIN_SECRET = 8
_MAX_SECRETS = 64

_lock = threading.Lock()
# Insertion-ordered: the oldest is dropped first when the registry is full.
_secrets: dict[str, None] = {}
# The same, longest first (a key that extends another is masked whole), rebuilt on change.
_longest_first: tuple[str, ...] = ()


def remember_secret(secret: str | None) -> None:
    """Mask ``secret`` in every error text from now on (called with each key in use)."""
    global _longest_first
    if not secret or len(secret) < _MIN_SECRET or secret in _secrets:
        return
    with _lock:
        _secrets[secret] = None
        while len(_secrets) > _MAX_SECRETS:
            del _secrets[next(iter(_secrets))]
        _longest_first = tuple(sorted(_secrets, key=len, reverse=True))


def forget_secrets() -> None:
    """Empty the registry (for tests)."""
    global _longest_first
    with _lock:
        _secrets.clear()
        _longest_first = ()


def redact(text: str) -> str:
    """``text`` with every remembered key and anything shaped like an OpenRouter key masked."""
    if not text:
        return text
    for secret in _longest_first:  # an immutable snapshot, whatever other threads do
        if secret in text:
            text = text.replace(secret, MASK)
    if "sk-or-" in text:
        text = _KEY_PATTERN.sub(_KEY_MASK, text)
    return text


def redact_json(value: Any) -> Any:
    """A JSON value with every string redacted; the value itself when nothing changes."""
    if value is None or isinstance(value, (bool, int, float)):
        return value
    if isinstance(value, str):
        return redact(value)
    try:
        text = orjson.dumps(value).decode()
    except TypeError:  # not plain JSON: redact what its repr would show
        return redact(repr(value))
    cleaned = redact(text)
    return value if cleaned == text else orjson.loads(cleaned)


def redact_headers(headers: httpx.Headers) -> httpx.Headers:
    """``headers`` with any value that carries a key masked; the same object when none does."""
    dirty = False
    for value in headers.values():
        if redact(value) != value:
            dirty = True
            break
    if not dirty:
        return headers
    import httpx

    return httpx.Headers(
        [(name, redact(value)) for name, value in headers.multi_items()],
        encoding=headers.encoding,
    )
