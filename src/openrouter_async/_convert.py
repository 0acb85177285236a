"""JSON ⇄ model conversion: the entry points, and the small runtime the generated models use.

The generated modules (``openrouter_async.models._*``, written by ``tools/codegen``) hold, for
every model class, a straight-line structure function (plain JSON data → validated instance,
built without running ``__init__`` a second time) and an unstructure function (instance →
JSON-able dict, UNSET fields left out, ``model_extra`` merged in). Each generated module
registers them here when it is imported. This module is the one place that calls them:

* :func:`structure` — input data (dicts, model objects, any mixture) → model; raises
  :class:`~openrouter_async.errors.RequestValidationError` naming the path
  (``messages[0].role``).
* :func:`unstructure` / :func:`dumps` — model → plain JSON data / ``bytes`` (orjson).
* :func:`parse` — a response body (``bytes`` or already-decoded JSON) → model. Parsed
  strictly first (the fast path); a body the strict parse refuses is read again leniently
  (:mod:`._lenient`: what the spec requires but the server left out reads ``None``, a value of
  an unexpected type is kept in ``model_extra``). Only what cannot be read at all (not JSON,
  not an object) is a :class:`~openrouter_async.errors.ResponseValidationError` carrying the
  raw body.
* :data:`converter` — a ``cattrs`` converter (orjson preconf) with the generated functions
  registered as hooks for every generated class and union alias, so
  ``converter.structure(data, ChatResult)`` works too. It is built on first use: importing
  cattrs costs more than everything else here, and the fast paths above never need it.

Validation failures inside the generated code are raised as :class:`Invalid` carrying the
reason and the path segments collected on the way out (innermost first); the entry points
turn them into the public error types.
"""

from __future__ import annotations

import logging
import operator
import threading
import types
import typing
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any, NoReturn, TypeVar, cast

import orjson

from ._model import Model
from ._unset import UNSET
from .errors import RequestValidationError, ResponseValidationError

if TYPE_CHECKING:
    import cattrs

    #: The cattrs converter with every generated class registered (built on first access).
    converter: cattrs.Converter

__all__ = [
    "Invalid",
    "converter",
    "dumps",
    "loads",
    "parse",
    "structure",
    "unstructure",
]

T = TypeVar("T")

StructureFn = Callable[[Any], Any]
UnstructureFn = Callable[[Any], Any]

#: class or union alias -> structure function (plain data or model object -> instance)
_STRUCTURE: dict[Any, StructureFn] = {}
#: class -> unstructure function (instance -> dict)
_UNSTRUCTURE: dict[type, UnstructureFn] = {}
#: other types asked of structure() (list[X], X | None, str, ...) -> a built checker
_DERIVED: dict[Any, StructureFn] = {}
#: each generated module's ``_lenient()`` (how to read its response-style classes
#: leniently), not called yet: ``_lenient`` calls them on the first body that needs it
LENIENT_SOURCES: list[Callable[[], dict[Any, Any]]] = []


# -- errors -------------------------------------------------------------------------------


class Invalid(Exception):
    """A validation failure inside generated code: a reason and the path to it.

    ``segments`` grow as the exception travels outwards (innermost first): a field name
    (``"role"``) or an index (``"[0]"``). :meth:`path` joins them: ``messages[0].role``.
    """

    __slots__ = ("reason", "segments")

    def __init__(self, reason: str, *segments: str) -> None:
        super().__init__(reason)
        self.reason = reason
        self.segments = list(segments)

    def push(self, segment: str) -> None:
        if segment:
            self.segments.append(segment)

    def path(self, prefix: str = "") -> str:
        out = prefix
        for segment in reversed(self.segments):
            if segment.startswith("[") or not out:
                out += segment
            else:
                out += "." + segment
        return out

    def request_error(self, *outer: str, prefix: str = "") -> RequestValidationError:
        """The public error, after pushing ``outer`` segments (outermost last)."""
        for segment in outer:
            self.push(segment)
        return RequestValidationError(self.reason, path=self.path(prefix))

    def __str__(self) -> str:
        path = self.path()
        return f"{path}: {self.reason}" if path else self.reason


