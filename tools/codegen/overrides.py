"""Small hand-written corrections applied to the spec before generation.

Each correction is a function ``(schemas) -> list[str]`` that edits the loaded
``components.schemas`` in place and returns one line per change (printed with ``--verbose``).
Keep them few, generic where possible, and explain why each exists: they are where our
models knowingly differ from the published spec.

1. :func:`error_codes_accept_strings` — every integer ``code`` property of an error object
   (a schema whose name or property path mentions "error": ``ChatStreamChunk.error.code``,
   ``BadRequestResponseErrorData.code``, ...) accepts a number *or a string*. The spec says
   integer, but upstream providers' errors are passed through and often carry string codes
   (``"rate_limit_exceeded"``, ``"context_length_exceeded"``); a mid-stream error event
   with such a code must not become a validation failure that hides the real error.

Things deliberately *not* overridden (spec quirks, documented in the README):

* ``allOf: [{$ref: X}, {required: [...]}]`` (``WebSearchPlugin.user_location``) is generated as
  plain ``X``: the extra ``required`` constraint is not enforced client-side.
* Enums are open everywhere (the field type is ``FooEnum | str``): that is a generator rule, not
  an override.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

Override = Callable[[dict[str, Any]], list[str]]


def _is_integer(schema: Any) -> bool:
    if not isinstance(schema, dict):
        return False
    t = schema.get("type")
    return t == "integer" or (isinstance(t, list) and "integer" in t and "string" not in t)


def error_codes_accept_strings(schemas: dict[str, Any]) -> list[str]:
    changes: list[str] = []

    def visit(schema: Any, path: list[str]) -> None:
        if isinstance(schema, list):
            for index, item in enumerate(schema):
                visit(item, [*path, str(index)])
            return
        if not isinstance(schema, dict):
            return
        props = schema.get("properties")
        if isinstance(props, dict):
            code = props.get("code")
            in_error = any("error" in part.lower() for part in path)
            if in_error and _is_integer(code):
                t = code["type"]
                nullable = isinstance(t, list) and "null" in t
                replacement: dict[str, Any] = {
                    "anyOf": [
                        {"type": "integer"},
                        {"type": "string"},
                        *([{"type": "null"}] if nullable else []),
                    ]
                }
                for key in ("description", "example", "deprecated"):
                    if key in code:
                        replacement[key] = code[key]
                props["code"] = replacement
                changes.append(f"{'.'.join(path)}.code: integer -> integer | string")
        for key, value in schema.items():
            if key in ("example", "examples", "enum", "const", "default"):
                continue
            if key == "properties" and isinstance(value, dict):
                for name, prop in value.items():
                    visit(prop, [*path, name])
            else:
                visit(value, path)

    for name, schema in schemas.items():
        visit(schema, [name])
    return changes


OVERRIDES: list[Override] = [error_codes_accept_strings]


def apply(schemas: dict[str, Any]) -> list[str]:
    """Apply every override in order; return what changed."""
    changes: list[str] = []
    for override in OVERRIDES:
        changes += override(schemas)
    return changes
