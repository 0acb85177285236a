"""Checking the webhook events OpenRouter posts to a ``callback_url`` (batches, video jobs).

OpenRouter signs each delivery with the workspace's webhook signing secret (set in the
workspace's settings): the ``X-OpenRouter-Signature`` header is ``t=<unix seconds>,v1=<hex>``,
where ``<hex>`` is the HMAC-SHA256, keyed with the secret, of ``"<t>," + <raw body>``. A
delivery retried after a failure carries the same ``X-OpenRouter-Idempotency-Key``, so a
receiver can drop the repeats.

    from openrouter_async import verify_webhook

    secret = os.environ["OPENROUTER_WEBHOOK_SECRET"]
    event = verify_webhook(raw_body, request.headers, secret=secret)
    if event["type"] == "batch.completed":
        batch = await session.batch.get_batches(id=event["data"]["id"])

Verify the bytes as received, before parsing them (re-serialised JSON has other bytes), and
treat a verified event as a nudge: read the batch itself for its status and results. The
timestamp bounds how old a delivery may be (``tolerance``, five minutes by default), so a
captured delivery cannot be replayed later. :func:`webhook_signature` makes the header for a
payload, to test a receiver without waiting for a real event.
"""

from __future__ import annotations

import hashlib
import hmac
import time
from collections.abc import Mapping
from typing import Any

import orjson

from .errors import OpenRouterError

__all__ = [
    "IDEMPOTENCY_HEADER",
    "SIGNATURE_HEADER",
    "WebhookVerificationError",
    "verify_webhook",
    "webhook_signature",
]

SIGNATURE_HEADER = "X-OpenRouter-Signature"
IDEMPOTENCY_HEADER = "X-OpenRouter-Idempotency-Key"
#: How old (or how far in the future, for clock skew) a delivery may be, in seconds.
DEFAULT_TOLERANCE = 300.0


class WebhookVerificationError(OpenRouterError, ValueError):
    """A webhook delivery whose signature is missing, malformed, stale or wrong (or whose
    body is not a JSON object). The message never contains the secret or the signature."""


def _digest(secret: str | bytes, timestamp: str, payload: bytes) -> str:
    key = secret.encode() if isinstance(secret, str) else secret
    return hmac.new(key, timestamp.encode() + b"," + payload, hashlib.sha256).hexdigest()


def webhook_signature(
    payload: bytes | str, secret: str | bytes, *, timestamp: int | None = None
) -> str:
    """The ``X-OpenRouter-Signature`` value OpenRouter would send with ``payload``
    (``timestamp``: Unix seconds, default now)."""
    if not secret:
        raise ValueError("secret: the webhook signing secret is empty")
    body = payload.encode() if isinstance(payload, str) else payload
    stamp = str(int(time.time()) if timestamp is None else int(timestamp))
    return f"t={stamp},v1={_digest(secret, stamp, body)}"


def _header(headers: Mapping[str, str] | str | None) -> str | None:
    if headers is None or isinstance(headers, str):
        return headers
    value = headers.get(SIGNATURE_HEADER)  # httpx / starlette headers: case-insensitive
    if value is None:
        wanted = SIGNATURE_HEADER.lower()
        value = next((v for k, v in headers.items() if k.lower() == wanted), None)
    return value


def _parts(header: str) -> tuple[str, list[str]]:
    """(timestamp, the v1 signatures) of a signature header."""
    stamp: str | None = None
    signatures: list[str] = []
    for item in header.split(","):
        name, sep, value = item.strip().partition("=")
        if not sep:
            continue
        if name == "t":
            stamp = value.strip()
        elif name == "v1":  # several while a secret is being rotated
            signatures.append(value.strip())
    if stamp is None or not stamp.isdigit():
        raise WebhookVerificationError(f"{SIGNATURE_HEADER}: no t=<unix seconds> timestamp")
    if not signatures:
        raise WebhookVerificationError(f"{SIGNATURE_HEADER}: no v1= signature")
    return stamp, signatures


def verify_webhook(
    payload: bytes | str,
    headers: Mapping[str, str] | str | None,
    *,
    secret: str | bytes,
    tolerance: float | None = DEFAULT_TOLERANCE,
    now: float | None = None,
) -> dict[str, Any]:
    """Check a webhook delivery's signature and return its event (the parsed JSON body).

    ``payload``: the raw request body, exactly as received. ``headers``: the request's
    headers (any mapping; looked up case-insensitively), or the ``X-OpenRouter-Signature``
    value itself. ``tolerance``: the largest age (or clock skew) accepted, in seconds
    (``None``: no limit). Raises :class:`WebhookVerificationError` when anything is off.
    """
    if not secret:
        raise ValueError("secret: the webhook signing secret is empty")
    header = _header(headers)
    if not header:
        raise WebhookVerificationError(f"{SIGNATURE_HEADER}: missing")
    stamp, signatures = _parts(header)
    if tolerance is not None:
        current = time.time() if now is None else now
        if abs(current - int(stamp)) > tolerance:
            raise WebhookVerificationError(
                f"{SIGNATURE_HEADER}: the timestamp is more than {tolerance:g} s from now"
            )
    body = payload.encode() if isinstance(payload, str) else payload
    expected = _digest(secret, stamp, body).encode()
    # Compared as bytes: a non-ASCII header value must fail, not raise TypeError.
    if not any(hmac.compare_digest(expected, given.encode()) for given in signatures):
        raise WebhookVerificationError(f"{SIGNATURE_HEADER}: the signature does not match")
    try:
        event = orjson.loads(body)
    except orjson.JSONDecodeError:
        raise WebhookVerificationError("the webhook body is not JSON") from None
    if not isinstance(event, dict):
        raise WebhookVerificationError("the webhook body is not a JSON object")
    return event
