"""OpenAPI schemas → a small intermediate representation: classes, type aliases, types.

Given root schema names, :class:`Builder` walks the closure of referenced schemas and turns
each into either a class (an object schema with properties) or a type alias (everything
else: enums, unions, arrays, maps, primitives). Inline object schemas become classes named
after where they sit: property ``error`` of ``ChatStreamChunk`` → ``ChatStreamChunkError``;
array items add ``Item``, map values ``Value``, union alternatives the value of their
discriminating property (``ChatFunctionToolFunction``) or their ``title`` (see
:meth:`Builder.alt_labels`).

Nullability (``type: [X, 'null']``, ``nullable: true``, ``null`` in an enum, a ``{type: null}``
alternative) is lifted out of named schemas onto the fields that use them, so a class or alias
always names the non-null shape and ``| None`` appears on the field.
"""

from __future__ import annotations

import keyword
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

# -- types ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Prim:
    """A JSON primitive: ``str``, ``int``, ``float``, ``bool``, ``null`` or ``any``."""

    kind: str


@dataclass(frozen=True)
class Enum:
    """An enum of primitive values (``base`` is the primitive kind). Open: see emit."""

    values: tuple[Any, ...]
    base: str


@dataclass(frozen=True)
class Ref:
    """A generated class."""

    name: str


@dataclass(frozen=True)
class Alias:
    """A generated type alias (its target is in :attr:`Builder.aliases`)."""

    name: str


@dataclass(frozen=True)
class ListT:
    item: Type


@dataclass(frozen=True)
class DictT:
    value: Type


@dataclass(frozen=True)
class UnionT:
    """``oneOf``/``anyOf``. ``disc`` + ``mapping`` (tag → class name) when discriminated."""

    alts: tuple[Type, ...]
    disc: str | None = None
    mapping: tuple[tuple[str, str], ...] = ()


@dataclass(frozen=True)
class Nullable:
    inner: Type


Type = Prim | Enum | Ref | Alias | ListT | DictT | UnionT | Nullable

ANY = Prim("any")


@dataclass
class FieldDef:
    wire: str
    py: str
    type: Type
    required: bool
    doc: str | None
    #: a required single-valued enum (``role: user``) defaults to its value
    const_default: Any = None
    has_const_default: bool = False
    deprecated: bool = False
    server_default: Any = None
    has_server_default: bool = False


@dataclass
class ClassDef:
    name: str
    doc: str | None
    origin: str  # "#/components/schemas/X" or "X.properties.y..." for inline schemas
    fields: list[FieldDef] = field(default_factory=list)
    deprecated: bool = False


@dataclass
class AliasDef:
    name: str
    target: Type
    doc: str | None
    origin: str


# -- naming ---------------------------------------------------------------------------------

_CAMEL = re.compile(r"(?<=[a-z0-9])(?=[A-Z])|(?<=[A-Z])(?=[A-Z][a-z])")

#: names a field must not take: they would shadow the builtins used in annotations inside the
#: class body (mypy resolves annotation names in class scope), clash with the base class, or
#: with attrs' generated ``__init__(self, ...)``.
RESERVED_FIELDS = frozenset(
    {"model_extra", "self", "str", "int", "float", "bool", "list", "dict", "Any", "Literal"}
)


def snake(name: str) -> str:
    """A Python-safe snake_case attribute name for a wire (JSON) property name."""
    text = _CAMEL.sub("_", name)
    text = re.sub(r"[^0-9A-Za-z]+", "_", text).strip("_").lower()
    if not text:
        text = "field"
    if text[0].isdigit():
        text = "x_" + text
    if keyword.iskeyword(text) or text in RESERVED_FIELDS:
        text += "_"
    return text


def pascal(name: str) -> str:
    """``top_logprobs`` → ``TopLogprobs``, ``reasoning.summary`` → ``ReasoningSummary``."""
    text = _CAMEL.sub("_", str(name))
    parts = [p for p in re.split(r"[^0-9A-Za-z]+", text) if p]
    out = "".join(p[:1].upper() + p[1:] for p in parts)
    if not out:
        out = "Value"
    if out[0].isdigit():
        out = "V" + out
    return out