def json_type(value: Any) -> str:
    """The JSON name of a value's type, for error messages."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return f"boolean {value!r}"
    if isinstance(value, str):
        text = value if len(value) <= 40 else value[:37] + "..."
        return f"string {text!r}"
    if isinstance(value, int):
        return f"integer {value!r}"
    if isinstance(value, float):
        return f"number {value!r}"
    if isinstance(value, (list, tuple)):
        return "array"
    if isinstance(value, Model):
        return type(value).__name__
    if isinstance(value, Mapping):
        return "object"
    if value is UNSET:
        return "UNSET"
    return type(value).__name__


def fail(expected: str, value: Any) -> NoReturn:
    raise Invalid(f"expected {expected}, got {json_type(value)}")


def missing() -> NoReturn:
    raise Invalid("required field is missing")


# -- primitive checks (the generated fast path tests the exact type first) -----------------


def str_(value: Any) -> Any:
    if isinstance(value, str):
        return value
    fail("string", value)


def int_(value: Any) -> Any:
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    fail("integer", value)


def float_(value: Any) -> Any:
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return value
    fail("number", value)


def bool_(value: Any) -> Any:
    if isinstance(value, bool):
        return value
    fail("boolean", value)


def null_(value: Any) -> Any:
    if value is None:
        return value
    fail("null", value)


def any_(value: Any) -> Any:
    return value


_EXACT = frozenset({str, int, float, bool, list, tuple, dict, type(None)})


def plain(value: Any, expected: str) -> Any:
    """Normalise a value of an unusual type so a union check can try once more.

    Mappings become dicts, model objects their JSON dicts, subclasses of str/int/float/list
    the builtin. A value that already has an exact builtin type is the wrong type: fail.
    """
    if type(value) not in _EXACT:
        if isinstance(value, Model):
            return unstructure(value)
        if isinstance(value, Mapping):
            return dict(value)
        if isinstance(value, str):
            return str.__str__(value)
        if isinstance(value, int):
            return int(value)
        if isinstance(value, float):
            return float(value)
        if isinstance(value, (list, tuple)):
            return list(value)
    fail(expected, value)


def obj(value: Any) -> dict[str, Any]:
    """The dict behind a value where an object is expected (called off the fast path)."""
    if isinstance(value, dict):
        return value
    if isinstance(value, Model):
        return cast("dict[str, Any]", unstructure(value))
    if isinstance(value, Mapping):
        return dict(value)
    fail("object", value)


def seq(value: Any) -> list[Any] | tuple[Any, ...]:
    """A list or tuple where an array is expected (called off the fast path)."""
    if isinstance(value, (list, tuple)):
        return value
    fail("array", value)


def list_error(items: Any, item: StructureFn, error: Invalid) -> NoReturn:
    """Re-raise a failure inside a list comprehension with the failing index in its path."""
    for index, value in enumerate(items):
        try:
            item(value)
        except Invalid as found:
            found.push(f"[{index}]")
            raise found from None
    raise error


def list_of(items: Any, item: StructureFn) -> list[Any]:
    """A new list of ``item(x)`` for each x of an array."""
    if type(items) is not list and type(items) is not tuple:
        items = seq(items)
    try:
        return [item(value) for value in items]
    except Invalid as error:
        list_error(items, item, error)


def list_str(items: Any) -> Any:
    if type(items) is not list:
        items = list(seq(items))
    for value in items:
        if type(value) is not str:
            return list_of(items, str_)
    return items


def list_int(items: Any) -> Any:
    if type(items) is not list:
        items = list(seq(items))
    for value in items:
        if type(value) is not int:
            return list_of(items, int_)
    return items


def list_float(items: Any) -> Any:
    if type(items) is not list:
        items = list(seq(items))
    for value in items:
        if type(value) is not float and type(value) is not int:
            return list_of(items, float_)
    return items


def list_bool(items: Any) -> Any:
    if type(items) is not list:
        items = list(seq(items))
    for value in items:
        if type(value) is not bool:
            return list_of(items, bool_)
    return items


def list_any(items: Any) -> list[Any]:
    if type(items) is list:
        return items
    return list(seq(items))


def _key(key: Any) -> str:
    if isinstance(key, str):
        return key
    if isinstance(key, int) and not isinstance(key, bool):
        return str(key)  # {50256: -100} for logit_bias: JSON keys are strings
    raise Invalid(f"expected a string key, got {json_type(key)}")


def dict_of(value: Any, item: StructureFn) -> dict[str, Any]:
    """A new dict of ``item(v)`` for each value of an object (keys must be strings)."""
    if type(value) is not dict:
        value = obj(value)
    out: dict[str, Any] = {}
    for key, entry in value.items():
        if type(key) is not str:
            key = _key(key)
        try:
            out[key] = item(entry)
        except Invalid as error:
            error.push(key)
            raise
    return out


def dict_any(value: Any) -> dict[str, Any]:
    if type(value) is not dict:
        value = obj(value)
    for key in value:
        if type(key) is not str:
            return {_key(k): v for k, v in value.items()}
    return cast("dict[str, Any]", value)


def extras(data: dict[str, Any], known: frozenset[str]) -> dict[str, Any] | None:
    """The keys of ``data`` no field claims: kept in ``model_extra``, never dropped.

    UNSET values count as absent. A ``model_extra`` key (the keyword-argument spelling, as
    in ``structure({"model": ..., "model_extra": {...}}, ChatRequest)``) is merged in.
    """
    # A plain loop building the dict only when a key is left over: most bodies have none or
    # one or two (OpenRouter's `provider`, `native_finish_reason`), and a comprehension builds
    # one every time (0.61 → 0.39 µs per call, twice per stream chunk).
    out: dict[str, Any] | None = None
    for k, v in data.items():
        if k not in known and v is not UNSET:
            if out is None:
                out = {}
            out[k] = v
    if out is None:
        return None
    if "model_extra" in out:
        more = out.pop("model_extra")
        if more is not None:
            if not isinstance(more, Mapping):
                raise Invalid(f"expected object, got {json_type(more)}", "model_extra")
            out.update(more)
    return out or None


def bad_tag(data: dict[str, Any], key: str, allowed: tuple[str, ...]) -> Invalid:
    """The error for a discriminator value no alternative claims (or a missing one)."""
    expected = ", ".join(repr(tag) for tag in allowed)
    if data.get(key, UNSET) is UNSET:
        return Invalid(f"required field is missing; expected one of {expected}", key)
    value = data[key]
    shown = repr(value) if isinstance(value, str) else json_type(value)
    return Invalid(f"unknown {key} {shown}; expected one of {expected}", key)


def first_of(value: Any, hooks: tuple[StructureFn, ...]) -> Any:
    """The first alternative that accepts ``value`` (unions no key tells apart)."""
    error: Invalid | None = None
    for hook in hooks:
        try:
            return hook(value)
        except Invalid as failed:
            if error is None:
                error = failed
    assert error is not None
    raise error


def extra_converter(value: Mapping[str, Any] | None) -> dict[str, Any] | None:
    """The attrs converter of every model's ``model_extra`` field."""
    if value is None or type(value) is dict:
        return value
    if isinstance(value, Mapping):
        return dict(value)
    raise RequestValidationError(
        f"expected object or None, got {json_type(value)}", path="model_extra"
    )


