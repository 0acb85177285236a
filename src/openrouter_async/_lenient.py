"""Lenient parsing: read a response body the strict parse refused, keeping what it can.

Real servers send what the spec does not promise: a ``/models`` catalogue without the
``links`` every entry is said to have, a usage chunk whose ``cost_details`` lacks the upstream
costs, a tool call without ``arguments``. Failing the whole call for that would be worse than
useless, so :func:`._convert.parse` calls :func:`parse_leniently` when (and only when) the
strict, generated parse raises. The rules, applied field by field:

* a field the spec requires but the body leaves out, or sends as null, reads ``None``;
* a value of an unexpected type: the field reads ``None`` and the value is kept, under its
  JSON name, in that instance's ``model_extra`` (so it is still reachable, and unstructures
  back as it came), with a DEBUG line on the ``openrouter_async`` logger naming the class, the
  path and what was expected (the value's type only: never the value, which may be large or
  sensitive);
* an item of an array (or a value of a map) that does not fit: an object is read leniently,
  anything else is kept as it came;
* a union value no alternative accepts: an object is read leniently as the alternative its tag
  property names (or, without a tag, the one sharing most keys with it); an object with an
  unknown tag, or a value no alternative can hold, is kept as it came (in a list) or in
  ``model_extra`` (in a field).

What cannot give anything usable is still refused (:data:`REFUSED`, so the caller raises
``ResponseValidationError``): a body that is not an object where an object model is expected,
a top-level union whose tag names no alternative, a type without lenient metadata.

The metadata comes from the generated modules: each one's ``_lenient()`` returns, per
response-style class, ``(JSON name, slot setter, type description, value when absent)`` of
every field, the type descriptions being ``"str"``/``"int"``/``"float"``/``"bool"``/
``"any"``/``"null"``, a class, ``("list", item)``, ``("dict", value)`` or ``("union", strict
hook, alternatives, tag property or None, {tag: class})``. Those functions run once, on the
first body that needs them, so none of it costs anything at import or on the strict path.

Measured (CPython 3.11, shared 2-core machine, median of runs): importing
``openrouter_async.models._chat`` from bytecode 34.3 ms before this module and its metadata
existed and 34.6 ms after (from source 113 ms / 116 ms); ``parse`` of a typical ``ChatResult``
6.0 µs before / 6.0 µs after, of a ``ChatStreamChunk`` 4.45 µs / 4.4 µs.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Mapping
from typing import Any, Final

from ._convert import _STRUCTURE, LENIENT_SOURCES, Invalid, extras, new, set_nulls
from ._unset import UNSET

__all__ = ["REFUSED", "parse_leniently"]

_log = logging.getLogger("openrouter_async")

#: parse_leniently's answer when nothing usable can be built: the caller raises as before
REFUSED: Final = object()
#: a value that does not fit a type (the caller keeps it as it came)
_BAD: Final = object()

#: class or union alias → its field table or union description (from the modules' _lenient())
_TABLES: dict[Any, Any] = {}
_TABLES_LOCK = threading.Lock()
#: class → (its fields' JSON names, the model_extra slot setter)
_CLASS_INFO: dict[type, tuple[frozenset[str], Any]] = {}


def _tables() -> dict[Any, Any]:
    if LENIENT_SOURCES:
        with _TABLES_LOCK:
            while LENIENT_SOURCES:
                _TABLES.update(LENIENT_SOURCES.pop()())
    return _TABLES


def _class_info(cls: type, fields: tuple[Any, ...]) -> tuple[frozenset[str], Any]:
    info = _CLASS_INFO.get(cls)
    if info is None:
        known = frozenset(field[0] for field in fields)
        info = _CLASS_INFO[cls] = (known, cls.__dict__["model_extra"].__set__)
    return info


# -- describing types and values in log lines (types only, never values) -------------------

_KIND_NAMES = {
    "str": "string",
    "int": "integer",
    "float": "number",
    "bool": "boolean",
    "null": "null",
    "any": "any value",
}


def _expected(desc: Any) -> str:
    if type(desc) is str:
        return _KIND_NAMES[desc]
    if isinstance(desc, type):
        return f"object {desc.__name__}"
    if desc[0] == "list":
        return "array"
    if desc[0] == "dict":
        return "object"
    _, _, alternatives, key, _ = desc
    if len(alternatives) > 4:  # StreamEvents has fifty: say how they are told apart
        told = f" told apart by {key!r}" if key else ""
        return f"one of {len(alternatives)} kinds{told}"
    names: list[str] = []
    for alt in alternatives:
        name = _expected(alt)
        if name not in names:
            names.append(name)
    return " or ".join(names)


def _kind(value: Any) -> str:
    """The JSON type of a value, without the value (it may be large or sensitive)."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, str):
        return "string"
    if isinstance(value, int):
        return "integer"
    if isinstance(value, float):
        return "number"
    if isinstance(value, (list, tuple)):
        return "array"
    if isinstance(value, Mapping):
        return "object"
    return type(value).__name__


def _path(at: Any) -> str:
    """``at`` is a chain ``(parent, segment)`` built cheaply on the way down."""
    segments: list[str] = []
    while at is not None:
        at, segment = at
        segments.append(segment)
    out = ""
    for segment in reversed(segments):
        out += segment if segment.startswith("[") or not out else "." + segment
    return out or "(top)"


class _Run:
    """One lenient parse: the top class's name (for log lines) and what was kept."""

    __slots__ = ("debug", "kept", "top")

    def __init__(self, top: str) -> None:
        self.top = top
        self.kept = 0
        self.debug = _log.isEnabledFor(logging.DEBUG)

    def bad(self, owner: str, at: Any, desc: Any, value: Any, outcome: str) -> None:
        self.kept += 1
        if self.debug:
            _log.debug(
                "%s does not match the spec at %s (%s): expected %s, got %s; %s",
                self.top,
                _path(at),
                owner,
                _expected(desc),
                _kind(value),
                outcome,
            )


