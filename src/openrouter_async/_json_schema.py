"""The JSON side of a Python type: its JSON schema (:func:`schema_for`), and a JSON document
read back into it (:func:`value_of`).

Used where a model is asked to answer in the caller's own types: structured outputs
(``chat.parse(response_format=Cls)``) and tools made from Python functions. Understood:
attrs classes, dataclasses, pydantic v2 models (pydantic stays optional: it is looked for in
``sys.modules``, never imported here), ``TypedDict`` (``total=False``, ``Required`` /
``NotRequired``), ``str`` / ``int`` / ``float`` / ``bool`` / ``None``, ``list`` / ``Sequence`` /
``set`` / ``tuple``, ``dict`` / ``Mapping[str, X]``, ``Literal``, ``Enum``, ``Optional`` /
``Union``, ``Annotated`` (a string in its metadata is a description), ``NewType``,
``datetime`` / ``date`` / ``time`` / ``UUID`` (strings with a ``format``), and classes nested in
those (in ``$defs``, referenced by ``$ref``; a class may refer to itself).

Descriptions come from class docstrings, ``metadata={"description": ...}`` on an attrs or
dataclass field, and attribute docstrings (a string literal right under the field).

``strict=True`` follows OpenAI's strict structured-output rules, which most providers behind
OpenRouter accept: every property is listed in ``required``, a field that has a default (or
a ``NotRequired`` key) is sent as ``anyOf [X, null]`` (and a ``null`` answer for it means "use
the default", see :func:`value_of`), every object with properties has
``additionalProperties: false``, no ``default`` keywords, no ``$ref`` with sibling keywords.
A ``dict[str, X]`` keeps ``additionalProperties: X`` (strict mode has no way to say "any
keys"; some providers refuse it). ``strict=False`` is plain JSON schema: fields with defaults
are not required, and carry their ``default`` when it is JSON.
"""

from __future__ import annotations

import dataclasses
import datetime
import enum
import itertools
import re
import sys
import types
import typing
import uuid
import weakref
from collections.abc import Callable
from typing import Any

__all__ = [
    "SchemaMismatch",
    "is_object_type",
    "is_pydantic_model",
    "partial_json",
    "schema_for",
    "value_of",
]

_NO_DEFAULT: Any = object()


class SchemaMismatch(ValueError):
    """A JSON value that does not fit the Python type it is read into. ``path`` names where
    (``items[2].name``; empty for the whole document)."""

    def __init__(self, message: str, *, path: str = "") -> None:
        super().__init__(f"{path}: {message}" if path else message)
        self.reason = message
        self.path = path


# -- what a class's fields are -------------------------------------------------------------


class _Field:
    """One field of an attrs class, a dataclass or a TypedDict, as both directions need it."""

    __slots__ = ("default", "description", "init_name", "key", "required", "tp")

    def __init__(
        self,
        key: str,
        init_name: str,
        tp: Any,
        required: bool,
        default: Any,
        description: str | None,
    ) -> None:
        self.key = key  # the JSON name
        self.init_name = init_name  # the constructor's keyword (attrs strips a leading "_")
        self.tp = tp
        self.required = required
        self.default = default  # _NO_DEFAULT when there is none, or it is a factory
        self.description = description


class _ClassInfo:
    __slots__ = ("description", "fields", "kind", "name")

    def __init__(self, kind: str, name: str, description: str | None, fields: list[_Field]):
        self.kind = kind  # "attrs", "dataclass", "typeddict", "model" (our generated ones)
        self.name = name
        self.description = description
        self.fields = fields


_CLASSES: weakref.WeakKeyDictionary[type, _ClassInfo] = weakref.WeakKeyDictionary()


def _pydantic_base() -> type | None:
    module = sys.modules.get("pydantic")
    base = getattr(module, "BaseModel", None) if module is not None else None
    return base if isinstance(base, type) else None


def _is_pydantic(tp: Any) -> bool:
    base = _pydantic_base()
    return base is not None and isinstance(tp, type) and issubclass(tp, base)


def is_pydantic_model(tp: Any) -> bool:
    """Whether ``tp`` is a pydantic v2 model class (without importing pydantic)."""
    return _is_pydantic(tp)


def _is_typeddict(tp: Any) -> bool:
    # typing's and typing_extensions' TypedDicts both have these (is_typeddict of either
    # module misses the other's on some versions).
    return (
        isinstance(tp, type)
        and issubclass(tp, dict)
        and hasattr(tp, "__required_keys__")
        and hasattr(tp, "__annotations__")
    )


def is_object_type(tp: Any) -> bool:
    """Whether ``tp`` is a class whose schema is a JSON object with named properties (attrs,
    dataclass, pydantic model, TypedDict): what a structured output's root must be."""
    if not isinstance(tp, type):
        return False
    return (
        hasattr(tp, "__attrs_attrs__")
        or dataclasses.is_dataclass(tp)
        or _is_typeddict(tp)
        or _is_pydantic(tp)
    )


