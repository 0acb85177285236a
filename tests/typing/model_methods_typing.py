"""User-style code with the pydantic-compatible model methods: ``mypy --strict`` must accept
it (CI runs it; it is not executed). Each method infers the subclass it is called on."""

from __future__ import annotations

from typing import Any

from openrouter_async.models import ChatRequest, ChatResult, ChatUsage


def round_trip(result: ChatResult) -> int:
    data: dict[str, Any] = result.model_dump(mode="json", exclude_none=True, exclude={"usage"})
    nested = result.model_dump(include={"choices": {0: {"message": {"content"}}}, "id": True})
    names = result.model_dump(by_alias=False, exclude_unset=False)
    again = ChatResult.model_validate(data)
    text: str = again.model_dump_json(indent=2, exclude_none=True)
    parsed = ChatResult.model_validate_json(text, strict=True)
    renamed = parsed.model_copy(update={"id": "gen-1"})
    deep = renamed.model_copy(deep=True)
    choices = deep.choices or []  # ChatResult's own attributes: inferred, not Any
    return len(choices) + len(nested) + len(names) + (again.created or 0)


def request_copy(request: ChatRequest) -> ChatRequest:
    shorter = request.model_copy(update={"temperature": 0.2})
    return ChatRequest.model_validate(shorter.model_dump())


def schema_and_fields(usage: ChatUsage) -> list[str]:
    schema: dict[str, Any] = ChatResult.model_json_schema(ref_template="#/defs/{model}")
    required = [name for name, field in ChatResult.model_fields.items() if field.is_required()]
    aliases: list[str] = [field.alias for field in usage.model_fields.values()]
    given: set[str] = usage.model_fields_set
    return [*schema, *required, *aliases, *sorted(given)]
