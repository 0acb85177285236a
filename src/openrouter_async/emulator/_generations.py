"""``GET /generation?id=`` (one call the emulator served, or a seeded one) and
``GET /activity`` (the account's calls per day, model, provider and key).

Every chat, completions, responses and embeddings call is recorded with its model,
provider, tokens, cost, latency and finish reason. Activity adds them up per UTC day; it
includes today's calls (OpenRouter only shows completed days) and any date, not only the
last 30 days, so that the seeded 2025-01-15 stays visible.
"""

from __future__ import annotations

import hashlib
import re
from typing import Any

from ._app import HTTPError, Request, Response, json_response
from ._state import ActivityRow

__all__ = ["register"]

_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")


async def get_generation(request: Request) -> Response:
    generation_id = request.query_value("id")
    if not generation_id:
        raise HTTPError(400, "Missing required query parameter: id")
    record = request.state.store.generations.get(generation_id)
    if record is None:
        raise HTTPError(404, f"Generation {generation_id} not found")
    return json_response({"data": record.as_dict()})


def _endpoint_id(row: ActivityRow) -> str:
    digest = hashlib.sha256(f"{row.model}|{row.provider_name}".encode()).hexdigest()
    return f"{digest[:8]}-{digest[8:12]}-4{digest[13:16]}-8{digest[17:20]}-{digest[20:32]}"


def _item(row: ActivityRow, with_workspace: bool) -> dict[str, Any]:
    item: dict[str, Any] = {
        "date": row.date,
        "model": row.model,
        "model_permaslug": row.model,
        "endpoint_id": _endpoint_id(row),
        "provider_name": row.provider_name,
        "usage": row.usage,
        "byok_usage_inference": 0.0,
        "requests": row.requests,
        "prompt_tokens": row.prompt_tokens,
        "completion_tokens": row.completion_tokens,
        "reasoning_tokens": row.reasoning_tokens,
        # Newer than the spec (the official SDK >= 1.3 requires it): an extra field here.
        "cached_tokens": 0,
    }
    if with_workspace:
        item["workspace_id"] = row.workspace_id
    return item


async def get_activity(request: Request) -> Response:
    date = request.query_value("date")
    if date is not None and not _DATE.match(date):
        raise HTTPError(400, "Invalid date: expected YYYY-MM-DD")
    key_hash = request.query_value("api_key_hash")
    user_id = request.query_value("user_id")
    workspace = request.query_value("workspace_id")
    by_workspace = request.query_value("group_by") == "workspace"
    if user_id is not None and request.key is not None and user_id != request.key.creator_user_id:
        return json_response({"data": []})
    totals: dict[tuple[str, ...], ActivityRow] = {}
    for row in request.state.store.activity.values():
        if date is not None and row.date != date:
            continue
        if key_hash is not None and row.key_hash != key_hash:
            continue
        if workspace is not None and row.workspace_id != workspace:
            continue
        group: tuple[str, ...] = (row.date, row.model, row.provider_name)
        if by_workspace:
            group += (row.workspace_id,)
        total = totals.get(group)
        if total is None:
            total = totals[group] = ActivityRow(
                row.date, row.model, row.provider_name, "", row.workspace_id
            )
        total.usage = round(total.usage + row.usage, 12)
        total.requests += row.requests
        total.prompt_tokens += row.prompt_tokens
        total.completion_tokens += row.completion_tokens
        total.reasoning_tokens += row.reasoning_tokens
    rows = sorted(totals.values(), key=lambda r: (r.date, r.usage), reverse=True)
    return json_response({"data": [_item(row, by_workspace) for row in rows]})


def register(app: Any) -> None:
    app.add_route("GET", "/generation", get_generation)
    app.add_route("GET", "/activity", get_activity)