def _class_info(cls: type) -> _ClassInfo | None:
    """The fields of an attrs class, dataclass or TypedDict (``None`` for anything else)."""
    try:
        return _CLASSES[cls]
    except KeyError:
        pass
    except TypeError:  # not weak-referenceable
        return _build_class_info(cls)
    info = _build_class_info(cls)
    if info is not None:
        _CLASSES[cls] = info
    return info


def _hints(cls: type) -> dict[str, Any]:
    try:
        return typing.get_type_hints(cls, include_extras=True)
    except Exception as error:  # a forward reference that cannot be resolved
        raise TypeError(
            f"cannot resolve the annotations of {cls.__qualname__} ({error}); define the "
            "classes it names at module level"
        ) from error


def _description(cls: type) -> str | None:
    doc = cls.__dict__.get("__doc__")
    if not isinstance(doc, str) or not doc.strip():
        return None
    doc = doc.strip()
    # dataclasses write "Name(field: type, ...)" when the class has no docstring
    if dataclasses.is_dataclass(cls) and doc.startswith(f"{cls.__name__}("):
        return None
    return _clean_doc(doc)


def _clean_doc(doc: str) -> str:
    import inspect

    return inspect.cleandoc(doc)


def _attribute_docs(cls: type) -> dict[str, str]:
    """Attribute docstrings: ``x: int`` followed by a string literal, as pydantic's
    ``use_attribute_docstrings`` reads them. Needs the source; none without it."""
    import ast
    import inspect
    import textwrap

    try:
        source = textwrap.dedent(inspect.getsource(cls))
        tree = ast.parse(source)
    except (OSError, TypeError, SyntaxError, IndentationError):
        return {}
    body = tree.body[0].body if tree.body and isinstance(tree.body[0], ast.ClassDef) else []
    docs: dict[str, str] = {}
    for node, after in itertools.pairwise(body):
        if (
            isinstance(node, ast.AnnAssign)
            and isinstance(node.target, ast.Name)
            and isinstance(after, ast.Expr)
            and isinstance(after.value, ast.Constant)
            and isinstance(after.value.value, str)
        ):
            docs[node.target.id] = _clean_doc(after.value.value)
    return docs


def _build_class_info(cls: type) -> _ClassInfo | None:
    from ._model import Model

    if not isinstance(cls, type):
        return None
    if issubclass(cls, Model):
        return _model_info(cls)
    if hasattr(cls, "__attrs_attrs__"):
        return _attrs_info(cls)
    if dataclasses.is_dataclass(cls):
        return _dataclass_info(cls)
    if _is_typeddict(cls):
        return _typeddict_info(cls)
    return None


def _attrs_info(cls: type) -> _ClassInfo:
    import attrs

    hints = _hints(cls)
    docs = _attribute_docs(cls)
    fields = []
    for a in attrs.fields(cls):
        if not a.init:
            continue
        default = a.default
        required = default is attrs.NOTHING
        if isinstance(default, attrs.Factory) or required:  # type: ignore[arg-type]
            default = _NO_DEFAULT
        description = a.metadata.get("description") or docs.get(a.name)
        init_name = getattr(a, "alias", None) or a.name.lstrip("_")
        tp = hints.get(a.name, a.type if a.type is not None else Any)
        fields.append(_Field(a.name, init_name, tp, required, default, description))
    return _ClassInfo("attrs", cls.__name__, _description(cls), fields)


def _dataclass_info(cls: type) -> _ClassInfo:
    hints = _hints(cls)
    docs = _attribute_docs(cls)
    fields = []
    for f in dataclasses.fields(cls):
        if not f.init:
            continue
        has_default = f.default is not dataclasses.MISSING
        has_factory = f.default_factory is not dataclasses.MISSING
        default = f.default if has_default else _NO_DEFAULT
        description = f.metadata.get("description") or docs.get(f.name)
        tp = hints.get(f.name, Any)
        required = not (has_default or has_factory)
        fields.append(_Field(f.name, f.name, tp, required, default, description))
    return _ClassInfo("dataclass", cls.__name__, _description(cls), fields)


def _typeddict_info(cls: type) -> _ClassInfo:
    hints = _hints(cls)
    docs = _attribute_docs(cls)
    required_keys: frozenset[str] = getattr(cls, "__required_keys__", frozenset())
    fields = []
    for key, hint in hints.items():
        tp, marker = _strip_required(hint)
        required = key in required_keys if marker is None else marker
        fields.append(_Field(key, key, tp, required, _NO_DEFAULT, docs.get(key)))
    return _ClassInfo("typeddict", cls.__name__, _description(cls), fields)


def _model_info(cls: type) -> _ClassInfo:
    """Our own generated models (a tool's argument may be one): JSON names, UNSET defaults."""
    from ._model import _model_fields
    from ._unset import UNSET

    fields = []
    hints = _hints(cls)
    for name, field in _model_fields(cls).items():
        default = field.default
        required = default is ...
        if required or default is UNSET:
            default = _NO_DEFAULT
        tp = hints.get(name, field.annotation)
        fields.append(_Field(field.alias, name, tp, required, default, None))
    return _ClassInfo("model", cls.__name__, _description(cls), fields)