# -- the builder ----------------------------------------------------------------------------

_REF_PREFIX = "#/components/schemas/"


class SpecError(Exception):
    """The spec uses something the generator does not understand."""


def _ref_name(ref: str) -> str:
    if not ref.startswith(_REF_PREFIX):
        raise SpecError(f"unsupported $ref {ref!r}")
    return ref[len(_REF_PREFIX) :]


def _is_null_schema(schema: Any) -> bool:
    return (
        isinstance(schema, dict)
        and schema.get("type") == "null"
        and len([k for k in schema if k not in ("type", "description")]) == 0
    )


class Builder:
    """Builds classes and aliases for the closure of some root schemas."""

    def __init__(self, schemas: dict[str, Any]) -> None:
        self.schemas = schemas
        self.classes: dict[str, ClassDef] = {}
        self.aliases: dict[str, AliasDef] = {}
        #: named schema → its Type when used (Ref/Alias) and whether it is nullable
        self._named: dict[str, tuple[Type, bool]] = {}
        self._queue: list[str] = []
        #: every component name is reserved, so inline names do not depend on the closure
        self._taken: set[str] = set(schemas)

    # public

    def build(self, roots: Iterable[str]) -> None:
        for root in roots:
            if root not in self.schemas:
                raise SpecError(f"no schema named {root!r}")
            self.use(root)
        while self._queue:
            self._define(self._queue.pop(0))

    def reachable_classes(self, roots: Iterable[str]) -> set[str]:
        """The classes reachable from the named (built) schemas through field types, aliases,
        arrays, maps and unions: with the response bodies as roots, the response-style
        classes."""
        found: set[str] = set()
        seen_aliases: set[str] = set()
        stack: list[Type] = [self._named[root][0] for root in roots]
        while stack:
            t = stack.pop()
            if isinstance(t, Ref):
                if t.name not in found:
                    found.add(t.name)
                    stack.extend(f.type for f in self.classes[t.name].fields)
            elif isinstance(t, Alias):
                if t.name not in seen_aliases:
                    seen_aliases.add(t.name)
                    stack.append(self.aliases[t.name].target)
            elif isinstance(t, (ListT,)):
                stack.append(t.item)
            elif isinstance(t, DictT):
                stack.append(t.value)
            elif isinstance(t, Nullable):
                stack.append(t.inner)
            elif isinstance(t, UnionT):
                stack.extend(t.alts)
        return found

    def direct_dependencies(self, name: str) -> set[str]:
        """The classes and aliases a built class's field types (or an alias's target) name."""
        cls = self.classes.get(name)
        stack: list[Type] = (
            [f.type for f in cls.fields] if cls is not None else [self.aliases[name].target]
        )
        found: set[str] = set()
        while stack:
            t = stack.pop()
            if isinstance(t, (Ref, Alias)):
                found.add(t.name)
            elif isinstance(t, ListT):
                stack.append(t.item)
            elif isinstance(t, DictT):
                stack.append(t.value)
            elif isinstance(t, Nullable):
                stack.append(t.inner)
            elif isinstance(t, UnionT):
                stack.extend(t.alts)
        return found

    def use(self, name: str) -> tuple[Type, bool]:
        """The Type naming a component schema (queued for definition), and its nullability."""
        found = self._named.get(name)
        if found is not None:
            return found
        schema = self.schemas[name]
        body, nullable = split_null(schema)
        kind = self._classify(body)
        result: tuple[Type, bool] = (Ref(name) if kind == "class" else Alias(name), nullable)
        self._named[name] = result
        self._queue.append(name)
        return result

    # classification

    def _classify(self, schema: dict[str, Any]) -> str:
        """``class`` for an object schema with properties (after allOf merging), else ``alias``."""
        if "allOf" in schema:
            merged = self._merge_all_of(schema)
            if isinstance(merged, str):  # a single $ref: an alias of it
                return "alias"
            return self._classify(merged)
        if "$ref" in schema or "oneOf" in schema or "anyOf" in schema or "enum" in schema:
            return "alias"
        if "const" in schema:
            return "alias"
        types = _types(schema)
        if "properties" in schema and (not types or types == {"object"}):
            return "class"
        return "alias"

    # allOf

    def _merge_all_of(self, schema: dict[str, Any]) -> dict[str, Any] | str:
        """Merge ``allOf`` parts into one object schema; or the ``$ref`` name when every other
        part adds nothing but constraints (``required``, ``description``, ``{}``)."""
        parts = schema["allOf"]
        substantive = [p for p in parts if not _trivial_part(p)]
        rest = {k: v for k, v in schema.items() if k != "allOf"}
        if len(substantive) == 1 and not rest.get("properties"):
            only = substantive[0]
            if "$ref" in only:
                return _ref_name(only["$ref"])
            merged = dict(only)
            for key in ("description", "deprecated"):
                if key in rest and key not in merged:
                    merged[key] = rest[key]
            return merged
        if not substantive:
            merged = dict(rest)
            merged.pop("allOf", None)
            return merged or {}
        properties: dict[str, Any] = {}
        required: list[str] = []
        merged = {"type": "object"}
        for part in [*parts, rest]:
            part = self._deref_object(part)
            properties.update(part.get("properties") or {})
            for name in part.get("required") or ():
                if name not in required:
                    required.append(name)
            if "additionalProperties" in part:
                merged["additionalProperties"] = part["additionalProperties"]
        merged["properties"] = properties
        if required:
            merged["required"] = required
        for key in ("description", "deprecated"):
            if key in schema:
                merged[key] = schema[key]
        return merged

    def _deref_object(self, part: dict[str, Any]) -> dict[str, Any]:
        seen = set()
        while "$ref" in part:
            name = _ref_name(part["$ref"])
            if name in seen:
                raise SpecError(f"$ref cycle at {name}")
            seen.add(name)
            part = self.schemas[name]
        if "allOf" in part:
            merged = self._merge_all_of(part)
            if isinstance(merged, str):
                return self._deref_object({"$ref": _REF_PREFIX + merged})
            return merged
        body, _ = split_null(part)
        return body

    # definitions

    def _define(self, name: str) -> None:
        schema = self.schemas[name]
        body, _ = split_null(schema)
        origin = _REF_PREFIX + name
        kind, _ = self._named[name]
        if isinstance(kind, Ref):
            if "allOf" in body:
                merged = self._merge_all_of(body)
                assert isinstance(merged, dict)
                body = merged
            self._class(name, body, origin)
        else:
            target, _ = self.resolve(schema, name, origin, named=True)
            self.aliases[name] = AliasDef(name, target, _doc(schema), origin)

    def _unique(self, name: str) -> str:
        candidate = name
        index = 2
        while candidate in self._taken:
            candidate = f"{name}{index}"
            index += 1
        self._taken.add(candidate)
        return candidate

    def _class(self, name: str, schema: dict[str, Any], origin: str) -> None:
        cls = ClassDef(name, _doc(schema), origin, deprecated=bool(schema.get("deprecated")))
        self.classes[name] = cls  # before the fields: a recursive schema refers to itself
        required = set(schema.get("required") or ())
        taken: set[str] = set()
        for wire, prop in (schema.get("properties") or {}).items():
            if not isinstance(prop, dict):
                prop = {} if prop is True else {"not": {}}
            py = snake(wire)
            while py in taken:
                py += "_"
            taken.add(py)
            ftype, nullable = self.resolve(prop, name + pascal(wire), f"{origin}.{wire}")
            if nullable:
                ftype = Nullable(ftype)
            doc = _doc(prop)
            if doc is None and "$ref" in prop:
                doc = _doc(self.schemas.get(_ref_name(prop["$ref"])))
            fdef = FieldDef(
                wire=wire,
                py=py,
                type=ftype,
                required=wire in required,
                doc=doc,
                deprecated=bool(prop.get("deprecated")),
            )
            if "default" in prop:
                fdef.server_default = prop["default"]
                fdef.has_server_default = True
            const = _const_value(ftype)
            if fdef.required and const is not _NO:
                fdef.const_default = const
                fdef.has_const_default = True
            cls.fields.append(fdef)

    # resolution

    def resolve(
        self, schema: Any, ctx: str, origin: str, *, named: bool = False
    ) -> tuple[Type, bool]:
        """A schema → (Type, nullable). ``ctx`` names inline classes; ``named`` is set when
        ``schema`` is a component's own body (an object there was classified as an alias)."""
        if schema is True or schema == {} or schema is None:
            return ANY, False
        if not isinstance(schema, dict):
            raise SpecError(f"unsupported schema at {origin}: {schema!r}")
        if "$ref" in schema:
            target, target_null = self.use(_ref_name(schema["$ref"]))
            _, sibling_null = split_null({k: v for k, v in schema.items() if k != "$ref"})
            return target, target_null or sibling_null
        body, nullable = split_null(schema)
        if "allOf" in body:
            merged = self._merge_all_of(body)
            if isinstance(merged, str):
                inner, inner_null = self.use(merged)
                return inner, nullable or inner_null
            inner, inner_null = self.resolve(merged, ctx, origin, named=named)
            return inner, nullable or inner_null
        alts = body.get("oneOf") or body.get("anyOf")
        if alts is not None:
            inner, inner_null = self._union(body, alts, ctx, origin)
            return inner, nullable or inner_null
        if "const" in body:
            value = body["const"]
            return Enum((value,), _base_of(value, body)), nullable
        if "enum" in body:
            values = tuple(v for v in body["enum"] if v is not None)
            if not values:
                return Prim("null"), False
            return Enum(values, _base_of(values[0], body)), nullable
        types = _types(body)
        if len(types) > 1:
            alternatives = tuple(
                self.resolve({**body, "type": t}, ctx, origin)[0] for t in sorted(types)
            )
            return UnionT(alternatives), nullable
        kind = next(iter(types)) if types else None
        if kind == "array":
            item, item_null = self.resolve(body.get("items", {}), ctx + "Item", origin + "[]")
            return ListT(Nullable(item) if item_null else item), nullable
        if kind == "object" or (
            kind is None and ("properties" in body or "additionalProperties" in body)
        ):
            props = body.get("properties")
            if props or (named and props is not None):
                if named:
                    raise SpecError(f"{origin}: object classified as alias")
                cls_name = self._unique(ctx)
                self._class(cls_name, body, origin)
                return Ref(cls_name), nullable
            extra = body.get("additionalProperties", True)
            if extra is False:
                return DictT(ANY), nullable
            value, value_null = self.resolve(extra, ctx + "Value", origin + "{}")
            return DictT(Nullable(value) if value_null else value), nullable
        if kind in _PRIMS:
            return Prim(_PRIMS[kind]), nullable
        if kind is None:
            return ANY, nullable
        raise SpecError(f"unsupported type {kind!r} at {origin}")

    def _union(
        self, body: dict[str, Any], alts: list[Any], ctx: str, origin: str
    ) -> tuple[Type, bool]:
        nullable = any(_is_null_schema(a) for a in alts)
        alts = [a for a in alts if not _is_null_schema(a)]
        disc = body.get("discriminator") or {}
        prop = disc.get("propertyName")
        resolved: list[Type] = []
        for index, label in enumerate(self.alt_labels(alts, prop)):
            alt = alts[index]
            inner, inner_null = self.resolve(alt, ctx + label, f"{origin}|{index}")
            nullable = nullable or inner_null
            resolved.append(inner)
        flat = _merge_enums(_flatten(resolved))
        if not flat:
            return Prim("null"), False
        if len(flat) == 1:
            return flat[0], nullable
        mapping: list[tuple[str, str]] = []
        if prop:
            for tag, ref in (disc.get("mapping") or {}).items():
                target, _ = self.use(_ref_name(ref))
                mapping.append((str(tag), self.class_of(target, origin)))
            mapped = {m[1] for m in mapping}
            for alt_type in flat:
                if isinstance(alt_type, (Ref, Alias)):
                    cname = self.class_of(alt_type, origin)
                    if cname not in mapped:
                        for tag in self.tags(cname, prop):
                            mapping.append((str(tag), cname))
        return UnionT(tuple(flat), prop, tuple(mapping)), nullable

    def alt_labels(self, alts: list[Any], prop: str | None) -> list[str]:
        """What each alternative of a union adds to the union's name for the classes it holds
        (only inline alternatives hold any; a ``$ref`` keeps its component's name):

        1. its ``title``;
        2. else its tag: the ``const`` (or single ``enum`` value) of the discriminator property
           (without a spec discriminator: of ``type``, ``kind``, ``object``, ``role`` or
           ``id``), looked for through ``allOf`` parts and ``$ref`` s too;
        3. else, for the one array alternative of the union, nothing: its items are named
           ``<union>Item``; for the one object alternative among non-objects, ``Object``;
        4. else, or when two alternatives would get the same label, ``Option<n>`` (its
           position, from 1).
        """
        labels: list[str | None] = []
        for alt in alts:
            label = None
            if isinstance(alt, dict) and "$ref" not in alt:
                title = alt.get("title")
                if isinstance(title, str) and title.strip():
                    label = pascal(title)
                else:
                    tag = self._alt_tag(alt, prop)
                    label = None if tag is None else pascal(tag)
            labels.append(label)
        kinds = [self._alt_kind(alt) for alt in alts]
        for index, kind in enumerate(kinds):
            if labels[index] is None and kinds.count(kind) == 1:
                labels[index] = {"array": "", "object": "Object"}.get(kind or "")
        out: list[str] = []
        for index, label in enumerate(labels):
            if label is None or labels.count(label) > 1:
                label = f"Option{index + 1}"
            out.append(label)
        return out

    def _alt_properties(self, schema: Any, depth: int = 0) -> dict[str, Any]:
        """The properties of an object schema, through ``$ref`` s and ``allOf`` parts."""
        if not isinstance(schema, dict) or depth > 20:
            return {}
        if "$ref" in schema:
            return self._alt_properties(self.schemas.get(_ref_name(schema["$ref"])), depth + 1)
        props: dict[str, Any] = {}
        for part in schema.get("allOf") or ():
            props.update(self._alt_properties(part, depth + 1))
        props.update(schema.get("properties") or {})
        return props

    def _alt_tag(self, alt: dict[str, Any], prop: str | None) -> str | None:
        props = self._alt_properties(alt)
        for key in [prop] if prop else ["type", "kind", "object", "role", "id"]:
            spec = props.get(key)
            if isinstance(spec, dict) and "$ref" in spec:
                spec = self.schemas.get(_ref_name(spec["$ref"]))
            if isinstance(spec, dict):
                if "const" in spec and spec["const"] is not None:
                    return str(spec["const"])
                values = [v for v in spec.get("enum") or () if v is not None]
                if len(values) == 1:
                    return str(values[0])
        return None

    def _alt_kind(self, alt: Any, depth: int = 0) -> str | None:
        """``array``, ``object`` or another JSON type an alternative takes, if one."""
        if not isinstance(alt, dict) or depth > 20:
            return None
        if "$ref" in alt:
            return self._alt_kind(self.schemas.get(_ref_name(alt["$ref"])), depth + 1)
        body, _ = split_null(alt)
        if "allOf" in body or "properties" in body:
            return "object"
        if "oneOf" in body or "anyOf" in body:
            return None
        if "const" in body or "enum" in body:
            return "enum"
        types = _types(body)
        return next(iter(types)) if len(types) == 1 else None

    def class_of(self, t: Type, origin: str) -> str:
        """The class a discriminator mapping entry names (through aliases of a class)."""
        while isinstance(t, Alias):
            target = self.alias_target(t.name)
            t = target
        if not isinstance(t, Ref):
            raise SpecError(f"{origin}: discriminator mapping to a non-object schema")
        return t.name

    def alias_target(self, name: str) -> Type:
        if name not in self.aliases:
            self._queue.remove(name) if name in self._queue else None
            self._define(name)
        return self.aliases[name].target

    def tags(self, class_name: str, prop: str) -> tuple[Any, ...]:
        """The values a class declares for property ``prop`` (an enum or const), if any."""
        cls = self.classes.get(class_name)
        if cls is None:
            self._queue.remove(class_name) if class_name in self._queue else None
            self._define(class_name)
            cls = self.classes[class_name]
        for f in cls.fields:
            if f.wire == prop:
                t = f.type
                while isinstance(t, Alias):
                    t = self.alias_target(t.name)
                if isinstance(t, Enum):
                    return t.values
        return ()


