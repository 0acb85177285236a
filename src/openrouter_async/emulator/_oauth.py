"""OAuth PKCE: ``POST /auth/keys/code`` (an app asks for a code; the emulator stands in for
the user who approves it) and ``POST /auth/keys`` (the app exchanges the code for a key).

The code remembers its ``code_challenge`` and method (``S256``, or ``plain``; a challenge
without a method is ``plain``, as RFC 7636 says). The exchange checks ``code_verifier``
against it: a missing verifier, or a method other than the code's, is a 400; a wrong verifier,
or an unknown or already used code, a 403. The key it returns is a real key of the account
(``limit`` and ``usage_limit_type`` from the code). Codes are single-use, except the seeded
demo code (see :mod:`._state`). ``POST /auth/keys`` needs no API key (the app has none yet).
"""

from __future__ import annotations

import hmac
import secrets
from typing import Any
from urllib.parse import urlsplit

from ._app import HTTPError, Request, Response, json_response
from ._state import USER_ID, AuthCode, app_id, iso_time, s256

__all__ = ["register"]


async def create_code(request: Request) -> Response:
    body = request.json_object()
    callback_url = body.get("callback_url")
    if not isinstance(callback_url, str):
        raise HTTPError(400, "Missing required parameter: callback_url")
    parts = urlsplit(callback_url)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise HTTPError(400, "Invalid parameter callback_url: an http(s) URL")
    challenge = body.get("code_challenge")
    if challenge is not None and (not isinstance(challenge, str) or not challenge):
        raise HTTPError(400, "Invalid parameter code_challenge: a non-empty string")
    method = body.get("code_challenge_method")
    if method is not None and method not in ("S256", "plain"):
        raise HTTPError(400, "Invalid parameter code_challenge_method: S256 or plain")
    if challenge is None and method is not None:
        raise HTTPError(400, "code_challenge_method given without a code_challenge")
    limit = body.get("limit")
    if limit is not None and (
        isinstance(limit, bool) or not isinstance(limit, (int, float)) or limit < 0
    ):
        raise HTTPError(400, "Invalid parameter limit: a non-negative number of dollars")
    usage_limit_type = body.get("usage_limit_type")
    if usage_limit_type not in (None, "daily", "weekly", "monthly"):
        raise HTTPError(400, "Invalid parameter usage_limit_type: daily, weekly or monthly")
    key_label = body.get("key_label")
    code = AuthCode(
        id=f"auth_code_{secrets.token_hex(12)}",
        app_id=app_id(callback_url),
        created_at=iso_time(),
        callback_url=callback_url,
        code_challenge=challenge,
        code_challenge_method=None if challenge is None else (method or "plain"),
        limit=None if limit is None else float(limit),
        usage_limit_type=usage_limit_type,
        key_label=key_label if isinstance(key_label, str) else None,
        expires_at=body.get("expires_at") if isinstance(body.get("expires_at"), str) else None,
    )
    request.state.store.auth_codes[code.id] = code
    return json_response(
        {"data": {"id": code.id, "app_id": code.app_id, "created_at": code.created_at}}
    )


async def exchange_code(request: Request) -> Response:
    store = request.state.store
    body = request.json_object()
    code_id = body.get("code")
    if not isinstance(code_id, str) or not code_id:
        raise HTTPError(400, "Missing required parameter: code")
    verifier = body.get("code_verifier")
    method = body.get("code_challenge_method")
    code = store.auth_codes.get(code_id)
    if code is None:
        raise HTTPError(403, "Invalid code")
    if code.code_challenge is not None:
        if not isinstance(verifier, str) or not verifier:
            raise HTTPError(400, "Missing required parameter: code_verifier")
        if method is not None and method != code.code_challenge_method:
            raise HTTPError(
                400,
                f"code_challenge_method {method!r} does not match the code's "
                f"({code.code_challenge_method})",
            )
        expected = s256(verifier) if code.code_challenge_method == "S256" else verifier
        if not hmac.compare_digest(expected, code.code_challenge):
            raise HTTPError(403, "Invalid code_verifier")
    if not code.reusable:
        del store.auth_codes[code_id]
    host = urlsplit(code.callback_url).netloc
    key, secret = store.create_key(
        code.key_label or f"OAuth key for {host}",
        limit=code.limit,
        limit_reset=code.usage_limit_type,
        expires_at=code.expires_at,
    )
    return json_response({"key": secret, "user_id": key.creator_user_id or USER_ID})


def register(app: Any) -> None:
    app.add_route("POST", "/auth/keys/code", create_code)
    app.add_route("POST", "/auth/keys", exchange_code, auth=False)
