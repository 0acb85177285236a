"""Guardrails: ``GET/POST /guardrails``, ``GET/PATCH/DELETE /guardrails/{id}``, the bulk
(un)assignment of keys and members (``POST /guardrails/{id}/assignments/{keys,members}`` and
``.../remove``) and the assignment lists (per guardrail and for the whole account).

A key holds at most one guardrail: assigning it replaces its previous assignment (as the
spec says). Assigning a key the account does not have is a 404. Deleting a guardrail removes
its assignments; deleting a key removes the key's.
"""

from __future__ import annotations

from typing import Any

from ._app import HTTPError, Request, Response, json_response
from ._state import DEFAULT_WORKSPACE_ID, ORGANIZATION_ID, USER_ID, iso_time, new_uuid

__all__ = ["new_guardrail", "register"]

_INTERVALS = (None, "daily", "weekly", "monthly")
_LISTS = ("allowed_providers", "ignored_providers", "allowed_models", "ignored_models")
_FLAGS = (
    "enforce_zdr",
    "enforce_zdr_anthropic",
    "enforce_zdr_google",
    "enforce_zdr_openai",
    "enforce_zdr_other",
    "enforce_zdr_xai",
    "enable_free_model_publication",
    "enable_free_model_training",
    "enable_paid_model_training",
)
_PER_PROVIDER_ZDR = _FLAGS[1:6]


def _apply(guardrail: dict[str, Any], body: dict[str, Any]) -> None:
    """Check the fields of a create/update body and copy them into ``guardrail``."""
    if "name" in body:
        name = body["name"]
        if not isinstance(name, str) or not 1 <= len(name.strip()) <= 200:
            raise HTTPError(400, "Invalid parameter name: 1 to 200 characters")
        guardrail["name"] = name.strip()
    if "description" in body:
        description = body["description"]
        if description is not None and (
            not isinstance(description, str) or len(description) > 1000
        ):
            raise HTTPError(400, "Invalid parameter description: at most 1000 characters")
        guardrail["description"] = description
    if "limit_usd" in body:
        limit = body["limit_usd"]
        if limit is not None and (
            isinstance(limit, bool) or not isinstance(limit, (int, float)) or limit < 0
        ):
            raise HTTPError(400, "Invalid parameter limit_usd: a non-negative number, or null")
        guardrail["limit_usd"] = None if limit is None else float(limit)
    if "reset_interval" in body:
        if body["reset_interval"] not in _INTERVALS:
            raise HTTPError(400, "Invalid parameter reset_interval: daily, weekly, monthly or null")
        guardrail["reset_interval"] = body["reset_interval"]
    for name in _LISTS:
        if name in body:
            value = body[name]
            if value is not None and (
                not isinstance(value, list)
                or not value
                or not all(isinstance(item, str) and item for item in value)
            ):
                raise HTTPError(400, f"Invalid parameter {name}: a non-empty array of strings")
            guardrail[name] = value
    for name in _FLAGS:
        if name in body:
            if body[name] is not None and not isinstance(body[name], bool):
                raise HTTPError(400, f"Invalid parameter {name}: a boolean or null")
            guardrail[name] = body[name]
    if body.get("enforce_zdr") is not None:
        # The deprecated flag stands for every provider not given on its own.
        for name in _PER_PROVIDER_ZDR:
            if body.get(name) is None:
                guardrail[name] = body["enforce_zdr"]
    if "include_byok_in_budgets" in body:
        if not isinstance(body["include_byok_in_budgets"], bool):
            raise HTTPError(400, "Invalid parameter include_byok_in_budgets: a boolean")
        guardrail["include_byok_in_budgets"] = body["include_byok_in_budgets"]
    for name in ("content_filters", "content_filter_builtins"):
        if name in body:
            value = body[name]
            if value is not None and not (
                isinstance(value, list) and all(isinstance(item, dict) for item in value)
            ):
                raise HTTPError(400, f"Invalid parameter {name}: an array of objects, or null")
            guardrail[name] = value