# -- generated-class support ---------------------------------------------------------------

new = object.__new__

#: sets ``Model._nulls_given`` (the JSON names of nullable fields given as an explicit null)
set_nulls: Callable[[Any, tuple[str, ...]], None] = Model.__dict__["_nulls_given"].__set__
_get_nulls: Callable[[Any], tuple[str, ...]] = Model.__dict__["_nulls_given"].__get__


def nulls_given(instance: Any) -> tuple[str, ...]:
    """The JSON names of the nullable fields ``instance`` was parsed with as an explicit null:
    a response-style class unstructures those as null, its other None fields not at all (an
    assistant message's ``"content": null`` goes back as it came, and a message built from a
    response does not grow ``"refusal": null``). Empty for an instance built by keywords."""
    try:
        return _get_nulls(instance)
    except AttributeError:  # the slot is set only when there are some
        return ()


def setters(cls: type, *names: str) -> tuple[Callable[[Any, Any], None], ...]:
    """The slot setters of a frozen class: how structure functions fill a new instance."""
    return tuple(cls.__dict__[name].__set__ for name in names)


_GETTERS: dict[type, Callable[[Any], Any]] = {}


def _values(instance: Any) -> Any:
    cls = type(instance)
    getter = _GETTERS.get(cls)
    if getter is None:
        names = [a.name for a in cls.__attrs_attrs__]
        getter = _GETTERS[cls] = operator.attrgetter(*names)
    return getter(instance)