_PRIMS = {"string": "str", "integer": "int", "number": "float", "boolean": "bool", "null": "null"}
_NO = object()


def _const_value(t: Type) -> Any:
    if isinstance(t, Enum) and len(t.values) == 1:
        return t.values[0]
    return _NO


def _types(schema: dict[str, Any]) -> set[str]:
    t = schema.get("type")
    if t is None:
        return set()
    if isinstance(t, str):
        return {t}
    return set(t)


def split_null(schema: Any) -> tuple[dict[str, Any], bool]:
    """(the schema without its null option, whether null is allowed)."""
    if not isinstance(schema, dict):
        return schema, False
    nullable = bool(schema.get("nullable"))
    body = dict(schema)
    body.pop("nullable", None)
    t = body.get("type")
    if isinstance(t, list) and "null" in t and len(t) > 1:
        rest = [x for x in t if x != "null"]
        body["type"] = rest[0] if len(rest) == 1 else rest
        nullable = True
    if "enum" in body and None in body["enum"]:
        nullable = True
        body["enum"] = [v for v in body["enum"] if v is not None]
    if "const" in body and body["const"] is None:
        body.pop("const")
        body["type"] = "null"
    for key in ("oneOf", "anyOf"):
        if key in body and any(_is_null_schema(a) for a in body[key]):
            nullable = True
            body[key] = [a for a in body[key] if not _is_null_schema(a)]
    return body, nullable


