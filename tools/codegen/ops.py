"""The spec's operations → an intermediate representation the resource emitter writes out.

Naming follows the official SDK (the product description's examples call these names):

* the group is ``x-speakeasy-group`` or the operation's first tag in snake_case
  (``API Keys`` → ``api_keys``, ``OAuth`` → ``o_auth``), except where :data:`GROUP_NAMES`
  says otherwise; :data:`GROUP_ALIASES` mounts a group a second time (``beta.responses``);
* the method is ``x-speakeasy-name-override`` or the ``operationId``, in snake_case;
* parameters are snake_case, with a trailing underscore for Python keywords and for names the
  official SDK renames (:data:`RENAMED_PARAMS`: ``date`` → ``date_``);
* a JSON body is flattened into keyword arguments, one per field of its model;
* a list operation with offset/limit or cursor parameters is paged (:class:`Paging`): its
  methods return pages that fetch the next ones (``_pages.py``).

Inline request and response schemas get component names (``{OperationId}Request`` and
``{OperationId}Response``) before the models are generated, so that they are classes like
any other: :func:`lift_inline_schemas` adds them to ``components.schemas``.
"""

from __future__ import annotations

import copy
import keyword
from dataclasses import dataclass, field
from typing import Any

from .ir import pascal, snake

METHODS = ("get", "post", "put", "patch", "delete")

#: tag → group attribute, where snake_case of the tag is not the name the SDK uses
GROUP_NAMES = {"Anthropic Messages": "messages"}

#: group → further places it is mounted (the product description uses ``beta.responses``)
GROUP_ALIASES: dict[str, tuple[tuple[str, ...], ...]] = {"responses": (("beta", "responses"),)}

#: parameter names the official SDK suffixes with ``_`` (they shadow common imports)
RENAMED_PARAMS = frozenset({"date"})

#: keyword arguments every method takes: no parameter or body field may use these names
CONTROL_KWARGS = (
    "security",
    "retries",
    "timeout_ms",
    "http_headers",
    "extra_headers",
    "extra_query",
    "extra_body",
    "server_url",
    "http_referer",
    "x_open_router_title",
    "x_open_router_categories",
)

#: the order of the generated group modules: a schema used by several groups lives in the
#: first one (chat first, so that the hot path loads the least code)
GROUP_ORDER = ("chat", "completions", "responses", "messages", "embeddings")


@dataclass
class Param:
    py: str
    wire: str
    where: str  # "path" | "query" | "header"
    required: bool
    ann: str
    doc: str | None


@dataclass
class FormField:
    """One part of a multipart body."""

    py: str
    wire: str
    required: bool
    ann: str
    is_file: bool
    doc: str | None


#: Cursor-paged operations whose answer may come in another API's shape, which pages with
#: its own forward cursor: (the shape's class, the query parameter taking the page's
#: ``last_id`` while its ``has_more`` is true). From the spec's descriptions of ``GET /files``'
#: parameters: ``after`` is the "OpenAI-style forward cursor", ``after_id`` the
#: "Anthropic-style" one; the OpenRouter shape has the spec's ``cursor``.
FORWARD_CURSORS: dict[str, tuple[tuple[str, str], ...]] = {
    "listFiles": (("OpenAIFileList", "after"), ("AnthropicFileList", "after_id")),
}


@dataclass
class Paging:
    """How the pages of a list operation follow each other.

    From the spec's ``x-speakeasy-pagination`` (what the official SDK's ``next()`` follows):
    ``offsetLimit`` → ``kind="offset"``, ``cursor`` → ``kind="cursor"``. A ``GET`` with an
    ``offset`` query parameter and a ``data`` array in its answer but no extension (``GET
    /keys``) pages by offset too, with no page size known.
    """

    kind: str  # "offset" | "cursor"
    #: the answer's property holding the page's items (``$.data``)
    items: str
    #: Python names of the query parameters
    offset: str | None = None
    limit: str | None = None
    cursor: str | None = None
    #: the server's page size when ``limit`` is not given (the parameter's spec default)
    default_limit: int | None = None
    #: the largest ``offset`` the server accepts (its ``maximum``)
    max_offset: int | None = None
    #: the answer's integer property counting every item (``total_count``), if it has one
    total: str | None = None
    #: the answer's property holding the next page's cursor (``$.cursor``)
    next_cursor: str | None = None
    #: see :data:`FORWARD_CURSORS`: (class of the answer, Python name of the parameter)
    forward: tuple[tuple[str, str], ...] = ()