def model_repr(self: Any) -> str:
    """``ChatUserMessage(role='user', content='hi')``: UNSET fields are left out."""
    parts = []
    for a in type(self).__attrs_attrs__:
        value = getattr(self, a.name)
        if value is UNSET or (value is None and a.name == "model_extra"):
            continue
        parts.append(f"{a.name}={value!r}")
    return f"{type(self).__name__}({', '.join(parts)})"


def response_repr(self: Any) -> str:
    """The repr of a response-style model: ``None`` (not given) fields are left out too."""
    parts = []
    for a in type(self).__attrs_attrs__:
        value = getattr(self, a.name)
        if value is None or value is UNSET:
            continue
        parts.append(f"{a.name}={value!r}")
    return f"{type(self).__name__}({', '.join(parts)})"


def model_eq(self: Any, other: object) -> bool:
    if other.__class__ is not self.__class__:
        return NotImplemented  # type: ignore[no-any-return]
    return bool(_values(self) == _values(other))


def model_hash(self: Any) -> int:
    # Raises TypeError for a model holding a list or dict, as a tuple holding one would.
    return hash((type(self), _values(self)))


def register(
    structure_hooks: Mapping[Any, StructureFn],
    unstructure_hooks: Mapping[type, UnstructureFn],
    lenient: Callable[[], dict[Any, Any]] | None = None,
) -> None:
    """Called by each generated module at import: make its classes known here."""
    _STRUCTURE.update(structure_hooks)
    _UNSTRUCTURE.update(unstructure_hooks)
    if lenient is not None:
        LENIENT_SOURCES.append(lenient)


# -- entry points --------------------------------------------------------------------------


def _hook(cls: Any) -> StructureFn:
    try:
        hook = _STRUCTURE.get(cls) or _DERIVED.get(cls)
    except TypeError:  # an unhashable typing construct: build, do not cache
        return _derive(cls)
    if hook is None:
        hook = _DERIVED[cls] = _derive(cls)
    return hook


def structure(data: Any, cls: type[T], *, path: str = "") -> T:
    """Input data (dicts, model objects, any mixture, at any depth) → an instance of ``cls``.

    ``cls`` is a generated class or union alias, or a typing construct over them
    (``list[ChatMessages]``, ``ChatUsage | None``, ``str``...). Raises
    :class:`RequestValidationError` whose ``path`` (prefixed by ``path``) names the field.
    """
    try:
        hook = _STRUCTURE[cls]
    except (KeyError, TypeError):
        hook = _hook(cls)
    try:
        return hook(data)  # type: ignore[no-any-return]
    except Invalid as error:
        raise error.request_error(prefix=path) from None
    except RecursionError:
        raise RequestValidationError("input nested too deeply", path=path) from None


def unstructure_value(value: Any) -> Any:
    hook = _UNSTRUCTURE.get(type(value))
    if hook is not None:
        return hook(value)
    if isinstance(value, Model):
        return _unstructure_model(value)
    if isinstance(value, (list, tuple)):
        return [unstructure_value(item) for item in value]
    if isinstance(value, dict):
        return {key: unstructure_value(item) for key, item in value.items()}
    return value