# -- the walk -------------------------------------------------------------------------------


def _fits(kind: str, value: Any) -> bool:
    if kind == "any":
        return True
    if kind == "str":
        return type(value) is str
    if kind == "int":
        return type(value) is int
    if kind == "float":
        return type(value) is float or type(value) is int
    if kind == "bool":
        return type(value) is bool
    return value is None  # "null"


def _object(cls: type, data: dict[str, Any], at: Any, run: _Run) -> Any:
    """An instance of ``cls`` from ``data``, field by field (see the module's rules)."""
    fields = _tables().get(cls)
    if fields is None:
        return _BAD  # not a response-style class: nothing to be lenient with
    known, set_extra = _class_info(cls, fields)
    instance: Any = new(cls)
    kept: dict[str, Any] = {}
    nulls: tuple[str, ...] = ()
    for wire, setter, desc, absent in fields:
        value = data.get(wire, UNSET)
        if value is UNSET:
            setter(instance, absent)
            continue
        if value is None:
            setter(instance, None)
            nulls += (wire,)  # sent back as null where the field may be null (nulls_given)
            continue
        read = _value(desc, value, (at, wire), run)
        if read is _BAD:
            run.bad(
                f"{cls.__name__}.{wire}",
                (at, wire),
                desc,
                value,
                "read as None, the value kept in model_extra",
            )
            setter(instance, None)
            kept[wire] = value
        else:
            setter(instance, read)
    try:
        extra = extras(data, known)
    except Invalid:  # a "model_extra" key that is not an object: keep it as it is
        extra = {k: v for k, v in data.items() if k not in known}
    if kept:
        extra = {**(extra or {}), **kept}
    set_extra(instance, extra or None)
    if nulls:
        set_nulls(instance, nulls)
    return instance


def _value(desc: Any, value: Any, at: Any, run: _Run) -> Any:
    """``value`` read as ``desc``, strictly where it fits; ``_BAD`` where it cannot."""
    if type(desc) is str:
        return value if _fits(desc, value) else _BAD
    if isinstance(desc, type):
        if type(value) is not dict:
            return _BAD
        try:
            return _STRUCTURE[desc](value)
        except Invalid:
            return _object(desc, value, at, run)
    kind = desc[0]
    if kind == "list":
        if type(value) is not list:
            return _BAD
        item = desc[1]
        items = []
        for index, entry in enumerate(value):
            read = _value(item, entry, (at, f"[{index}]"), run)
            if read is _BAD:
                run.bad("array item", (at, f"[{index}]"), item, entry, "item kept as received")
                read = entry
            items.append(read)
        return items
    if kind == "dict":
        if type(value) is not dict:
            return _BAD
        item = desc[1]
        out = {}
        for key, entry in value.items():
            read = _value(item, entry, (at, str(key)), run)
            if read is _BAD:
                run.bad("map value", (at, str(key)), item, entry, "value kept as received")
                read = entry
            out[key] = read
        return out
    return _union(desc, value, at, run)


def _union(desc: Any, value: Any, at: Any, run: _Run) -> Any:
    _, strict, alternatives, _, _ = desc
    try:
        return strict(value)
    except Invalid:
        pass
    if type(value) is dict:
        target = _alternative(desc, value)
        if target is None:
            return _BAD
        return _object(target, value, at, run)
    if type(value) is list:
        for alternative in alternatives:
            if type(alternative) is tuple and alternative[0] == "list":
                return _value(alternative, value, at, run)
    return _BAD


def _alternative(desc: Any, data: dict[str, Any], *, tagged_only: bool = False) -> type | None:
    """The class of a union that an object the strict parse refused should be read as: the
    one its tag names; without a tag, the one whose constant fields match and which shares
    most keys with it. None: an unknown tag, or nothing in common."""
    _, _, alternatives, key, table = desc
    if key is not None:
        tag = data.get(key)
        if type(tag) is str and tag in table:
            found: type = table[tag]
            return found
        if tag is not None or tagged_only:
            return None  # an unknown tag: a kind this client does not know yet
    elif tagged_only:
        return None
    tables = _tables()
    best: type | None = None
    best_score = 0
    for alternative in alternatives:
        if not isinstance(alternative, type):
            continue
        fields = tables.get(alternative)
        if not isinstance(fields, tuple):
            continue
        score = 0
        for wire, _, _, absent in fields:
            if wire in data:
                if absent is not None and data[wire] != absent:
                    score = -1  # a constant field (``type: "text"``) says it is another one
                    break
                score += 1
        if score > best_score:
            best, best_score = alternative, score
    return best


def parse_leniently(data: Any, cls: Any, error: Invalid) -> Any:
    """``data`` read leniently as ``cls`` (after the strict parse raised ``error``), or
    :data:`REFUSED` when nothing usable can be built."""
    desc = _tables().get(cls)
    if desc is None:
        return REFUSED
    if type(data) is not dict:
        if not isinstance(data, Mapping):
            return REFUSED
        data = dict(data)
    target = cls
    if not isinstance(cls, type):  # a union alias (a stream's event type): only by its tag
        target = _alternative(desc, data, tagged_only=True)
        if target is None:
            return REFUSED
    name = str(getattr(cls, "__name__", None) or getattr(target, "__name__", "?"))
    run = _Run(name)
    found = _object(target, data, None, run)
    if found is _BAD:
        return REFUSED
    if run.debug:
        _log.debug(
            "%s did not match the spec (first at %s); read leniently, %d value(s) of an"
            " unexpected type kept as received",
            name,
            error.path() or "(top)",
            run.kept,
        )
    return found