def _strip_required(hint: Any) -> tuple[Any, bool | None]:
    """``Required[X]`` / ``NotRequired[X]`` / ``ReadOnly[X]`` -> (X, required or None)."""
    marker: bool | None = None
    while True:
        origin = typing.get_origin(hint)
        name = getattr(origin, "_name", None) or getattr(origin, "__name__", None)
        if name in ("Required", "NotRequired", "ReadOnly") and typing.get_args(hint):
            if name != "ReadOnly":
                marker = name == "Required"
            hint = typing.get_args(hint)[0]
            continue
        if origin is typing.Annotated:
            inner, marker2 = _strip_required(typing.get_args(hint)[0])
            if marker2 is not None:
                marker = marker2
                parts = (inner, *hint.__metadata__)
                hint = typing.Annotated[parts]
        return hint, marker


# -- schema_for ----------------------------------------------------------------------------


def schema_for(tp: Any, *, strict: bool) -> dict[str, Any]:
    """The JSON schema of ``tp`` (see the module docstring for what is understood and what
    ``strict`` changes). A class at the root is written in place, the classes it uses in
    ``$defs``. Raises :class:`TypeError` for a type with no JSON form."""
    builder = _SchemaBuilder(strict)
    schema = builder.root(tp)
    if builder.defs:
        schema["$defs"] = builder.defs
    return schema


_SIMPLE: dict[Any, dict[str, Any]] = {
    str: {"type": "string"},
    int: {"type": "integer"},
    float: {"type": "number"},
    bool: {"type": "boolean"},
    type(None): {"type": "null"},
    None: {"type": "null"},
    datetime.datetime: {"type": "string", "format": "date-time"},
    datetime.date: {"type": "string", "format": "date"},
    datetime.time: {"type": "string", "format": "time"},
    uuid.UUID: {"type": "string", "format": "uuid"},
}
_JSON_NAME = {str: "string", int: "integer", float: "number", bool: "boolean"}


def _is_union(tp: Any) -> bool:
    return typing.get_origin(tp) is typing.Union or isinstance(tp, types.UnionType)


def _accepts_none(tp: Any) -> bool:
    """Whether ``None`` is a value of ``tp`` (so a null answer is not "use the default")."""
    if tp is None or tp is type(None) or tp is Any or tp is object:
        return True
    origin = typing.get_origin(tp)
    if origin is typing.Annotated:
        return _accepts_none(typing.get_args(tp)[0])
    if origin is typing.Literal:
        return None in typing.get_args(tp)
    if _is_union(tp):
        return any(_accepts_none(arg) for arg in typing.get_args(tp))
    return False


def _schema_accepts_null(schema: dict[str, Any]) -> bool:
    if schema == {} or schema.get("type") == "null":
        return True
    kinds = schema.get("type")
    if isinstance(kinds, list) and "null" in kinds:
        return True
    if None in (schema.get("enum") or ()):
        return True
    return any(
        isinstance(option, dict) and _schema_accepts_null(option)
        for option in schema.get("anyOf") or ()
    )


def _jsonable_default(value: Any) -> tuple[bool, Any]:
    if isinstance(value, enum.Enum):
        value = value.value
    if value is None or isinstance(value, (str, bool, int, float)):
        return True, value
    if isinstance(value, (list, tuple)) and all(_jsonable_default(v)[0] for v in value):
        return True, [_jsonable_default(v)[1] for v in value]
    return False, None


