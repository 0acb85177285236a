"""Deterministic instances of JSON schemas: the arguments of emulated tool calls and the
content asked for by ``response_format: {"type": "json_schema", ...}``.

The instance depends only on the schema (and a property's name, for plausible strings such
as ``"Paris"`` for ``location``). ``const``, ``enum``, ``examples`` and ``default`` come
first; local ``$ref`` (``#/$defs/...``, ``#/definitions/...``) are followed; ``allOf`` is
merged; ``anyOf`` / ``oneOf`` take their first non-null option. Bounds are honoured:
``minimum`` / ``maximum`` (and their exclusive forms), ``multipleOf``, ``minLength`` /
``maxLength``, ``pattern`` (a matching string is built from the regular expression),
``minItems`` / ``maxItems``, ``uniqueItems``, ``prefixItems``, ``minProperties`` /
``maxProperties``, ``additionalProperties``.
"""

from __future__ import annotations

import math
import re
from typing import Any

__all__ = ["example_value", "string_matching"]

_MAX_DEPTH = 16
#: Deeper than this, objects get only their required properties and arrays only their
#: ``minItems`` (recursive schemas end).
_SHALLOW_DEPTH = 6
_MAX_ITEMS = 10_000

_STRING_EXAMPLES = (
    ("location", "Paris"),
    ("city", "Paris"),
    ("country", "France"),
    ("email", "ada@example.com"),
    ("url", "https://example.com"),
    ("timezone", "Europe/Paris"),
    ("language", "en"),
    ("unit", "celsius"),
    ("date", "2024-01-01"),
    ("query", "OpenRouter"),
    ("name", "Ada Lovelace"),
)
_FORMAT_EXAMPLES = {
    "date": "2024-01-01",
    "date-time": "2024-01-01T00:00:00Z",
    "time": "00:00:00Z",
    "duration": "P1D",
    "email": "ada@example.com",
    "idn-email": "ada@example.com",
    "hostname": "example.com",
    "idn-hostname": "example.com",
    "ipv4": "192.0.2.1",
    "ipv6": "2001:db8::1",
    "uri": "https://example.com",
    "uri-reference": "https://example.com",
    "iri": "https://example.com",
    "url": "https://example.com",
    "uuid": "00000000-0000-4000-8000-000000000000",
    "regex": "^example$",
    "json-pointer": "/example",
}
_LOWER_BOUNDS = ("minimum", "exclusiveMinimum", "minLength", "minItems", "minProperties")
_UPPER_BOUNDS = ("maximum", "exclusiveMaximum", "maxLength", "maxItems", "maxProperties")


def _resolve(schema: dict[str, Any], root: Any) -> dict[str, Any]:
    """``schema`` with its local ``$ref`` replaced by the target (sibling keywords kept)."""
    seen = 0
    while isinstance(schema.get("$ref"), str) and seen < _MAX_DEPTH:
        seen += 1
        ref: str = schema["$ref"]
        rest = {key: value for key, value in schema.items() if key != "$ref"}
        target: Any = None
        if ref == "#":
            target = root
        elif ref.startswith("#/"):
            target = root
            for token in ref[2:].split("/"):
                token = token.replace("~1", "/").replace("~0", "~")
                if isinstance(target, dict) and token in target:
                    target = target[token]
                elif isinstance(target, list) and token.isdigit() and int(token) < len(target):
                    target = target[int(token)]
                else:
                    target = None
                    break
        if not isinstance(target, dict):
            return rest
        schema = {**target, **rest}
    return schema


def _merge(first: dict[str, Any], second: dict[str, Any]) -> dict[str, Any]:
    """A schema that asks for both (what ``allOf`` needs, for the usual cases)."""
    merged = dict(first)
    for key, value in second.items():
        if key not in merged:
            merged[key] = value
        elif key == "properties" and isinstance(value, dict):
            properties = dict(merged[key]) if isinstance(merged[key], dict) else {}
            for name, sub in value.items():
                properties[name] = {"allOf": [properties[name], sub]} if name in properties else sub
            merged[key] = properties
        elif key == "required" and isinstance(value, list):
            merged[key] = list(dict.fromkeys([*merged[key], *value]))
        elif key in _LOWER_BOUNDS and isinstance(value, (int, float)):
            merged[key] = max(merged[key], value)
        elif key in _UPPER_BOUNDS and isinstance(value, (int, float)):
            merged[key] = min(merged[key], value)
        elif key == "enum" and isinstance(value, list) and isinstance(merged[key], list):
            common = [item for item in merged[key] if item in value]
            merged[key] = common or merged[key]
        elif key == "type":
            mine = merged[key] if isinstance(merged[key], list) else [merged[key]]
            theirs = value if isinstance(value, list) else [value]
            common = [kind for kind in mine if kind in theirs]
            if "integer" in theirs and "number" in mine and "integer" not in common:
                common.append("integer")
            if "integer" in mine and "number" in theirs and "integer" not in common:
                common.append("integer")
            merged[key] = common[0] if len(common) == 1 else common or merged[key]
        elif key in ("allOf", "anyOf", "oneOf") and isinstance(value, list):
            merged[key] = [*merged[key], *value] if key == "allOf" else merged[key]
    return merged