@dataclass
class Operation:
    operation_id: str
    group: str
    name: str
    method: str
    path: str
    summary: str | None
    description: str | None
    params: list[Param] = field(default_factory=list)
    #: "json" (flattened model fields), "multipart" (form fields) or None
    body_kind: str | None = None
    body_schema: str | None = None
    body_required: bool = False
    form: list[FormField] = field(default_factory=list)
    #: "json" | "binary" | "empty"
    response_kind: str = "json"
    response_schema: str | None = None
    binary_types: tuple[str, ...] = ()
    #: the component schema of one server-sent event (``{data: Event}``), when it streams
    stream_schema: str | None = None
    #: the name of the per-call security class (``ListModelsUserSecurity``), if any
    security_class: str | None = None
    #: False when the operation needs no key (``security: []``)
    authenticated: bool = True
    deprecated: bool = False
    #: set on list operations whose results come in pages
    paging: Paging | None = None

    @property
    def streams(self) -> bool:
        return self.stream_schema is not None


def group_of(op: dict[str, Any]) -> str:
    explicit = op.get("x-speakeasy-group")
    if explicit:
        return str(explicit)
    tag = (op.get("tags") or ["default"])[0]
    return GROUP_NAMES.get(tag, snake(tag))


def param_name(wire: str) -> str:
    name = snake(wire)
    name = name.rstrip("_")
    if keyword.iskeyword(name) or name in RENAMED_PARAMS:
        name += "_"
    return name


def _deref(spec: dict[str, Any], schema: Any) -> Any:
    while isinstance(schema, dict) and "$ref" in schema:
        schema = spec["components"]["schemas"][schema["$ref"].rsplit("/", 1)[-1]]
    return schema


_PRIM_ANN = {"string": "str", "integer": "int", "number": "float", "boolean": "bool"}


def simple_ann(spec: dict[str, Any], schema: Any) -> str:
    """The annotation of a parameter or form field (primitives, enums, arrays of them)."""
    schema = _deref(spec, schema) or {}
    if "anyOf" in schema or "oneOf" in schema:
        alts = [
            simple_ann(spec, alt)
            for alt in schema.get("anyOf", schema.get("oneOf"))
            if _deref(spec, alt).get("type") != "null"
        ]
        return " | ".join(dict.fromkeys(alts)) or "str"
    types = schema.get("type", "string")
    if isinstance(types, list):
        types = [t for t in types if t != "null"] or ["string"]
        types = types[0]
    if "enum" in schema:
        values = [v for v in schema["enum"] if v is not None]
        base = _PRIM_ANN.get(types, "str")
        return f"Literal[{', '.join(repr(v) for v in values)}] | {base}"
    if types == "array":
        return f"Sequence[{simple_ann(spec, schema.get('items', {}))}]"
    if schema.get("format") == "binary":
        return "FileInput"
    return _PRIM_ANN.get(types, "Any")


def _param_ann(ann: str) -> str:
    """Numbers in a path or query string may be given as text too (``offset="0"``, as the
    product description passes them): they are sent as text either way."""
    return f"{ann} | str" if ann in ("int", "float") else ann


def _doc(schema: Any) -> str | None:
    if isinstance(schema, dict):
        text = schema.get("description")
        return str(text) if text else None
    return None


def lift_inline_schemas(spec: dict[str, Any]) -> list[str]:
    """Give every inline JSON request body and 2xx response schema a component name.

    The operation then refers to it by ``$ref``, so the model generator makes it a class.
    Returns the names added.
    """
    schemas = spec["components"]["schemas"]
    added: list[str] = []

    def lift(holder: dict[str, Any], name: str) -> None:
        schema = holder.get("schema")
        if not isinstance(schema, dict) or "$ref" in schema:
            return
        if schema.get("type") != "object" and "properties" not in schema:
            return
        if name in schemas:  # e.g. a component `ListEndpointsResponse` exists already
            name += "Body"
        if name in schemas:
            raise ValueError(f"inline schema name {name!r} is already a component")
        schemas[name] = copy.deepcopy(schema)
        holder["schema"] = {"$ref": f"#/components/schemas/{name}"}
        added.append(name)

    for item in spec["paths"].values():
        for method in METHODS:
            op = item.get(method)
            if not isinstance(op, dict):
                continue
            base = pascal(op["operationId"])
            body = op.get("requestBody", {}).get("content", {}).get("application/json")
            if body is not None:
                lift(body, f"{base}Request")
            for status, response in op.get("responses", {}).items():
                if not str(status).startswith("2"):
                    continue
                content = response.get("content", {}).get("application/json")
                if content is not None:
                    lift(content, f"{base}Response")
    return added


def _security_class(op: dict[str, Any], global_security: Any) -> tuple[str | None, bool]:
    if "security" not in op or op["security"] == global_security:
        return None, True
    requirements = op["security"]
    authenticated = bool(requirements)
    if op.get("x-openrouter-async-security-class"):
        return str(op["x-openrouter-async-security-class"]), authenticated
    if not requirements:
        return None, False
    return f"{pascal(op['operationId'])}Security", True


