"""User-style code with the pydantic-compatible model methods: ``mypy --strict`` must accept
it (CI runs it; it is not executed)."""

from __future__ import annotations

from typing import Any

from openrouter_async.models import ChatRequest, ChatResult


def round_trip(result: ChatResult) -> int:
    data: dict[str, Any] = result.model_dump(mode="json", exclude_none=True, exclude={"usage"})
    again: ChatResult = ChatResult.model_validate(data)
    text: str = again.model_dump_json(indent=2)
    parsed: ChatResult = ChatResult.model_validate_json(text)
    renamed: ChatResult = parsed.model_copy(update={"id": "gen-1"})
    return len(renamed.choices or [])


def request_copy(request: ChatRequest) -> ChatRequest:
    return request.model_copy(update={"temperature": 0.2})
