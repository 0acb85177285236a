"""The OpenRouter OpenAPI spec, for the emulator's optional request validation (and for tests
that check the emulator's responses against it).

``jsonschema``, ``referencing`` and ``yaml`` are development dependencies only: they are
imported lazily, when validation is turned on. Loading the spec takes about half a second, so
the parsed spec and the validators are cached per path.
"""

from __future__ import annotations

import functools
import os
import threading
from pathlib import Path
from typing import Any

__all__ = [
    "SPEC_ENV_VAR",
    "find_spec",
    "load_spec",
    "operation",
    "pointer_validator",
    "query_problem",
    "request_body_validator",
    "response_validator",
    "schema_validator",
    "validation_error",
]

#: Environment variable naming the spec file, checked first by :func:`find_spec`.
SPEC_ENV_VAR = "OPENROUTER_ASYNC_OPENAPI_SPEC"
_SPEC_RELATIVE = Path("shared", "openapi", "openrouter.openapi.yaml")
_SPEC_URI = "urn:openrouter-openapi"

_lock = threading.Lock()


def find_spec() -> Path | None:
    """Locate the spec: ``$OPENROUTER_ASYNC_OPENAPI_SPEC``, else ``shared/openapi/
    openrouter.openapi.yaml`` in the current directory, the source tree or any of their
    parents (the project keeps it next to, not inside, the checkout). ``None`` if absent."""
    env = os.environ.get(SPEC_ENV_VAR)
    if env:
        path = Path(env)
        return path if path.is_file() else None
    for start in (Path.cwd(), Path(__file__).resolve()):
        for directory in (start, *start.parents):
            candidate = directory / _SPEC_RELATIVE
            if candidate.is_file():
                return candidate
    return None


def _resolve(path: str | os.PathLike[str] | None) -> Path:
    if path is not None:
        return Path(path).resolve()
    found = find_spec()
    if found is None:
        raise FileNotFoundError(
            "OpenRouter OpenAPI spec not found: pass spec_path or set " + SPEC_ENV_VAR
        )
    return found.resolve()


@functools.lru_cache(maxsize=4)
def _load(path: Path) -> dict[str, Any]:
    import yaml

    with path.open("rb") as file:
        spec = yaml.load(file, Loader=yaml.CSafeLoader)
    if not isinstance(spec, dict):
        raise ValueError(f"{path} is not an OpenAPI document")
    return spec


def load_spec(path: str | os.PathLike[str] | None = None) -> dict[str, Any]:
    """The parsed spec (cached; thread-safe)."""
    resolved = _resolve(path)
    with _lock:
        return _load(resolved)


@functools.lru_cache(maxsize=64)
def _validator(path: Path, schema_name: str) -> Any:
    from jsonschema import Draft202012Validator  # type: ignore[import-untyped]
    from referencing import Registry, Resource
    from referencing.jsonschema import DRAFT202012

    with _lock:
        spec = _load(path)
    if schema_name not in spec.get("components", {}).get("schemas", {}):
        raise KeyError(f"no schema {schema_name!r} in {path}")
    registry: Registry[Any] = Registry().with_resource(
        _SPEC_URI, Resource.from_contents(spec, default_specification=DRAFT202012)
    )
    return Draft202012Validator(
        {"$ref": f"{_SPEC_URI}#/components/schemas/{schema_name}"}, registry=registry
    )


def schema_validator(schema_name: str, path: str | os.PathLike[str] | None = None) -> Any:
    """A ``jsonschema`` Draft 2020-12 validator for ``#/components/schemas/<schema_name>``
    (cached). OpenAPI-only keywords (``discriminator``, ``example``, ``x-...``) are ignored."""
    return _validator(_resolve(path), schema_name)


def validation_error(validator: Any, instance: Any) -> str | None:
    """The most relevant violation of ``instance`` as a one-line message, or ``None``."""
    from jsonschema.exceptions import best_match  # type: ignore[import-untyped]

    error = best_match(validator.iter_errors(instance))
    if error is None:
        return None
    where = "".join(f"[{part!r}]" for part in error.absolute_path) or "the body"
    return f"Invalid request at {where}: {error.message}"


# -- operations ------------------------------------------------------------------------------


def _escape(token: str) -> str:
    return token.replace("~", "~0").replace("/", "~1")