def _page(request: Request, items: list[dict[str, Any]]) -> dict[str, Any]:
    try:
        offset_text, limit_text = request.query_value("offset"), request.query_value("limit")
        offset = int(offset_text) if offset_text not in (None, "", "null") else 0
        limit = int(limit_text) if limit_text not in (None, "") else 50
    except ValueError:
        raise HTTPError(
            400, "Invalid pagination parameters: offset and limit are integers"
        ) from None
    if offset < 0 or not 1 <= limit <= 100:
        raise HTTPError(400, "Invalid pagination parameters: offset >= 0, 1 <= limit <= 100")
    return {"data": items[offset : offset + limit], "total_count": len(items)}


def _found(request: Request) -> dict[str, Any]:
    guardrail = request.state.store.guardrails.get(request.path_params["id"])
    if guardrail is None:
        raise HTTPError(404, "Guardrail not found")
    return guardrail


def _assigned_by(request: Request) -> str:
    key = request.key
    return key.creator_user_id or USER_ID if key is not None else USER_ID


def _strings(body: dict[str, Any], name: str) -> list[str]:
    values = body.get(name)
    if (
        not isinstance(values, list)
        or not values
        or not all(isinstance(value, str) and value for value in values)
    ):
        raise HTTPError(400, f"Missing required parameter: {name} (a non-empty array of strings)")
    return list(dict.fromkeys(values))


# -- guardrails --------------------------------------------------------------------------------


async def list_guardrails(request: Request) -> Response:
    workspace = request.query_value("workspace_id")
    items = [
        guardrail
        for guardrail in request.state.store.guardrails.values()
        if workspace is None or guardrail["workspace_id"] == workspace
    ]
    return json_response(_page(request, items))


def new_guardrail(body: dict[str, Any], guardrail_id: str | None = None) -> dict[str, Any]:
    """A guardrail built from a create body (:class:`HTTPError` 400 when it is not valid)."""
    if not isinstance(body.get("name"), str):
        raise HTTPError(400, "Missing required parameter: name")
    guardrail: dict[str, Any] = {
        "id": guardrail_id or new_uuid(),
        "name": "",
        "description": None,
        "limit_usd": None,
        "reset_interval": None,
        **dict.fromkeys(_LISTS),
        **dict.fromkeys(_FLAGS),
        "content_filters": None,
        "content_filter_builtins": None,
        "include_byok_in_budgets": False,
        "workspace_id": body.get("workspace_id")
        if isinstance(body.get("workspace_id"), str)
        else DEFAULT_WORKSPACE_ID,
        "created_at": iso_time(),
        "updated_at": None,
    }
    _apply(guardrail, body)
    return guardrail


async def create_guardrail(request: Request) -> Response:
    guardrail = new_guardrail(request.json_object())
    request.state.store.guardrails[guardrail["id"]] = guardrail
    return json_response({"data": guardrail}, 201)


async def get_guardrail(request: Request) -> Response:
    return json_response({"data": _found(request)})


async def update_guardrail(request: Request) -> Response:
    guardrail = _found(request)
    body = request.json_object()
    updated = dict(guardrail)
    _apply(updated, body)  # all or nothing: a 400 leaves the guardrail as it was
    updated["updated_at"] = iso_time()
    guardrail.update(updated)
    return json_response({"data": guardrail})


async def delete_guardrail(request: Request) -> Response:
    store = request.state.store
    guardrail_id = _found(request)["id"]
    del store.guardrails[guardrail_id]
    for assignments in (store.key_assignments, store.member_assignments):
        for pair in [pair for pair in assignments if pair[0] == guardrail_id]:
            del assignments[pair]
    return json_response({"deleted": True})


# -- key assignments ---------------------------------------------------------------------------


def _key_assignment(request: Request, assignment: dict[str, Any]) -> dict[str, Any]:
    key = request.state.store.keys.get(assignment["key_hash"])
    return {
        **assignment,
        "key_name": key.name if key is not None else "",
        "key_label": key.label if key is not None else "",
    }