def _flatten(schema: dict[str, Any], root: Any, depth: int) -> dict[str, Any]:
    """Resolve ``$ref``, merge ``allOf``, pick the option of ``anyOf`` / ``oneOf``."""
    for _ in range(_MAX_DEPTH):
        schema = _resolve(schema, root)
        parts = schema.get("allOf")
        if isinstance(parts, list) and parts:
            merged = {key: value for key, value in schema.items() if key != "allOf"}
            for part in parts:
                if isinstance(part, dict):
                    merged = _merge(merged, _flatten(part, root, depth + 1))
            schema = merged
            continue
        for key in ("anyOf", "oneOf"):
            options = schema.get(key)
            if isinstance(options, list) and options:
                resolved = [_resolve(o, root) if isinstance(o, dict) else o for o in options]
                usable = [
                    o for o in resolved if not (isinstance(o, dict) and o.get("type") == "null")
                ]
                option = (usable or resolved)[0]
                rest = {k: v for k, v in schema.items() if k != key}
                schema = _merge(rest, option) if isinstance(option, dict) else rest
                break
        else:
            return schema
    return schema


def _kind(schema: dict[str, Any]) -> str:
    kind = schema.get("type")
    if isinstance(kind, list):
        kinds = [k for k in kind if k != "null"]
        kind = kinds[0] if kinds else "null"
    if isinstance(kind, str):
        return kind
    if any(k in schema for k in ("properties", "required", "additionalProperties")):
        return "object"
    if any(k in schema for k in ("items", "prefixItems", "minItems")):
        return "array"
    if any(k in schema for k in ("minimum", "maximum", "exclusiveMinimum", "multipleOf")):
        return "number"
    return "string"


def example_value(
    schema: Any,
    name: str = "",
    *,
    all_properties: bool,
    depth: int = 0,
    root: Any = None,
    variant: int = 0,
) -> Any:
    """A deterministic, plausible instance of a JSON schema (objects get their required
    properties, or all of them with ``all_properties``). ``variant`` > 0 asks for another
    instance (for ``uniqueItems``)."""
    if root is None:
        root = schema
    if schema is True or schema == {}:
        return f"example {name}" if name else "example"
    if not isinstance(schema, dict) or depth > _MAX_DEPTH:
        return "example"
    schema = _flatten(schema, root, depth)
    if "const" in schema:
        return schema["const"]
    values = schema.get("enum")
    if isinstance(values, list) and values:
        return values[variant % len(values)]
    values = schema.get("examples")
    if isinstance(values, list) and values and not variant:
        return values[0]
    if "default" in schema and not variant:
        return schema["default"]
    kind = _kind(schema)
    options = {
        "all_properties": all_properties and depth < _SHALLOW_DEPTH,
        "depth": depth + 1,
        "root": root,
    }
    if kind == "object":
        return _object(schema, variant, options)
    if kind == "array":
        return _array(schema, name, variant, options)
    if kind in ("integer", "number"):
        return _number(schema, kind == "integer", variant)
    if kind == "boolean":
        return variant % 2 == 0
    if kind == "null":
        return None
    return _string(schema, name, variant)


