"""Command line: generate the models, or check that the committed ones are up to date."""

from __future__ import annotations

import argparse
import ast
import difflib
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import yaml

from . import ops as ops_ir
from . import overrides
from .emit import HEADER, IMPORTS_MARKER, ModuleEmitter, render_init
from .emit_ops import GroupEmitter, render_groups, render_security
from .ir import Builder, snake

ROOT = Path(__file__).resolve().parents[2]
DEFAULT_SPEC = ROOT.parent / "shared" / "openapi" / "openrouter.openapi.yaml"
DEFAULT_OUT = ROOT / "src" / "openrouter_async"

#: the chat module's root schemas (its closure is the hot path: it loads first, on its own)
CHAT_ROOTS = ("ChatRequest", "ChatResult", "ChatStreamChunk", "ChatStreamingResponse")

MODULE_DOCS = {
    "_chat": (
        "Chat completion models: the request (ChatRequest), the response (ChatResult) and the\n"
        "streamed chunks (ChatStreamChunk), with every schema they reference."
    ),
}

RESOURCES_DIR = "resources"
OVERLAY = Path(__file__).resolve().parent / "overlay.yaml"

INIT_DOC = """The API's models, generated from the OpenAPI spec.

Every class is a frozen, slotted attrs class deriving from ``Model``. Two kinds:

* Models a response can hold (``ChatResult``, ``ChatUsage``, ``ChatStreamChunk``..., and those
  a request shares with a response, such as ``ChatAssistantMessage``): every field is
  ``T | None``, so ``is not None`` is the only check a caller needs. A field the server did not
  send reads ``None``; fields the spec requires have no default. ``None`` means "not given":
  an optional field that is None is not sent.
* Request-only models (``ChatRequest``, ``ProviderPreferences``...): optional fields default
  to ``UNSET`` and are not sent; ``None`` is sent as JSON ``null`` where the spec allows it.

Responses are parsed strictly first; a body that does not match the spec is read leniently
(a missing required field reads ``None``, a value of an unexpected type is kept in
``model_extra``), and only a body that is not JSON or not an object is refused. Unknown
response fields are kept in ``model_extra``. Constructing a model accepts dicts for nested
models (and any mixture of dicts and model objects) and validates its input, raising
``RequestValidationError`` with the path of the bad field.

Names are imported on first use, so ``import openrouter_async.models`` is cheap."""


def load_spec(path: Path) -> dict[str, Any]:
    with path.open("rb") as handle:
        spec: dict[str, Any] = yaml.load(handle, Loader=yaml.CSafeLoader)
    return spec


def ruff_format(source: str) -> str:
    """Format with the project's ruff, independent of any configuration file."""
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "ruff",
            "format",
            "--isolated",
            "--line-length",
            "100",
            "--target-version",
            "py310",
            "--stdin-filename",
            "generated.py",
            "-",
        ],
        input=source.encode(),
        capture_output=True,
        check=False,
    )
    if result.returncode != 0:
        raise RuntimeError(f"ruff format failed:\n{result.stderr.decode()}")
    return result.stdout.decode()


def merge(base: Any, extra: Any) -> Any:
    """``extra`` deep-merged into ``base`` (mappings merge, anything else is replaced)."""
    if isinstance(base, dict) and isinstance(extra, dict):
        for key, value in extra.items():
            base[key] = merge(base[key], value) if key in base else value
        return base
    return extra


def load_api(spec_path: Path, *, verbose: bool = False) -> dict[str, Any]:
    """The spec as the generator sees it: overlay merged, overrides applied, inline request
    and response schemas lifted to named components."""
    spec = load_spec(spec_path)
    merge(spec, load_spec(OVERLAY))
    changes = overrides.apply(spec["components"]["schemas"])
    changes += [f"lifted inline schema {n}" for n in ops_ir.lift_inline_schemas(spec)]
    if verbose:
        for change in changes:
            print(f"override: {change}", file=sys.stderr)
    return spec


def write_merged_spec(spec_path: Path, target: Path) -> None:
    """Write the spec as the generator sees it (:func:`load_api`: the overlay's operations
    included) to ``target``, as JSON (which YAML readers read too): the spec to validate
    what the overlay adds against, e.g. with ``prism proxy`` (``--write-spec``)."""
    import json

    target.write_text(json.dumps(load_api(spec_path), ensure_ascii=False), encoding="utf-8")