def _unstructure_model(value: Model) -> Any:
    # A class of a generated module imported before this one registered (cannot happen in
    # practice), or a user subclass of a generated class: find its hook by the MRO.
    for base in type(value).__mro__:
        hook = _UNSTRUCTURE.get(base)
        if hook is not None:
            return hook(value)
    raise TypeError(f"no unstructure hook for {type(value).__name__}")


def unstructure(obj: Any) -> Any:
    """Models → plain JSON-able data, recursively (UNSET omitted, ``model_extra`` merged).

    Lists, tuples and dicts are walked so that models inside them are converted too; other
    values are returned as they are.
    """
    hook = _UNSTRUCTURE.get(type(obj))
    if hook is not None:
        return hook(obj)
    return unstructure_value(obj)


def _default(value: Any) -> Any:
    # orjson calls this for what it cannot serialise itself: models found inside plain data
    # (a dict[str, Any] field, model_extra, a dict body holding model objects).
    if isinstance(value, Model):
        return unstructure(value)
    if isinstance(value, (set, frozenset)):
        return list(value)
    raise TypeError(f"cannot serialise {type(value).__name__} to JSON")


def dumps(obj: Any) -> bytes:
    """Serialise a model (or plain data holding models) to JSON bytes with orjson."""
    hook = _UNSTRUCTURE.get(type(obj))
    try:
        return orjson.dumps(hook(obj) if hook is not None else obj, default=_default)
    except orjson.JSONEncodeError as error:
        raise RequestValidationError(f"cannot serialise to JSON: {error}") from None


def loads(data: bytes | bytearray | memoryview | str) -> Any:
    """Parse JSON with orjson; invalid JSON is a :class:`ResponseValidationError`."""
    try:
        return orjson.loads(data)
    except orjson.JSONDecodeError as error:
        raise ResponseValidationError(f"invalid JSON: {error}", body=_text(data)) from None


def _text(data: Any) -> str:
    if isinstance(data, str):
        return data
    if isinstance(data, (bytes, bytearray, memoryview)):
        return bytes(data).decode("utf-8", "replace")
    try:
        return orjson.dumps(data, default=_default).decode()
    except Exception:
        try:
            return repr(data)
        except Exception:  # e.g. RecursionError on absurdly nested data
            return f"<{type(data).__name__} that cannot be shown>"


def unknown_event(body: str) -> ResponseValidationError:
    """A stream event whose ``type`` names no event of the spec: the lenient parse keeps a
    nested value of an unknown kind, but an event of no known kind is nothing usable."""
    return ResponseValidationError("a stream event of a type this client does not know", body=body)


def _name(cls: Any) -> str:
    return getattr(cls, "__name__", None) or repr(cls)


def parse(data: bytes | Any, cls: type[T], *, status_code: int | None = None) -> T:
    """A response body (JSON bytes/str, or already-decoded JSON data) → an instance of ``cls``.

    Be liberal in what you accept from the server: a body the strict parse refuses (a field
    the spec requires left out, a value of another type) is read again by
    :func:`._lenient.parse_leniently`, which keeps everything it can. Only a body that gives
    nothing usable — invalid JSON, not an object where an object is expected, a top-level
    union member no tag names — raises :class:`ResponseValidationError` with the raw body
    text on ``.body``; never a bare orjson or cattrs exception.
    """
    raw = data
    if isinstance(data, (bytes, bytearray, memoryview, str)):
        try:
            data = orjson.loads(data)
        except orjson.JSONDecodeError as error:
            raise ResponseValidationError(
                f"the response body is not valid JSON: {error}",
                body=_text(raw),
                status_code=status_code,
            ) from None
    try:
        hook = _STRUCTURE[cls]
    except (KeyError, TypeError):
        hook = _hook(cls)
    try:
        return hook(data)  # type: ignore[no-any-return]
    except Invalid as error:
        # The slow path only: the strict parse above stays the straight-line generated code.
        from ._lenient import REFUSED, parse_leniently

        try:
            found = parse_leniently(data, cls, error)
        except Exception:  # absurd nesting, or a bug there: refuse as the strict parse did
            logging.getLogger("openrouter_async").debug("lenient parse failed", exc_info=True)
            found = REFUSED
        if found is not REFUSED:
            return found  # type: ignore[no-any-return]
        where = error.path()
        message = f"invalid {_name(cls)}" + (f" at {where}" if where else "")
        raise ResponseValidationError(
            f"{message}: {error.reason}", body=_text(raw), status_code=status_code
        ) from None
    except Exception as error:  # a bug or an exotic input: still the documented error
        raise ResponseValidationError(
            f"invalid {_name(cls)}: {type(error).__name__}: {error}",
            body=_text(raw),
            status_code=status_code,
        ) from None