def operation(
    method: str, template: str, path: str | os.PathLike[str] | None = None
) -> dict[str, Any] | None:
    """The spec's operation object for ``method`` ``template`` (a path of the spec such as
    ``/keys/{hash}``), or ``None`` if the spec does not describe it."""
    item = load_spec(path).get("paths", {}).get(template)
    if not isinstance(item, dict):
        return None
    found = item.get(method.lower())
    return found if isinstance(found, dict) else None


@functools.lru_cache(maxsize=512)
def _pointer_validator(path: Path, pointer: str) -> Any:
    from jsonschema import Draft202012Validator
    from referencing import Registry, Resource
    from referencing.jsonschema import DRAFT202012

    with _lock:
        spec = _load(path)
    registry: Registry[Any] = Registry().with_resource(
        _SPEC_URI, Resource.from_contents(spec, default_specification=DRAFT202012)
    )
    return Draft202012Validator({"$ref": f"{_SPEC_URI}#{pointer}"}, registry=registry)


def pointer_validator(pointer: str, path: str | os.PathLike[str] | None = None) -> Any:
    """A validator for the schema at a JSON pointer of the spec (``/paths/~1keys/get/...``)."""
    return _pointer_validator(_resolve(path), pointer)


def request_body_validator(
    method: str, template: str, path: str | os.PathLike[str] | None = None
) -> Any | None:
    """A validator for the JSON request body of an operation, or ``None`` if it has none."""
    op = operation(method, template, path)
    if op is None:
        return None
    content = op.get("requestBody", {}).get("content", {})
    if "application/json" not in content or "schema" not in content["application/json"]:
        return None
    pointer = (
        f"/paths/{_escape(template)}/{method.lower()}/requestBody/content/"
        f"{_escape('application/json')}/schema"
    )
    return pointer_validator(pointer, path)


def response_validator(
    method: str,
    template: str,
    status: int | str,
    path: str | os.PathLike[str] | None = None,
    content_type: str = "application/json",
) -> Any:
    """A validator for the response body of an operation with a status (``KeyError`` if the
    spec does not describe that response)."""
    op = operation(method, template, path)
    if op is None:
        raise KeyError(f"no operation {method.upper()} {template} in the spec")
    response = op.get("responses", {}).get(str(status))
    if response is None or content_type not in response.get("content", {}):
        raise KeyError(f"no {status} {content_type} response for {method.upper()} {template}")
    pointer = (
        f"/paths/{_escape(template)}/{method.lower()}/responses/{status}/content/"
        f"{_escape(content_type)}/schema"
    )
    return pointer_validator(pointer, path)


def _coerce(raw: str, schema: Any) -> Any:
    """A query string value as the JSON value its schema expects (left as is when it does not
    parse: the schema then reports it)."""
    kinds = schema.get("type") if isinstance(schema, dict) else None
    kinds = [kinds] if isinstance(kinds, str) else list(kinds or ())
    if "integer" in kinds:
        try:
            return int(raw)
        except ValueError:
            pass
    if "number" in kinds:
        try:
            return float(raw)
        except ValueError:
            pass
    if "boolean" in kinds and raw in ("true", "false"):
        return raw == "true"
    if "null" in kinds and raw in ("", "null"):
        return None
    return raw


def query_problem(
    method: str,
    template: str,
    query: dict[str, list[str]],
    path: str | os.PathLike[str] | None = None,
) -> str | None:
    """The first problem of the query string of a request against the operation's query
    parameters (a required one missing, a value that violates its schema), or ``None``."""
    op = operation(method, template, path)
    if op is None:
        return None
    from jsonschema.exceptions import best_match

    for index, parameter in enumerate(op.get("parameters", ())):
        if not isinstance(parameter, dict) or parameter.get("in") != "query":
            continue
        name = parameter.get("name")
        values = query.get(name) if isinstance(name, str) else None
        if not values:
            if parameter.get("required"):
                return f"Missing required query parameter: {name}"
            continue
        schema = parameter.get("schema", {})
        pointer = f"/paths/{_escape(template)}/{method.lower()}/parameters/{index}/schema"
        validator = pointer_validator(pointer, path)
        error = best_match(validator.iter_errors(_coerce(values[-1], schema)))
        if error is not None:
            return f"Invalid query parameter {name}: {error.message}"
    return None
