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

__all__ = ["SPEC_ENV_VAR", "find_spec", "load_spec", "schema_validator", "validation_error"]

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
