"""Validate JSON bodies against the official OpenAPI spec's schemas (JSON Schema 2020-12).

The whole spec document is registered with ``referencing`` under one URI, so the spec's own
``#/components/schemas/...`` references resolve. Loading the spec takes most of a second:
the document and the validators are built once per process.

    from tests.spec_validation import SPEC_AVAILABLE, validate_chat_request
    validate_chat_request(orjson.loads(dumps(request)))   # raises jsonschema.ValidationError
"""

from __future__ import annotations

import functools
from pathlib import Path
from typing import Any

SPEC_PATH = Path(__file__).resolve().parents[2] / "shared" / "openapi" / "openrouter.openapi.yaml"
SPEC_AVAILABLE = SPEC_PATH.exists()
SKIP_REASON = f"the OpenAPI spec is not available at {SPEC_PATH} (../shared is absent)"

_BASE = "urn:openrouter-openapi"


@functools.cache
def load_spec() -> dict[str, Any]:
    import yaml

    with SPEC_PATH.open("rb") as handle:
        spec: dict[str, Any] = yaml.load(handle, Loader=yaml.CSafeLoader)
    return spec


@functools.cache
def _registry() -> Any:
    from referencing import Registry, Resource
    from referencing.jsonschema import DRAFT202012

    resource = Resource.from_contents(load_spec(), default_specification=DRAFT202012)
    return Registry().with_resource(_BASE, resource)


@functools.cache
def validator(schema_name: str) -> Any:
    """A Draft 2020-12 validator for ``#/components/schemas/<schema_name>``."""
    from jsonschema import Draft202012Validator

    if schema_name not in load_spec()["components"]["schemas"]:
        raise KeyError(f"no schema {schema_name!r} in the spec")
    return Draft202012Validator(
        {"$ref": f"{_BASE}#/components/schemas/{schema_name}"}, registry=_registry()
    )


def validate(body: Any, schema_name: str) -> None:
    """Raise ``jsonschema.ValidationError`` (the most relevant one) if ``body`` violates it."""
    import jsonschema.exceptions

    errors = list(validator(schema_name).iter_errors(body))
    if errors:
        best = jsonschema.exceptions.best_match(errors)
        assert best is not None
        raise best


def validate_chat_request(body: dict[str, Any]) -> None:
    """Raise if ``body`` is not a valid ``ChatRequest`` per the spec."""
    validate(body, "ChatRequest")