def operations(spec: dict[str, Any]) -> list[Operation]:
    """Every operation of the spec (after :func:`lift_inline_schemas`), in path order."""
    out: list[Operation] = []
    global_security = spec.get("security")
    for path, item in spec["paths"].items():
        for method in METHODS:
            op = item.get(method)
            if not isinstance(op, dict):
                continue
            out.append(_operation(spec, path, method, op, global_security))
            content = op.get("requestBody", {}).get("content", {})
            if "application/json" in content and "multipart/form-data" in content:
                # Both forms of the body: the JSON one keeps the name, the upload gets its
                # own method (the official SDK's `create_transcription_multipart`).
                twin = _operation(spec, path, method, op, global_security)
                twin.name += "_multipart"
                twin.body_schema = None
                _multipart(spec, twin, content["multipart/form-data"]["schema"])
                _check_names(twin, spec)
                out.append(twin)
    _check_unique(out)
    return out


def _operation(
    spec: dict[str, Any], path: str, method: str, op: dict[str, Any], global_security: Any
) -> Operation:
    name = snake(op.get("x-speakeasy-name-override") or op["operationId"]).rstrip("_")
    security_class, authenticated = _security_class(op, global_security)
    result = Operation(
        operation_id=op["operationId"],
        group=group_of(op),
        name=name,
        method=method.upper(),
        path=path,
        summary=op.get("summary"),
        description=op.get("description"),
        security_class=security_class,
        authenticated=authenticated,
        deprecated=bool(op.get("deprecated")),
    )
    param_schemas: dict[str, Any] = {}
    for prm in op.get("parameters", []):
        prm = _deref(spec, prm)
        if prm["in"] == "query":
            param_schemas[prm["name"]] = _deref(spec, prm.get("schema", {})) or {}
        result.params.append(
            Param(
                py=param_name(prm["name"]),
                wire=prm["name"],
                where=prm["in"],
                required=bool(prm.get("required")) or prm["in"] == "path",
                ann=_param_ann(simple_ann(spec, prm.get("schema", {}))),
                doc=prm.get("description") or _doc(prm.get("schema")),
            )
        )
    content = op.get("requestBody", {}).get("content", {})
    result.body_required = bool(op.get("requestBody", {}).get("required"))
    if "application/json" in content:
        result.body_kind = "json"
        result.body_schema = content["application/json"]["schema"]["$ref"].rsplit("/", 1)[-1]
    elif "multipart/form-data" in content:
        _multipart(spec, result, content["multipart/form-data"]["schema"])
    for status, response in op.get("responses", {}).items():
        if not str(status).startswith("2"):
            continue
        kinds = response.get("content", {})
        if "application/json" in kinds:
            schema = kinds["application/json"].get("schema", {})
            if "$ref" in schema:
                result.response_schema = schema["$ref"].rsplit("/", 1)[-1]
            else:
                raise ValueError(f"{op['operationId']}: a JSON response that is not an object")
        binary = tuple(k for k in kinds if k != "application/json" and k != "text/event-stream")
        binary = tuple(k for k in binary if k != "application/rss+xml")  # an alternative view
        if binary and not result.response_schema:
            result.response_kind = "binary"
            result.binary_types = binary
        events = kinds.get("text/event-stream", {}).get("schema", {})
        if "$ref" in events:
            result.stream_schema = events["$ref"].rsplit("/", 1)[-1]
        if not kinds and not result.response_schema:
            result.response_kind = "empty"
        break
    result.paging = _paging(spec, op, result, param_schemas)
    _check_names(result, spec)
    return result


def _json_field(path: Any, where: str) -> str:
    """The property a pagination output names: ``$.data`` → ``data`` (nothing deeper)."""
    if not isinstance(path, str) or not path.startswith("$.") or "." in path[2:]:
        raise ValueError(f"{where}: unsupported pagination path {path!r} (only `$.<name>`)")
    return path[2:]


def _response_properties(spec: dict[str, Any], name: str | None) -> list[dict[str, Any]]:
    """The properties of each shape an answer can take (one, or a union's alternatives)."""
    if name is None:
        return []
    schema = _deref(spec, {"$ref": f"#/components/schemas/{name}"})
    alternatives = schema.get("oneOf") or schema.get("anyOf") or [schema]
    return [_deref(spec, alt).get("properties", {}) for alt in alternatives]