def _trivial_part(part: Any) -> bool:
    """An allOf part that adds no shape: ``{}``, ``{required: [...]}``, an empty object."""
    if not isinstance(part, dict):
        return False
    if "$ref" in part or "allOf" in part or "oneOf" in part or "anyOf" in part:
        return False
    if part.get("properties") or "items" in part or "enum" in part or "const" in part:
        return False
    extra = part.get("additionalProperties", {})
    if extra not in ({}, True):
        return False
    t = part.get("type")
    return t in (None, "object")


def _base_of(value: Any, schema: dict[str, Any]) -> str:
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, int):
        return "float" if "number" in _types(schema) else "int"
    if isinstance(value, float):
        return "float"
    return "str"


def _doc(schema: Any) -> str | None:
    if isinstance(schema, dict):
        text = schema.get("description")
        if isinstance(text, str) and text.strip():
            return text.strip()
    return None


def _flatten(types: list[Type]) -> list[Type]:
    out: list[Type] = []
    for t in types:
        if isinstance(t, UnionT) and t.disc is None:
            out.extend(_flatten(list(t.alts)))
        elif t not in out:
            out.append(t)
    return out


def _merge_enums(types: list[Type]) -> list[Type]:
    """Inline enums of one base in a union become one enum (``"none" | "auto"``...)."""
    out: list[Type] = []
    merged: dict[str, int] = {}
    for t in types:
        if isinstance(t, Enum):
            if t.base in merged:
                at = merged[t.base]
                prev = out[at]
                assert isinstance(prev, Enum)
                values = prev.values + tuple(v for v in t.values if v not in prev.values)
                out[at] = Enum(values, t.base)
                continue
            merged[t.base] = len(out)
        out.append(t)
    return out