def group_order(groups: set[str]) -> list[str]:
    first = [g for g in ops_ir.GROUP_ORDER if g in groups]
    return first + sorted(groups - set(first))


def generate(spec_path: Path = DEFAULT_SPEC, *, verbose: bool = False) -> dict[str, str]:
    """Every generated file's path (relative to the package) → its formatted text."""
    spec = load_api(spec_path, verbose=verbose)
    schemas = spec["components"]["schemas"]
    operations = ops_ir.operations(spec)
    groups: dict[str, list[ops_ir.Operation]] = {}
    for op in operations:
        groups.setdefault(op.group, []).append(op)
    roots: dict[str, list[str]] = {}
    for group in group_order(set(groups)):
        found: list[str] = list(CHAT_ROOTS) if group == "chat" else []
        for op in groups[group]:
            found += [r for r in ops_ir.schema_roots(op) if r not in found]
        if found:
            roots[group] = found
    builders: dict[str, Builder] = {}
    for group, group_roots in roots.items():
        builders[group] = Builder(schemas)
        builders[group].build(group_roots)
    everything = Builder(schemas)
    everything.build([r for rs in roots.values() for r in rs])
    # Classes a response can hold: "T | None" fields, parsed leniently (see emit.py). Request-
    # only classes keep UNSET: a field not given is not sent.
    response_roots = [r for r in CHAT_ROOTS if r != "ChatRequest"]
    response_roots += [s for op in operations for s in (op.response_schema, op.stream_schema) if s]
    response_style = frozenset(everything.reachable_classes(response_roots))
    plan = _plan_modules(builders)
    files: dict[str, str] = {}
    names: dict[str, list[str]] = {}
    owner: dict[str, str] = {}  # model name → module
    defined: dict[str, str] = {}  # every top-level name of a model module → module
    # Results of operations that can stream double as a one-event stream (see _model.py).
    one_event = frozenset(
        op.response_schema
        for op in operations
        if op.stream_schema and op.response_schema and op.body_kind == "json"
    )
    for module, (builder, owned, module_doc) in plan.items():
        for name in {*builder.classes, *builder.aliases} - owned:
            _same_definition(name, builder, everything)
        emitter = ModuleEmitter(
            builder,
            module_doc=module_doc,
            only=owned,
            one_event_streams=one_event,
            response_style=response_style,
        )
        text = _link_imports(emitter.render(), defined)
        for name in owned:
            owner[name] = module
        for name in _top_level_names(text):
            defined.setdefault(name, module)
        files[f"models/{module}.py"] = ruff_format(text)
        names[module] = emitter.public_names()
        if verbose:
            print(f"{module}: {len(owned)} classes and aliases", file=sys.stderr)
    _check_acyclic(files)
    files["models/__init__.py"] = ruff_format(render_init(names, INIT_DOC))
    for group, group_ops in groups.items():
        emitter_ops = GroupEmitter(group, group_ops, everything, owner, _tag_doc(spec, group_ops))
        files[f"{RESOURCES_DIR}/_{group}.py"] = ruff_format(emitter_ops.render())
    files["_groups.py"] = ruff_format(render_groups(groups, ops_ir.GROUP_ALIASES))
    files["operations.py"] = ruff_format(render_security(operations))
    return files