# -- checks for typing constructs asked of structure() -------------------------------------


def _derive(tp: Any) -> StructureFn:
    """A checker for ``tp`` built from the generated hooks: list[X], dict[str, X], unions..."""
    if tp is Any or tp is object:
        return any_
    if tp in (str, int, float, bool):
        return {str: str_, int: int_, float: float_, bool: bool_}[tp]
    if tp is None or tp is type(None):
        return null_
    if isinstance(tp, type) and issubclass(tp, Model):
        # A generated class whose module did not register (a user subclass, say).
        for base in tp.__mro__:
            if base in _STRUCTURE:
                return _STRUCTURE[base]
    origin = typing.get_origin(tp)
    args = typing.get_args(tp)
    if origin in (list, tuple, typing.get_origin(typing.Sequence[Any])):
        item = _hook(args[0]) if args else any_
        return lambda value: list_of(value, item)
    if origin in (dict, typing.get_origin(typing.Mapping[Any, Any])):
        item = _hook(args[1]) if len(args) == 2 else any_
        return lambda value: dict_of(value, item)
    if origin is typing.Literal:
        allowed = args

        def literal(value: Any) -> Any:
            if value in allowed:
                return value
            raise Invalid(
                f"expected one of {', '.join(map(repr, allowed))}, got {json_type(value)}"
            )

        return literal
    if origin is typing.Union or isinstance(tp, types.UnionType):
        hooks = [_hook(arg) for arg in args]

        def union(value: Any) -> Any:
            errors: list[Invalid] = []
            for hook in hooks:
                try:
                    return hook(value)
                except Invalid as error:
                    errors.append(error)
            raise errors[-1]

        return union
    return _cattrs_fallback(tp)


def _cattrs_fallback(tp: Any) -> StructureFn:
    def hook(value: Any) -> Any:
        try:
            return _get_converter().structure(value, tp)
        except (RequestValidationError, Invalid):
            raise
        except Exception as error:
            raise Invalid(f"cannot structure as {tp!r}: {error}") from None

    return hook


# -- the cattrs converter (lazy) -----------------------------------------------------------


def _make_converter() -> cattrs.Converter:
    from cattrs.preconf.orjson import make_converter

    made = make_converter()

    def known(tp: Any) -> bool:
        try:
            return tp in _STRUCTURE
        except TypeError:
            return False

    def structure_hook(value: Any, tp: Any) -> Any:
        return structure(value, tp)

    def known_class(tp: Any) -> bool:
        return isinstance(tp, type) and issubclass(tp, Model)

    made.register_structure_hook_func(known, structure_hook)
    made.register_unstructure_hook_func(known_class, unstructure)
    return made


_CONVERTER_LOCK = threading.Lock()


def _get_converter() -> cattrs.Converter:
    made = globals().get("converter")
    if made is None:
        with _CONVERTER_LOCK:
            made = globals().get("converter")
            if made is None:
                made = globals()["converter"] = _make_converter()
    return cast("cattrs.Converter", made)


def __getattr__(name: str) -> Any:
    if name == "converter":
        return _get_converter()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