async def assign_keys(request: Request) -> Response:
    store = request.state.store
    guardrail_id = _found(request)["id"]
    hashes = _strings(request.json_object(), "key_hashes")
    unknown = [digest for digest in hashes if digest not in store.keys]
    if unknown:
        raise HTTPError(404, f"API key not found: {unknown[0]}")
    assigned = 0
    for digest in hashes:
        if store.assign_guardrail(guardrail_id, digest, assigned_by=_assigned_by(request)):
            assigned += 1
    return json_response({"assigned_count": assigned})


async def unassign_keys(request: Request) -> Response:
    store = request.state.store
    guardrail_id = _found(request)["id"]
    removed = 0
    for digest in _strings(request.json_object(), "key_hashes"):
        if store.key_assignments.pop((guardrail_id, digest), None) is not None:
            removed += 1
    return json_response({"unassigned_count": removed})


async def list_guardrail_key_assignments(request: Request) -> Response:
    guardrail_id = _found(request)["id"]
    items = [
        _key_assignment(request, assignment)
        for (owner, _), assignment in request.state.store.key_assignments.items()
        if owner == guardrail_id
    ]
    return json_response(_page(request, items))


async def list_key_assignments(request: Request) -> Response:
    items = [
        _key_assignment(request, assignment)
        for assignment in request.state.store.key_assignments.values()
    ]
    return json_response(_page(request, items))


# -- member assignments ------------------------------------------------------------------------


async def assign_members(request: Request) -> Response:
    store = request.state.store
    guardrail_id = _found(request)["id"]
    assigned = 0
    for user_id in _strings(request.json_object(), "member_user_ids"):
        if (guardrail_id, user_id) in store.member_assignments:
            continue
        store.member_assignments[(guardrail_id, user_id)] = {
            "id": new_uuid(),
            "user_id": user_id,
            "organization_id": ORGANIZATION_ID,
            "guardrail_id": guardrail_id,
            "assigned_by": _assigned_by(request),
            "created_at": iso_time(),
        }
        assigned += 1
    return json_response({"assigned_count": assigned})


async def unassign_members(request: Request) -> Response:
    store = request.state.store
    guardrail_id = _found(request)["id"]
    removed = 0
    for user_id in _strings(request.json_object(), "member_user_ids"):
        if store.member_assignments.pop((guardrail_id, user_id), None) is not None:
            removed += 1
    return json_response({"unassigned_count": removed})


async def list_guardrail_member_assignments(request: Request) -> Response:
    guardrail_id = _found(request)["id"]
    items = [
        assignment
        for (owner, _), assignment in request.state.store.member_assignments.items()
        if owner == guardrail_id
    ]
    return json_response(_page(request, items))


async def list_member_assignments(request: Request) -> Response:
    items = list(request.state.store.member_assignments.values())
    return json_response(_page(request, items))


def register(app: Any) -> None:
    app.add_route("GET", "/guardrails", list_guardrails)
    app.add_route("POST", "/guardrails", create_guardrail)
    app.add_route("GET", "/guardrails/assignments/keys", list_key_assignments)
    app.add_route("GET", "/guardrails/assignments/members", list_member_assignments)
    app.add_route("GET", "/guardrails/{id}", get_guardrail)
    app.add_route("PATCH", "/guardrails/{id}", update_guardrail)
    app.add_route("DELETE", "/guardrails/{id}", delete_guardrail)
    app.add_route("GET", "/guardrails/{id}/assignments/keys", list_guardrail_key_assignments)
    app.add_route("POST", "/guardrails/{id}/assignments/keys", assign_keys)
    app.add_route("POST", "/guardrails/{id}/assignments/keys/remove", unassign_keys)
    app.add_route("GET", "/guardrails/{id}/assignments/members", list_guardrail_member_assignments)
    app.add_route("POST", "/guardrails/{id}/assignments/members", assign_members)
    app.add_route("POST", "/guardrails/{id}/assignments/members/remove", unassign_members)