class _SchemaBuilder:
    __slots__ = ("_names", "defs", "strict")

    def __init__(self, strict: bool) -> None:
        self.strict = strict
        self.defs: dict[str, Any] = {}
        self._names: dict[Any, str] = {}  # class -> its name in $defs

    def root(self, tp: Any) -> dict[str, Any]:
        tp = _unwrap_alias(tp)
        if _is_pydantic(tp):
            return self._pydantic(tp, root=True)
        info = _class_info(tp) if isinstance(tp, type) else None
        if info is not None:
            self._names[tp] = self._def_name(tp)  # a self-reference goes to $defs
            schema = self._object(info)
            if self._names[tp] not in self.defs:
                del self._names[tp]  # nothing referred to it
            else:
                self.defs[self._names[tp]] = schema
                schema = dict(schema)
            return schema
        return self.of(tp)

    def _def_name(self, cls: type) -> str:
        name = getattr(cls, "__name__", "Model")
        taken = set(self._names.values())
        candidate, n = name, 1
        while candidate in taken:
            n += 1
            candidate = f"{name}{n}"
        return candidate

    def _ref(self, cls: type, build: Callable[[], dict[str, Any]]) -> dict[str, Any]:
        name = self._names.get(cls)
        if name is None:
            name = self._names[cls] = self._def_name(cls)
            self.defs[name] = {}  # reserved first: a class may refer to itself
            self.defs[name] = build()
        elif name not in self.defs:  # the root class, referred to from inside itself
            self.defs[name] = {}
        return {"$ref": f"#/$defs/{name}"}

    def of(self, tp: Any) -> dict[str, Any]:
        tp = _unwrap_alias(tp)
        simple = _SIMPLE.get(tp) if _hashable(tp) else None
        if simple is not None:
            return dict(simple)
        if tp is Any or tp is object:
            return {}
        if isinstance(tp, type) and issubclass(tp, enum.Enum):
            return self._enum(tp)
        if _is_pydantic(tp):
            return self._ref(tp, lambda: self._pydantic(tp, root=False))
        info = _class_info(tp) if isinstance(tp, type) else None
        if info is not None:
            return self._ref(tp, lambda: self._object(info))
        origin = typing.get_origin(tp)
        args = typing.get_args(tp)
        if origin is typing.Annotated:
            schema = self.of(args[0])
            descriptions = [m for m in tp.__metadata__ if isinstance(m, str)]
            if descriptions:
                schema = self._described(schema, descriptions[-1])
            return schema
        if origin is typing.Literal:
            return _literal(args)
        if _is_union(tp):
            options: list[dict[str, Any]] = []
            for arg in args:
                if getattr(arg, "__name__", None) == "Unset":  # our UNSET: not a JSON value
                    continue
                option = self.of(arg)
                if option not in options:
                    options.append(option)
            if {} in options:
                return {}
            return options[0] if len(options) == 1 else {"anyOf": options}
        if isinstance(origin, type):
            return self._generic(tp, origin, args)
        if isinstance(tp, type):
            if issubclass(tp, (list, tuple, set, frozenset)):
                return {"type": "array", "items": {}}
            if issubclass(tp, dict):
                return {"type": "object", "additionalProperties": {}}
        raise TypeError(f"no JSON schema for {tp!r}")

    def _generic(self, tp: Any, origin: type, args: tuple[Any, ...]) -> dict[str, Any]:
        import collections.abc as abc

        if issubclass(origin, tuple) and args and args[-1] is not Ellipsis:
            if args == ((),):  # tuple[()]
                return {"type": "array", "maxItems": 0}
            return {
                "type": "array",
                "prefixItems": [self.of(arg) for arg in args],
                "items": False,
                "minItems": len(args),
                "maxItems": len(args),
            }
        if issubclass(origin, (abc.Sequence, abc.Set)) and not issubclass(origin, (str, bytes)):
            schema: dict[str, Any] = {"type": "array", "items": self.of(args[0]) if args else {}}
            if issubclass(origin, abc.Set) and not self.strict:
                schema["uniqueItems"] = True
            return schema
        if issubclass(origin, abc.Mapping):
            key, value = args if len(args) == 2 else (str, Any)
            if _unwrap_alias(key) is not str:
                raise TypeError(f"no JSON schema for {tp!r}: JSON object keys are strings")
            return {"type": "object", "additionalProperties": self.of(value)}
        raise TypeError(f"no JSON schema for {tp!r}")

    def _enum(self, cls: type[enum.Enum]) -> dict[str, Any]:
        schema = _literal(tuple(member.value for member in cls))
        doc = cls.__dict__.get("__doc__")
        if isinstance(doc, str) and doc.strip() and doc != enum.Enum.__doc__:
            if not doc.startswith("An enumeration"):
                schema = {"description": _clean_doc(doc), **schema}
        return schema

    def _described(self, schema: dict[str, Any], description: str) -> dict[str, Any]:
        if "$ref" in schema and self.strict:
            # strict mode allows no keyword beside $ref: inline the class (its own
            # references stay references), or leave the description out while the class
            # is still being built (a class that refers to itself)
            target = self.defs.get(schema["$ref"].rsplit("/", 1)[-1])
            if not target:
                return schema
            return {**target, "description": description}
        return {**schema, "description": description}

    def _object(self, info: _ClassInfo) -> dict[str, Any]:
        properties: dict[str, Any] = {}
        required: list[str] = []
        for field in info.fields:
            prop = self.of(field.tp)
            if self.strict:
                required.append(field.key)
                if not field.required and not _schema_accepts_null(prop):
                    prop = {"anyOf": [prop, {"type": "null"}]}
            elif field.required:
                required.append(field.key)
            elif field.default is not _NO_DEFAULT:
                ok, value = _jsonable_default(field.default)
                if ok:
                    prop = {**prop, "default": value}
            if field.description:
                prop = self._described(prop, field.description)
            properties[field.key] = prop
        schema: dict[str, Any] = {"type": "object"}
        if info.description:
            schema["description"] = info.description
        schema["properties"] = properties
        schema["required"] = required
        if self.strict or info.kind != "model":
            schema["additionalProperties"] = False
        return schema

    def _pydantic(self, cls: Any, *, root: bool) -> dict[str, Any]:
        """pydantic's own schema (aliases, constraints, its field descriptions), its ``$defs``
        merged into ours, made strict when asked."""
        schema: dict[str, Any] = cls.model_json_schema(ref_template="#/$defs/{model}")
        defs = schema.pop("$defs", {})
        renames: dict[str, str] = {}
        for name in defs:
            if name in self.defs and name not in renames:
                candidate, n = name, 1
                while candidate in self.defs or candidate in defs:
                    n += 1
                    candidate = f"{name}{n}"
                renames[name] = candidate
        if renames:
            schema, defs = _rename_refs({"s": schema, "d": defs}, renames).values()
            defs = {renames.get(k, k): v for k, v in defs.items()}
        if self.strict:
            whole = {"$defs": {**self.defs, **defs}}
            defs = {k: _strictify(v, whole) for k, v in defs.items()}
            schema = _strictify(schema, {"$defs": {**self.defs, **defs}})
        for name, sub in defs.items():
            self.defs.setdefault(name, sub)
            self._names.setdefault(("pydantic", name), name)
        return schema