def _plan_modules(builders: dict[str, Builder]) -> dict[str, tuple[Builder, set[str], str]]:
    """Which module defines each schema, so that a group loads little beyond its own models.

    * ``_chat``: the whole closure of chat (the hot path loads one module);
    * ``_<group>``: the schemas only that group uses;
    * ``_shared_<principal>``: the schemas used by the same several groups (one module per set
      of groups), named after the set's principal schema (:func:`principal`) in snake_case:
      ``_shared_responses_request`` holds ``ResponsesRequest`` and the schemas of its closure
      that ``presets`` and ``responses`` both use.

    A schema's dependencies are used by every group that uses it, so by a superset of its
    groups: modules are written in order of decreasing set size, and each imports only from
    modules written before it (never a cycle; :func:`_check_acyclic` verifies).
    """
    chat = builders.get("chat")
    chat_names = {*chat.classes, *chat.aliases} if chat is not None else set()
    users: dict[str, set[str]] = {}
    for group, builder in builders.items():
        if group == "chat":
            continue
        for name in {*builder.classes, *builder.aliases} - chat_names:
            users.setdefault(name, set()).add(group)
    by_users: dict[frozenset[str], set[str]] = {}
    for name, groups in users.items():
        by_users.setdefault(frozenset(groups), set()).add(name)
    plan: dict[str, tuple[Builder, set[str], str]] = {}
    if chat is not None:
        plan["_chat"] = (chat, chat_names, MODULE_DOCS["_chat"])
    ordered = sorted(by_users.items(), key=lambda kv: (-len(kv[0]), sorted(kv[0])))
    for groups, owned in ordered:
        if len(groups) == 1:
            (group,) = groups
            doc = f"Models of the ``{group}`` operations (and the schemas only they use)."
            _add_module(plan, f"_{group}", (builders[group], owned, doc))
            continue
        # Every group of the set has these schemas in its closure: any of their builders
        # knows them (and names their inline parts the same way; checked in generate()).
        shared = builders[min(groups)]
        head = principal(shared, owned)
        listed = ", ".join(f"``{g}``" for g in sorted(groups))
        doc = (
            f"The models the {listed} operations share (and no other group uses),\n"
            f"named after ``{head}``, the one that reaches most of the others.\n"
            "The groups' modules import them from here."
        )
        if len(owned) == 1:
            doc = (
                f"``{head}``, used by the {listed} operations (and no other group).\n"
                "The groups' modules import it from here."
            )
        _add_module(plan, f"_shared_{snake(head)}", (shared, owned, doc))
    return plan


def _add_module(
    plan: dict[str, tuple[Builder, set[str], str]],
    module: str,
    entry: tuple[Builder, set[str], str],
) -> None:
    if module in plan:
        raise RuntimeError(f"two model modules would be named models/{module}.py")
    plan[module] = entry


def principal(builder: Builder, names: set[str]) -> str:
    """The schema of ``names`` that reaches the most of the others (through field types,
    alias targets, arrays, maps, unions); ties go to the alphabetically first. For a module of
    one request's closure, that request."""

    def reach(name: str) -> int:
        seen = {name}
        stack = [name]
        while stack:
            for dep in builder.direct_dependencies(stack.pop()):
                if dep in names and dep not in seen:
                    seen.add(dep)
                    stack.append(dep)
        return len(seen)

    return min(names, key=lambda n: (-reach(n), n))


def _check_acyclic(files: dict[str, str]) -> None:
    """No model module imports, directly or not, from itself."""
    edges: dict[str, set[str]] = {}
    for path, text in files.items():
        if path.startswith("models/_"):
            module = path[len("models/") : -len(".py")]
            edges[module] = set(re.findall(r"^from \.(_\w+) import", text, re.MULTILINE))
    state: dict[str, int] = {}

    def visit(module: str, trail: list[str]) -> None:
        if state.get(module) == 2:
            return
        if state.get(module) == 1:
            raise RuntimeError(f"model modules import in a cycle: {' -> '.join(trail)}")
        state[module] = 1
        for other in sorted(edges.get(module, ())):
            visit(other, [*trail, other])
        state[module] = 2

    for module in sorted(edges):
        visit(module, [module])


def _tag_doc(spec: dict[str, Any], ops: list[ops_ir.Operation]) -> str | None:
    tag_docs = {t["name"]: t.get("description") for t in spec.get("tags", []) if "name" in t}
    for op in ops:
        raw = spec["paths"][op.path][op.method.lower()]
        for tag in raw.get("tags", []):
            if tag_docs.get(tag):
                return str(tag_docs[tag])
    return None


def _same_definition(name: str, builder: Builder, everything: Builder) -> None:
    """A schema imported from an earlier module must be the same class there and here."""
    mine = builder.classes.get(name) or builder.aliases.get(name)
    theirs = everything.classes.get(name) or everything.aliases.get(name)
    if mine != theirs:
        raise RuntimeError(f"{name} is generated differently in two modules")


