"""API keys: ``GET/POST /keys``, ``GET/PATCH/DELETE /keys/{hash}``, ``GET /key``.

Keys are real: the ``key`` a ``POST /keys`` returns authenticates requests until the key is
disabled or deleted (or expires), and what those requests cost is charged to it (``usage``,
``limit_remaining``; a key whose ``limit`` is used up is refused with 402). Any key of the
account may manage the account's keys (the emulator has no separate management keys).
"""

from __future__ import annotations

import time
from typing import Any

from ._app import HTTPError, Request, Response, json_response
from ._state import ApiKey, iso_time, parse_time

__all__ = ["register"]

_RESETS = (None, "daily", "weekly", "monthly")
_PAGE = 100


def _found(request: Request) -> ApiKey:
    key = request.state.store.keys.get(request.path_params["hash"])
    if key is None:
        raise HTTPError(404, "API key not found")
    return key


def _limit(body: dict[str, Any]) -> float | None:
    limit = body.get("limit")
    if limit is None:
        return None
    if isinstance(limit, bool) or not isinstance(limit, (int, float)) or limit < 0:
        raise HTTPError(400, "Invalid parameter limit: a non-negative number of dollars, or null")
    return float(limit)


def _check(body: dict[str, Any]) -> None:
    if "limit_reset" in body and body["limit_reset"] not in _RESETS:
        raise HTTPError(400, "Invalid parameter limit_reset: daily, weekly, monthly or null")
    for name in ("include_byok_in_limit", "disabled"):
        if name in body and not isinstance(body[name], bool):
            raise HTTPError(400, f"Invalid parameter {name}: a boolean")
    if "name" in body and (not isinstance(body["name"], str) or not body["name"].strip()):
        raise HTTPError(400, "Invalid parameter name: a non-empty string")


async def list_keys(request: Request) -> Response:
    include_disabled = (request.query_value("include_disabled") or "false").lower() == "true"
    offset_text = request.query_value("offset")
    try:
        offset = int(offset_text) if offset_text not in (None, "", "null") else 0
    except ValueError:
        raise HTTPError(400, "Invalid query parameter offset: an integer") from None
    if offset < 0:
        raise HTTPError(400, "Invalid query parameter offset: must be >= 0")
    workspace = request.query_value("workspace_id")
    keys = [
        key
        for key in request.state.store.keys.values()
        if (include_disabled or not key.disabled)
        and (workspace is None or key.workspace_id == workspace)
    ]
    page = keys[offset : offset + _PAGE]
    return json_response({"data": [key.listing() for key in page]})


async def create_key(request: Request) -> Response:
    body = request.json_object()
    name = body.get("name")
    if not isinstance(name, str) or not name.strip():
        raise HTTPError(400, "Missing required parameter: name")
    _check(body)
    expires_at = body.get("expires_at")
    if expires_at is not None:
        expires = parse_time(expires_at) if isinstance(expires_at, str) else None
        if expires is None:
            raise HTTPError(400, "Invalid parameter expires_at: an ISO 8601 timestamp in UTC")
        if expires <= time.time():
            raise HTTPError(400, "Invalid parameter expires_at: must be in the future")
    fields: dict[str, Any] = {}
    if isinstance(body.get("creator_user_id"), str):
        fields["creator_user_id"] = body["creator_user_id"]
    if isinstance(body.get("workspace_id"), str):
        fields["workspace_id"] = body["workspace_id"]
    key, secret = request.state.store.create_key(
        name.strip(),
        limit=_limit(body),
        limit_reset=body.get("limit_reset"),
        include_byok_in_limit=bool(body.get("include_byok_in_limit", False)),
        expires_at=expires_at,
        **fields,
    )
    return json_response({"data": key.listing(), "key": secret}, 201)


async def get_key(request: Request) -> Response:
    return json_response({"data": _found(request).listing()})


async def update_key(request: Request) -> Response:
    key = _found(request)
    body = request.json_object()
    _check(body)
    if "name" in body:
        key.name = body["name"].strip()
    if "disabled" in body:
        key.disabled = body["disabled"]
    if "limit" in body:
        key.limit = _limit(body)
    if "limit_reset" in body:
        key.limit_reset = body["limit_reset"]
    if "include_byok_in_limit" in body:
        key.include_byok_in_limit = body["include_byok_in_limit"]
    key.updated_at = iso_time()
    return json_response({"data": key.listing()})


async def delete_key(request: Request) -> Response:
    if not request.state.store.delete_key(request.path_params["hash"]):
        raise HTTPError(404, "API key not found")
    return json_response({"deleted": True})


async def current_key(request: Request) -> Response:
    assert request.key is not None
    data = request.key.current()
    rate_limit = request.state.limits.key_rate_limit()
    if rate_limit is not None:
        data["rate_limit"] = {**data["rate_limit"], **rate_limit}
    return json_response({"data": data})


def register(app: Any) -> None:
    app.add_route("GET", "/keys", list_keys)
    app.add_route("POST", "/keys", create_key)
    app.add_route("GET", "/keys/{hash}", get_key)
    app.add_route("PATCH", "/keys/{hash}", update_key)
    app.add_route("DELETE", "/keys/{hash}", delete_key)
    app.add_route("GET", "/key", current_key)
