"""Debug logging with secrets kept out.

``debug_logger=`` (the official SDK's option) or ``OPENROUTER_DEBUG=true`` turns on one line
per HTTP exchange: method, URL, status and time. Headers are never logged, so neither the API
key nor a bearer token can reach a log; URLs lose any userinfo or key-like query values, and
any key in use (``_redaction.py``). Errors logged (by the retry policy) are already redacted.
"""

from __future__ import annotations

import logging
import re
import sys

from ._config import env_flag
from ._redaction import redact as redact_secrets

__all__ = ["debug_logger_from_env", "redact", "redact_url"]

_LOGGER_NAME = "openrouter_async"

# Query parameters whose values are secrets wherever they appear.
_SECRET_QUERY = re.compile(r"(?i)([?&](?:key|api_key|token|code|code_verifier)=)[^&#]*")
# Any scheme's user and password (https://u:p@, redis://:password@, rediss://user:pw@).
_USERINFO = re.compile(r"([a-z][a-z0-9+.-]*://)[^/@\s]+@", re.IGNORECASE)


def redact_url(url: str) -> str:
    return redact_secrets(_SECRET_QUERY.sub(r"\1***", _USERINFO.sub(r"\1***@", url)))


def redact(text: str, secret: str | None) -> str:
    """Replace every occurrence of ``secret`` (e.g. the API key) in ``text``."""
    if secret:
        return text.replace(secret, "***")
    return text


def debug_logger_from_env() -> logging.Logger | None:
    """The logger ``OPENROUTER_DEBUG=true`` asks for, printing to stderr; None when unset."""
    if not env_flag("OPENROUTER_DEBUG"):
        return None
    logger = logging.getLogger(_LOGGER_NAME)
    if not logger.handlers:
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(logging.Formatter("%(asctime)s %(name)s %(levelname)s %(message)s"))
        logger.addHandler(handler)
    if logger.level == logging.NOTSET or logger.level > logging.DEBUG:
        logger.setLevel(logging.DEBUG)
    return logger