def _top_level_names(text: str) -> list[str]:
    tree = ast.parse(text)
    out: list[str] = []
    for node in tree.body:
        if isinstance(node, (ast.FunctionDef, ast.ClassDef)):
            out.append(node.name)
        elif isinstance(node, (ast.Assign, ast.AnnAssign)):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            for target in targets:
                for sub in ast.walk(target):
                    if isinstance(sub, ast.Name):
                        out.append(sub.id)
    return out


def _link_imports(text: str, defined: dict[str, str]) -> str:
    """Import, from the module that defines it, each name ``text`` uses but does not define."""
    local = set(_top_level_names(text))
    tree = ast.parse(text)
    for node in ast.walk(tree):
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            local.update((a.asname or a.name).split(".")[0] for a in node.names)
    wanted: dict[str, set[str]] = {}
    for node in ast.walk(tree):
        if isinstance(node, ast.Name) and node.id not in local and node.id in defined:
            wanted.setdefault(defined[node.id], set()).add(node.id)
    lines = [
        f"from .{module} import {', '.join(sorted(names))}"
        for module, names in sorted(wanted.items())
    ]
    if not lines:
        return text.replace(IMPORTS_MARKER + "\n", "", 1)
    return text.replace(IMPORTS_MARKER, "\n".join(lines), 1)


def stale(out_dir: Path, files: dict[str, str]) -> list[str]:
    """Generated files in ``out_dir`` that the generator no longer writes."""
    found = []
    for pattern in ("*.py", "models/*.py", f"{RESOURCES_DIR}/*.py"):
        for path in sorted(out_dir.glob(pattern)):
            name = path.relative_to(out_dir).as_posix()
            if name not in files and path.read_text().startswith(HEADER):
                found.append(name)
    return found


def differences(out_dir: Path, files: dict[str, str]) -> list[str]:
    """The files of ``out_dir`` that differ from ``files`` (missing or stale ones included)."""
    out = []
    for name, text in sorted(files.items()):
        path = out_dir / name
        if not path.exists() or path.read_text() != text:
            out.append(name)
    return out + stale(out_dir, files)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m tools.codegen", description="Generate the models from the OpenAPI spec."
    )
    parser.add_argument("--spec", type=Path, default=DEFAULT_SPEC, help="the OpenAPI YAML file")
    parser.add_argument(
        "--out", type=Path, default=DEFAULT_OUT, help="the package dir (src/openrouter_async)"
    )
    parser.add_argument(
        "--check",
        action="store_true",
        help="write nothing; exit 1 naming each file that differs from what the spec generates",
    )
    parser.add_argument(
        "--write-spec",
        type=Path,
        metavar="PATH",
        help="write the spec with the overlay merged (JSON) to PATH, and nothing else",
    )
    parser.add_argument("--verbose", "-v", action="store_true")
    args = parser.parse_args(argv)
    if not args.spec.exists():
        print(f"spec not found: {args.spec}", file=sys.stderr)
        return 2
    if args.write_spec is not None:
        write_merged_spec(args.spec, args.write_spec)
        print(f"wrote {args.write_spec}", file=sys.stderr)
        return 0
    files = generate(args.spec, verbose=args.verbose)
    out_dir: Path = args.out
    if args.check:
        differ = differences(out_dir, files)
        for name in differ:
            path = out_dir / name
            print(f"out of date: {path}", file=sys.stderr)
            if path.exists() and name in files:
                diff = difflib.unified_diff(
                    path.read_text().splitlines(),
                    files[name].splitlines(),
                    f"{path} (committed)",
                    f"{path} (generated)",
                    lineterm="",
                    n=1,
                )
                for line in list(diff)[:40]:
                    print(f"  {line}", file=sys.stderr)
        if differ:
            print("run: uv run python -m tools.codegen", file=sys.stderr)
            return 1
        return 0
    out_dir.mkdir(parents=True, exist_ok=True)
    for name, text in files.items():
        path = out_dir / name
        if not path.exists() or path.read_text() != text:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text)
            print(f"wrote {path}", file=sys.stderr)
    for name in stale(out_dir, files):
        (out_dir / name).unlink()
        print(f"removed {out_dir / name}", file=sys.stderr)
    return 0