def _object(schema: dict[str, Any], variant: int, options: dict[str, Any]) -> dict[str, Any]:
    properties = schema.get("properties")
    properties = properties if isinstance(properties, dict) else {}
    required = [n for n in schema.get("required") or () if isinstance(n, str)]
    names = list(required)
    if options["all_properties"]:
        names = [*properties, *(n for n in required if n not in properties)]
    most = schema.get("maxProperties")
    if isinstance(most, int) and len(names) > most:
        names = [*required, *(n for n in names if n not in required)][: max(most, len(required))]
    extra = schema.get("additionalProperties")
    result: dict[str, Any] = {}
    for key in names:
        sub = properties.get(key, extra if isinstance(extra, dict) else {})
        result[key] = example_value(sub, key, variant=variant, **options)
    least = schema.get("minProperties")
    if isinstance(least, int):
        spare = [n for n in properties if n not in result]
        index = 0
        while len(result) < least:
            if spare:
                key = spare.pop(0)
                result[key] = example_value(properties[key], key, variant=variant, **options)
            elif extra is False:
                break
            else:
                index += 1
                key = f"key{index}"
                sub = extra if isinstance(extra, dict) else {}
                result[key] = example_value(sub, key, variant=variant, **options)
    return result


def _array(schema: dict[str, Any], name: str, variant: int, options: dict[str, Any]) -> list[Any]:
    prefix = schema.get("prefixItems")
    items = schema.get("items", {})
    if isinstance(items, list):  # draft 4 tuples
        prefix, items = items, schema.get("additionalItems", {})
    prefix = prefix if isinstance(prefix, list) else []
    least = schema.get("minItems")
    if options["depth"] > _SHALLOW_DEPTH:
        count = max(least if isinstance(least, int) else 0, 0)
    else:
        count = max(least if isinstance(least, int) else 1, 1, len(prefix) if least is None else 0)
    most = schema.get("maxItems")
    if isinstance(most, int):
        count = min(count, most)
    if items is False:
        count = min(count, len(prefix))
    count = min(count, _MAX_ITEMS)
    unique = schema.get("uniqueItems") is True
    result: list[Any] = []
    for index in range(count):
        sub = prefix[index] if index < len(prefix) else items
        shift = variant + (index if unique else 0)
        value = example_value(sub, name, variant=shift, **options)
        if unique:
            tries = 0
            while value in result and tries < 32:
                tries += 1
                value = example_value(sub, name, variant=shift + 1000 * tries, **options)
        result.append(value)
    return result


def _number(schema: dict[str, Any], integer: bool, variant: int) -> float | int:
    low, high = schema.get("minimum"), schema.get("maximum")
    low = low if isinstance(low, (int, float)) and not isinstance(low, bool) else None
    high = high if isinstance(high, (int, float)) and not isinstance(high, bool) else None
    low_open, high_open = schema.get("exclusiveMinimum"), schema.get("exclusiveMaximum")
    low_exclusive = high_exclusive = False
    if low_open is True:  # draft 4
        low_exclusive = low is not None
    elif isinstance(low_open, (int, float)) and (low is None or low_open >= low):
        low, low_exclusive = low_open, True
    if high_open is True:
        high_exclusive = high is not None
    elif isinstance(high_open, (int, float)) and (high is None or high_open <= high):
        high, high_exclusive = high_open, True

    def fits(value: float) -> bool:
        if low is not None and (value < low or (low_exclusive and value == low)):
            return False
        return high is None or not (value > high or (high_exclusive and value == high))

    step = schema.get("multipleOf")
    if isinstance(step, (int, float)) and not isinstance(step, bool) and step > 0:
        start = math.ceil(low / step) if low is not None else 1
        for k in range(start + variant, start + variant + 1000):
            multiple: float = k * step
            if integer or float(multiple).is_integer():
                multiple = round(multiple)
            if fits(multiple) and (multiple / step) == int(multiple / step):
                return int(multiple) if integer else multiple
        base = step * (start + variant)
        return int(base) if integer else base

    value: float = (1 if integer else 1.5) + variant
    if low is not None and not fits(value) and (value < low or value == low):
        value = (math.floor(low) + 1 if low_exclusive else math.ceil(low)) if integer else low
        if low_exclusive and not integer:
            value = low + 1 if high is None else (low + high) / 2
        value += variant
    if high is not None and not fits(value):
        if integer:
            value = math.ceil(high) - 1 if high_exclusive else math.floor(high)
        else:
            value = high if not high_exclusive else (high - 1 if low is None else (low + high) / 2)
    return int(value) if integer else value


def _string(schema: dict[str, Any], name: str, variant: int) -> str:
    fmt = schema.get("format")
    lowered = name.lower()
    if isinstance(fmt, str) and fmt in _FORMAT_EXAMPLES:
        value = _FORMAT_EXAMPLES[fmt]
    else:
        value = next(
            (example for key, example in _STRING_EXAMPLES if key in lowered),
            f"example {name}" if name else "example",
        )
    if variant:
        value = f"{value} {variant}"
    pattern = schema.get("pattern")
    if isinstance(pattern, str) and not _search(pattern, value):
        made = string_matching(pattern, variant)
        if made is not None:
            value = made
    least, most = schema.get("minLength"), schema.get("maxLength")
    if isinstance(least, int) and len(value) < least:
        value += "x" * (least - len(value))
    if isinstance(most, int) and len(value) > most:
        value = value[:most]
    return value