def _hashable(tp: Any) -> bool:
    try:
        hash(tp)
    except TypeError:
        return False
    return True


def _unwrap_alias(tp: Any) -> Any:
    """``NewType`` -> its base, a ``type X = ...`` alias -> its value, a string -> error."""
    for _ in range(32):
        supertype = getattr(tp, "__supertype__", None)
        if supertype is not None and callable(tp):
            tp = supertype
            continue
        if type(tp).__name__ == "TypeAliasType" and hasattr(tp, "__value__"):
            tp = tp.__value__
            continue
        break
    if isinstance(tp, (str, typing.ForwardRef)):
        raise TypeError(f"no JSON schema for the unresolved annotation {tp!r}")
    return tp


def _literal(values: tuple[Any, ...]) -> dict[str, Any]:
    values = tuple(v.value if isinstance(v, enum.Enum) else v for v in values)
    kinds = {_JSON_NAME.get(type(v)) for v in values}
    schema: dict[str, Any] = {}
    if len(kinds) == 1 and None not in kinds:
        schema["type"] = kinds.pop()
    schema["enum"] = list(values)
    return schema


def _rename_refs(value: Any, renames: dict[str, str]) -> Any:
    if isinstance(value, dict):
        out = {k: _rename_refs(v, renames) for k, v in value.items()}
        ref = out.get("$ref")
        if isinstance(ref, str) and ref.startswith("#/$defs/"):
            name = ref[len("#/$defs/") :]
            out["$ref"] = f"#/$defs/{renames.get(name, name)}"
        return out
    if isinstance(value, list):
        return [_rename_refs(v, renames) for v in value]
    return value


def _strictify(schema: Any, root: dict[str, Any]) -> Any:
    """A (pydantic) JSON schema made to follow the strict rules (module docstring)."""
    if not isinstance(schema, dict):
        return schema
    out = dict(schema)
    ref = out.get("$ref")
    if isinstance(ref, str) and len(out) > 1:
        target = root.get("$defs", {}).get(ref.rsplit("/", 1)[-1])
        if isinstance(target, dict) and target:
            del out["$ref"]
            out = {**target, **out}
    for key in ("anyOf", "oneOf", "allOf", "prefixItems"):
        if isinstance(out.get(key), list):
            out[key] = [_strictify(option, root) for option in out[key]]
    if "oneOf" in out:  # strict mode knows anyOf only (pydantic writes oneOf for unions
        out["anyOf"] = out.pop("oneOf")  # with a discriminator)
    out.pop("discriminator", None)
    if isinstance(out.get("allOf"), list) and len(out["allOf"]) == 1:
        only = out.pop("allOf")[0]
        out = {**only, **out} if isinstance(only, dict) else out
    for key in ("items", "additionalProperties"):
        if isinstance(out.get(key), dict):
            out[key] = _strictify(out[key], root)
    properties = out.get("properties")
    if isinstance(properties, dict):
        was_required = set(out.get("required") or ())
        new: dict[str, Any] = {}
        for name, prop in properties.items():
            prop = _strictify(prop, root)
            if isinstance(prop, dict):
                prop.pop("default", None)
                if name not in was_required and not _schema_accepts_null(prop):
                    outer = {k: prop.pop(k) for k in ("title", "description") if k in prop}
                    prop = {**outer, "anyOf": [prop, {"type": "null"}]}
            new[name] = prop
        out["properties"] = new
        out["required"] = list(new)
        out["additionalProperties"] = False
    elif out.get("type") == "object" and "additionalProperties" not in out:
        out["additionalProperties"] = False
    out.pop("default", None)
    return out


# -- value_of ------------------------------------------------------------------------------
#
# Why not cattrs: its structure hooks coerce (``int("7")``, ``str(5)``), so an answer that
# does not fit the schema (``"population": "7"``, ``"city": 5``) would be read as if it did;
# here it must raise, naming the path. Measured (CPython 3.11, shared 2-core machine, best of
# 5 x 20,000): an attrs class of five fields with a nested one and a list, 2.5 µs with
# value_of, 2.0 µs with a default cattrs Converter — 0.5 µs a call for the strictness.


def value_of(tp: Any, data: Any, *, path: str = "") -> Any:
    """``data`` (plain JSON: what ``orjson.loads`` returns) read into ``tp``, checked on the
    way: a value of the wrong JSON type, a missing required field, a string that is not in
    a ``Literal`` or ``Enum``, a validator of the class refusing it raise
    :class:`SchemaMismatch` naming the path. Keys a class does not declare are ignored.
    ``null`` for a field that has a default, where ``None`` is not a value of the field's
    type, means the default (strict schemas send such a field as ``anyOf [X, null]``).
    A pydantic model is validated by pydantic (``model_validate``).

    The reader of a type is built once (a closure per type, cached), so that reading a
    document costs about what walking it does."""
    try:
        return _reader(tp)(data)
    except _Bad as error:
        where = path
        for segment in reversed(error.segments):
            where = _join(where, segment)
        raise SchemaMismatch(error.reason, path=where) from None