def _paging(
    spec: dict[str, Any], op: dict[str, Any], result: Operation, schemas: dict[str, Any]
) -> Paging | None:
    where = op["operationId"]
    shapes = _response_properties(spec, result.response_schema)
    ext = op.get("x-speakeasy-pagination")
    if ext is None:
        # No extension: a GET answering `{data: [...]}` with an `offset` is paged by offset.
        if result.method != "GET" or "offset" not in schemas or not shapes:
            return None
        if not all(_deref(spec, props.get("data", {})).get("type") == "array" for props in shapes):
            return None
        ext = {
            "type": "offsetLimit",
            "inputs": [{"name": "offset", "type": "offset"}]
            + ([{"name": "limit", "type": "limit"}] if "limit" in schemas else []),
            "outputs": {"results": "$.data"},
        }
    inputs = {item["type"]: item["name"] for item in ext.get("inputs", [])}
    outputs = ext.get("outputs", {})
    for wire in inputs.values():
        if wire not in schemas:
            raise ValueError(f"{where}: pagination names {wire!r}, not a query parameter")
    paging = Paging(kind="", items=_json_field(outputs.get("results"), where))
    for props in shapes:
        if _deref(spec, props.get(paging.items, {})).get("type") != "array":
            raise ValueError(f"{where}: the answer's {paging.items!r} is not an array")
    if ext.get("type") == "offsetLimit":
        paging.kind = "offset"
        paging.offset = param_name(inputs["offset"])
        maximum = schemas[inputs["offset"]].get("maximum")
        paging.max_offset = maximum if isinstance(maximum, int) else None
        if "limit" in inputs:
            paging.limit = param_name(inputs["limit"])
            default = schemas[inputs["limit"]].get("default")
            paging.default_limit = default if isinstance(default, int) else None
        if len(shapes) == 1 and _deref(spec, shapes[0].get("total_count", {})).get("type") == (
            "integer"
        ):
            paging.total = "total_count"
    elif ext.get("type") == "cursor":
        paging.kind = "cursor"
        paging.cursor = param_name(inputs["cursor"])
        paging.next_cursor = _json_field(outputs.get("nextCursor"), where)
        forward = FORWARD_CURSORS.get(where, ())
        if _last_id_while_has_more(spec, paging.next_cursor, shapes):
            # An OpenAI-style list (`GET /batches`): `last_id` is set on the last page too,
            # so it is followed only while `has_more` says a page follows (the official SDK
            # follows it until a page comes back empty: one request more).
            assert result.response_schema is not None
            forward = ((result.response_schema, inputs["cursor"]),)
            paging.next_cursor = None
        for _cls, wire in forward:
            if wire not in schemas:
                raise ValueError(f"{where}: forward cursor {wire!r} is not a query parameter")
        paging.forward = tuple((cls, param_name(wire)) for cls, wire in forward)
    else:
        raise ValueError(f"{where}: unsupported pagination type {ext.get('type')!r}")
    return paging


def _last_id_while_has_more(
    spec: dict[str, Any], next_cursor: str, shapes: list[dict[str, Any]]
) -> bool:
    """Whether a cursor named by ``$.last_id`` is OpenAI's forward cursor: one answer shape
    with a boolean ``has_more`` saying whether another page follows."""
    if next_cursor != "last_id" or len(shapes) != 1:
        return False
    return _deref(spec, shapes[0].get("has_more", {})).get("type") == "boolean"


def _multipart(spec: dict[str, Any], op: Operation, schema: dict[str, Any]) -> None:
    op.body_kind = "multipart"
    required = set(schema.get("required", []))
    for wire, prop in schema.get("properties", {}).items():
        ann = simple_ann(spec, prop)
        op.form.append(
            FormField(
                py=param_name(wire),
                wire=wire,
                required=wire in required,
                ann=ann,
                is_file=ann == "FileInput",
                doc=_doc(prop),
            )
        )


def _check_names(op: Operation, spec: dict[str, Any]) -> None:
    names = [p.py for p in op.params] + [f.py for f in op.form]
    for name in names:
        if name in CONTROL_KWARGS:
            raise ValueError(f"{op.operation_id}: parameter {name!r} clashes with a control kwarg")
    if len(set(names)) != len(names):
        raise ValueError(f"{op.operation_id}: two parameters share a Python name: {names}")


def _check_unique(ops: list[Operation]) -> None:
    seen: dict[tuple[str, str], str] = {}
    for op in ops:
        key = (op.group, op.name)
        if key in seen:
            raise ValueError(f"{op.operation_id} and {seen[key]} are both {op.group}.{op.name}")
        seen[key] = op.operation_id


def schema_roots(op: Operation) -> list[str]:
    """The component schemas an operation's models are generated from."""
    return [s for s in (op.body_schema, op.response_schema, op.stream_schema) if s]


__all__ = [
    "CONTROL_KWARGS",
    "FORWARD_CURSORS",
    "FormField",
    "Operation",
    "Paging",
    "Param",
    "lift_inline_schemas",
    "operations",
    "schema_roots",
]