def _search(pattern: str, value: str) -> bool:
    try:
        return re.search(pattern, value) is not None
    except re.error:
        return True  # not a Python regular expression: nothing better to do


# -- strings from regular expressions --------------------------------------------------------


def _parser() -> Any:
    import importlib
    import warnings

    try:
        return importlib.import_module("re._parser")
    except ImportError:  # Python 3.10
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)
            return importlib.import_module("sre_parse")


_CATEGORY_CHARS = {
    "CATEGORY_DIGIT": "0",
    "CATEGORY_NOT_DIGIT": "a",
    "CATEGORY_WORD": "a",
    "CATEGORY_NOT_WORD": "-",
    "CATEGORY_SPACE": " ",
    "CATEGORY_NOT_SPACE": "a",
}
_CANDIDATES = "aA0_- .x1zZ9@"


def _set_char(items: list[Any], variant: int) -> str:
    negate = any(str(op) == "NEGATE" for op, _ in items)
    if negate:
        members = [(str(op), av) for op, av in items if str(op) != "NEGATE"]
        for char in _CANDIDATES:
            if not any(_in_member(char, op, av) for op, av in members):
                return char
        return "~"
    options: list[str] = []
    for op, av in items:
        kind = str(op)
        if kind == "LITERAL":
            options.append(chr(av))
        elif kind == "RANGE":
            options.append(chr(av[0]))
        elif kind == "CATEGORY":
            options.append(_CATEGORY_CHARS.get(str(av), "a"))
    return options[variant % len(options)] if options else "a"


def _in_member(char: str, kind: str, av: Any) -> bool:
    if kind == "LITERAL":
        return bool(ord(char) == av)
    if kind == "RANGE":
        return bool(av[0] <= ord(char) <= av[1])
    if kind == "CATEGORY":
        name = str(av)
        positive = name.replace("_NOT_", "_")
        if positive == "CATEGORY_DIGIT":
            found = char.isdigit()
        elif positive == "CATEGORY_WORD":
            found = char.isalnum() or char == "_"
        elif positive == "CATEGORY_SPACE":
            found = char.isspace()
        else:
            found = False
        return found != ("_NOT_" in name)
    return False


def _emit(parsed: Any, groups: dict[int, str], variant: int) -> str:
    out: list[str] = []
    for op, av in parsed:
        kind = str(op)
        if kind == "LITERAL":
            out.append(chr(av))
        elif kind == "NOT_LITERAL":
            out.append("a" if av != ord("a") else "b")
        elif kind == "ANY":
            out.append("a")
        elif kind == "IN":
            out.append(_set_char(av, variant))
        elif kind in ("MAX_REPEAT", "MIN_REPEAT", "POSSESSIVE_REPEAT"):
            low, _high, sub = av
            out.append("".join(_emit(sub, groups, variant) for _ in range(min(low, 1000))))
        elif kind == "SUBPATTERN":
            group, *_, sub = av
            text = _emit(sub, groups, variant)
            if group is not None:
                groups[group] = text
            out.append(text)
        elif kind == "ATOMIC_GROUP":
            out.append(_emit(av, groups, variant))
        elif kind == "BRANCH":
            _, alternatives = av
            out.append(_emit(alternatives[variant % len(alternatives)], groups, variant))
        elif kind == "CATEGORY":
            out.append(_CATEGORY_CHARS.get(str(av), "a"))
        elif kind == "GROUPREF":
            out.append(groups.get(av, ""))
        elif kind == "GROUPREF_EXISTS":
            _, yes, _no = av
            out.append(_emit(yes, groups, variant) if yes is not None else "")
        # AT (anchors), ASSERT, ASSERT_NOT: nothing to emit.
    return "".join(out)


def string_matching(pattern: str, variant: int = 0) -> str | None:
    """A short string that ``re.search(pattern, ...)`` finds, or ``None``."""
    try:
        parsed = _parser().parse(pattern)
    except Exception:
        return None
    for shift in (variant, 0):
        try:
            text = _emit(parsed, {}, shift)
        except Exception:
            return None
        if _search(pattern, text):
            return text
    return None