class _Bad(Exception):
    """A value that does not fit; ``segments`` is its path, innermost first (each reader
    adds its own on the way out, so the happy path builds no path at all)."""

    def __init__(self, reason: str, segments: list[str | int] | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.segments: list[str | int] = segments if segments is not None else []


_Read = Callable[[Any], Any]
_READERS: dict[Any, _Read] = {}
_MISSING: Any = object()


def _join(path: str, key: str | int) -> str:
    if isinstance(key, int):
        return f"{path}[{key}]"
    return f"{path}.{key}" if path else key


def _type_name(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, (int, float)):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "array"
    if isinstance(value, dict):
        return "object"
    return type(value).__name__


def _bad(expected: str, value: Any) -> _Bad:
    shown = repr(value)
    if len(shown) > 60:
        shown = shown[:57] + "..."
    return _Bad(f"expected {expected}, got {_type_name(value)} {shown}")


def _reader(tp: Any) -> _Read:
    try:
        return _READERS[tp]
    except KeyError:
        pass
    except TypeError:  # unhashable (Annotated with a dict in it): built, not cached
        return _build_reader(tp)
    if isinstance(tp, type) and not _is_pydantic(tp) and _class_info(tp) is not None:
        # A class may refer to itself: its entry forwards to the reader being built.
        building: list[_Read] = []
        _READERS[tp] = lambda data: building[0](data)
        try:
            building.append(_build_reader(tp))
        except BaseException:
            del _READERS[tp]
            raise
        _READERS[tp] = building[0]
        return building[0]
    read = _READERS[tp] = _build_reader(tp)
    return read


def _read_str(data: Any) -> Any:
    if type(data) is str:
        return data
    raise _bad("a string", data)


def _read_int(data: Any) -> Any:
    kind = type(data)
    if kind is int:
        return data
    if kind is float and data.is_integer():
        return int(data)
    raise _bad("an integer", data)


def _read_float(data: Any) -> Any:
    kind = type(data)
    if kind is float:
        return data
    if kind is int:
        return float(data)
    raise _bad("a number", data)


def _read_bool(data: Any) -> Any:
    if data is True or data is False:
        return data
    raise _bad("a boolean", data)


def _read_none(data: Any) -> Any:
    if data is None:
        return None
    raise _bad("null", data)


def _read_any(data: Any) -> Any:
    return data


_SIMPLE_READERS: dict[Any, _Read] = {
    str: _read_str,
    int: _read_int,
    float: _read_float,
    bool: _read_bool,
    None: _read_none,
    type(None): _read_none,
    Any: _read_any,
    object: _read_any,
}


def _build_reader(tp: Any) -> _Read:  # one dispatch over the kinds of type
    tp = _unwrap_alias(tp)
    simple = _SIMPLE_READERS.get(tp) if _hashable(tp) else None
    if simple is not None:
        return simple
    if tp in (datetime.datetime, datetime.date, datetime.time, uuid.UUID):
        return _iso_reader(tp)
    if isinstance(tp, type) and issubclass(tp, enum.Enum):
        return _enum_reader(tp)
    if _is_pydantic(tp):
        return lambda data: _pydantic_value(tp, data)
    info = _class_info(tp) if isinstance(tp, type) else None
    if info is not None:
        return _object_reader(tp, info)
    origin = typing.get_origin(tp)
    args = typing.get_args(tp)
    if origin is typing.Annotated:
        return _reader(args[0])
    if origin is typing.Literal:
        return _literal_reader(args)
    if _is_union(tp):
        return _union_reader(args)
    if isinstance(origin, type):
        return _generic_reader(tp, origin, args)
    if isinstance(tp, type):
        if issubclass(tp, (list, tuple, set, frozenset)):
            return _generic_reader(tp, tp, ())
        if issubclass(tp, dict):
            return _generic_reader(tp, dict, ())
    raise TypeError(f"cannot read JSON into {tp!r}")


def _iso_reader(cls: Any) -> _Read:
    def read(data: Any) -> Any:
        if type(data) is not str:
            raise _bad(f"a {cls.__name__} string", data)
        try:
            if cls is uuid.UUID:
                return uuid.UUID(data)
            text = data[:-1] + "+00:00" if data.endswith(("Z", "z")) else data
            return cls.fromisoformat(text)
        except ValueError as error:
            raise _Bad(f"not a {cls.__name__}: {data!r} ({error})") from None

    return read


def _enum_reader(cls: type[enum.Enum]) -> _Read:
    allowed = ", ".join(repr(m.value) for m in cls)

    def read(data: Any) -> Any:
        try:
            return cls(data)
        except (ValueError, TypeError):
            raise _bad(f"one of {allowed}", data) from None

    return read


def _literal_reader(args: tuple[Any, ...]) -> _Read:
    # (type, JSON value) -> the Literal's own value: True is not 1, nor 1.0 1
    lookup = {(type(p), p): v for v in args for p in [v.value if isinstance(v, enum.Enum) else v]}
    allowed = "one of " + ", ".join(repr(a) for a in args)

    def read(data: Any) -> Any:
        try:
            return lookup[(type(data), data)]
        except (KeyError, TypeError):
            raise _bad(allowed, data) from None

    return read


def _union_reader(args: tuple[Any, ...]) -> _Read:
    nullable = any(a is None or a is type(None) for a in args)
    readers = [
        _reader(a)
        for a in args
        if a is not None and a is not type(None) and getattr(a, "__name__", None) != "Unset"
    ]
    if nullable and len(readers) == 1:  # X | None, the usual union
        only = readers[0]

        def optional(data: Any) -> Any:
            return None if data is None else only(data)

        return optional

    def read(data: Any) -> Any:
        if data is None and nullable:
            return None
        best: _Bad | None = None
        for option in readers:
            try:
                return option(data)
            except _Bad as error:
                # the deepest error says most ("items[0].name: expected a string")
                if best is None or len(error.segments) > len(best.segments):
                    best = error
        if best is None:
            raise _bad("null", data)
        raise best

    return read


def _items(read: _Read, data: list[Any]) -> list[Any]:
    try:
        return [read(item) for item in data]
    except _Bad:
        pass
    for index, item in enumerate(data):  # only to say which item (the readers are pure)
        try:
            read(item)
        except _Bad as error:
            error.segments.append(index)
            raise
    raise AssertionError("unreachable")  # pragma: no cover


def _generic_reader(tp: Any, origin: type, args: tuple[Any, ...]) -> _Read:
    import collections.abc as abc

    if issubclass(origin, abc.Mapping):
        value_read = _reader(args[1] if len(args) == 2 else Any)

        def mapping(data: Any) -> Any:
            if type(data) is not dict:
                raise _bad("an object", data)
            out = {}
            for key, value in data.items():
                try:
                    out[key] = value_read(value)
                except _Bad as error:
                    error.segments.append(key)
                    raise
            return out

        return mapping
    if not issubclass(origin, (abc.Sequence, abc.Set)) or issubclass(origin, (str, bytes)):
        raise TypeError(f"cannot read JSON into {tp!r}")
    if issubclass(origin, tuple) and args and args[-1] is not Ellipsis:
        fixed = [_reader(arg) for arg in (() if args == ((),) else args)]

        def fixed_tuple(data: Any) -> Any:
            if type(data) is not list:
                raise _bad("an array", data)
            if len(data) != len(fixed):
                raise _Bad(f"expected an array of {len(fixed)} items, got {len(data)}")
            out = []
            for index, (read, item) in enumerate(zip(fixed, data, strict=True)):
                try:
                    out.append(read(item))
                except _Bad as error:
                    error.segments.append(index)
                    raise
            return tuple(out)

        return fixed_tuple
    item_read = _reader(args[0] if args else Any)
    if issubclass(origin, tuple):
        make: Callable[[list[Any]], Any] = tuple
    elif issubclass(origin, abc.Set):
        make = frozenset if origin is frozenset else set
    else:
        make = _same

    def sequence(data: Any) -> Any:
        if type(data) is not list:
            raise _bad("an array", data)
        return make(_items(item_read, data))

    return sequence


def _same(items: list[Any]) -> list[Any]:
    return items


def _object_reader(cls: type, info: _ClassInfo) -> _Read:
    name = info.name
    if info.kind == "model":
        return lambda data: _model_value(cls, data, name)
    fields = [
        (
            f.key,
            f.init_name,
            _reader(f.tp),
            f.required,
            not f.required and not _accepts_none(f.tp),  # null means "the default"
        )
        for f in info.fields
    ]
    typeddict = info.kind == "typeddict"

    def read(data: Any) -> Any:
        if type(data) is not dict:
            raise _bad(f"an object ({name})", data)
        values = {}
        for key, init_name, field_read, required, null_is_default in fields:
            value = data.get(key, _MISSING)
            if value is _MISSING:
                if required:
                    raise _Bad("missing", [key])
                continue
            if value is None and null_is_default:
                continue  # strict mode's "no value": the default
            try:
                values[init_name] = field_read(value)
            except _Bad as error:
                error.segments.append(key)
                raise
        if typeddict:
            return values
        try:
            return cls(**values)
        except (TypeError, ValueError) as error:  # a validator of the class said no
            raise _Bad(f"{name} refused it: {error}") from None

    return read


def _model_value(cls: Any, data: Any, name: str) -> Any:
    from .errors import RequestValidationError

    if type(data) is not dict:
        raise _bad(f"an object ({name})", data)
    try:
        return cls.model_validate(data)
    except RequestValidationError as error:
        inner = getattr(error, "path", "")
        raise _Bad(getattr(error, "reason", str(error)), [inner] if inner else []) from None


def _pydantic_value(cls: Any, data: Any) -> Any:
    try:
        return cls.model_validate(_drop_null_defaults(cls, data))
    except ValueError as error:  # pydantic's ValidationError is a ValueError
        errors = getattr(error, "errors", None)
        found = errors() if callable(errors) else None
        if not found:
            raise _Bad(str(error)) from None
        loc = found[0].get("loc", ())
        segments = [part if isinstance(part, int) else str(part) for part in reversed(loc)]
        raise _Bad(str(found[0].get("msg", error)), segments) from None


def _drop_null_defaults(cls: Any, data: Any) -> Any:
    """The nulls strict mode sends for pydantic fields that have a default and no ``None``
    in their type, left out so pydantic uses the default (nested models too)."""
    if not isinstance(data, dict):
        return data
    fields = getattr(cls, "model_fields", None)
    if not isinstance(fields, dict):
        return data
    out = dict(data)
    for name, field in fields.items():
        key = field.alias or name
        if key not in out:
            key = name
            if key not in out:
                continue
        value = out[key]
        if value is None:
            if not field.is_required() and not _accepts_none(field.annotation):
                del out[key]
            continue
        out[key] = _drop_nested(field.annotation, value)
    return out


def _drop_nested(tp: Any, value: Any) -> Any:
    if _is_pydantic(tp):
        return _drop_null_defaults(tp, value)
    origin = typing.get_origin(tp)
    args = typing.get_args(tp)
    if origin is typing.Annotated:
        return _drop_nested(args[0], value)
    if _is_union(tp):
        models = [a for a in args if _is_pydantic(a)]
        return _drop_null_defaults(models[0], value) if len(models) == 1 else value
    if isinstance(value, list) and args:
        return [_drop_nested(args[0], item) for item in value]
    if isinstance(value, dict) and len(args) == 2:
        return {k: _drop_nested(args[1], v) for k, v in value.items()}
    return value


# -- partial_json --------------------------------------------------------------------------

# Written here rather than taken from jiter (whose partial mode does the same): it would be a
# compiled runtime dependency for this one reading, which runs only when a streamed event's
# ``parsed`` is read, on answers of a few kilobytes.
_STRING_STOP = re.compile(r'["\\]')
_SCALAR = re.compile(r"[^,\]}\s]*")
_NUMBER_PREFIX = re.compile(r"-?(?:0|[1-9][0-9]*)(?:\.[0-9]+)?(?:[eE][+-]?[0-9]+)?")


def partial_json(text: str) -> Any:
    """The value of a JSON document cut off anywhere (a streamed answer so far): an open
    string is closed, open arrays and objects are closed, a member whose key or value has
    not begun (or whose key is cut) is left out, a cut number is kept as far as it goes, a
    cut ``true`` / ``false`` / ``null`` is left out. ``None`` when there is nothing yet (or
    the text is not the beginning of a JSON document)."""
    import orjson

    n = len(text)
    stack: list[list[Any]] = []  # per open container: [closer, state, safe cut position]
    # state: "k" a key (or the end) comes next, "c" a colon, "v" a value, "n" a comma or end
    i = 0
    in_string = is_key = False
    escape_at = scalar_at = -1
    top_end = -1
    while i < n:
        ch = text[i]
        if ch in " \t\r\n":
            i += 1
            continue
        if ch == '"':
            is_key = bool(stack) and stack[-1][0] == "}" and stack[-1][1] == "k"
            j = i + 1
            while True:
                stop = _STRING_STOP.search(text, j)
                if stop is None:
                    in_string = True
                    break
                j = stop.start()
                if text[j] == '"':
                    break
                width = 6 if text[j + 1 : j + 2] == "u" else 2
                if j + width > n:
                    in_string, escape_at = True, j
                    break
                j += width
            if in_string:
                break
            i = j + 1
            if is_key:
                stack[-1][1] = "c"
            elif stack:
                stack[-1][1:] = ["n", i]
            else:
                top_end = i
                break
            continue
        if ch in "{[":
            i += 1
            stack.append(["}" if ch == "{" else "]", "k" if ch == "{" else "v", i])
            continue
        if ch in "}]":
            if not stack or stack[-1][0] != ch:
                return None
            stack.pop()
            i += 1
            if stack:
                stack[-1][1:] = ["n", i]
                continue
            top_end = i
            break
        if ch == ":" or ch == ",":
            if not stack:
                return None
            level = stack[-1]
            level[1] = "v" if ch == ":" or level[0] == "]" else "k"
            i += 1
            continue
        end = _SCALAR.match(text, i).end()  # type: ignore[union-attr]
        if end == n:
            scalar_at = i
            break
        i = end
        if stack:
            stack[-1][1:] = ["n", i]
        else:
            top_end = i
            break
    if top_end >= 0:
        head, closers = text[:top_end], ""
    else:
        closers = "".join(level[0] for level in reversed(stack))
        safe = stack[-1][2] if stack else 0
        if in_string:
            if is_key:
                head = text[:safe]
            else:
                head = text[: escape_at if escape_at >= 0 else n] + '"'
        elif scalar_at >= 0:
            scalar = _scalar_prefix(text[scalar_at:])
            head = text[:safe] if scalar is None else text[:scalar_at] + scalar
        elif stack and stack[-1][1] == "n":
            head = text
        else:
            head = text[:safe]
        if not head.strip():
            return None
    try:
        return orjson.loads(head + closers)
    except orjson.JSONDecodeError:
        return None


def _scalar_prefix(text: str) -> str | None:
    if text in ("true", "false", "null"):
        return text
    match = _NUMBER_PREFIX.match(text)
    return match.group() if match else None
