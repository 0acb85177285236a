"""The layers of the client, checked on its import graph: the hand-written core below, the
generated code on top of it, the Session and the facade above both — never the reverse.

Every import counts: at module level, inside functions (lazy), and under ``TYPE_CHECKING``
(a type-only import is still a dependency a reader follows, and a cycle through it is still a
cycle). The graph is read from the source with ``ast``, nothing is imported. The emulator is a
program of its own on top of everything (its package is split out in a later issue) and is left
out.
"""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1] / "src" / "openrouter_async"

#: Layer of each hand-written module, lowest first. Generated modules (models/, resources/,
#: _groups.py, operations.py) are layer 2.
CORE = 0  # the exchange and everything it is built from
OPERATIONS = 1  # what generated operations run on
GENERATED = 2
TOP = 3  # the Session, the facade, fan-out, batch jobs, the CLI: they compose the layers below

HAND_WRITTEN = {
    "_exchange": CORE,
    "_options": CORE,
    "_config": CORE,
    "_retry": CORE,
    "_limiter": CORE,
    "_budget": CORE,
    "_budget_gate": CORE,
    "_budget_scripts": CORE,
    "_webhooks": CORE,
    "_streams": CORE,
    "_sse": CORE,
    "_decode": CORE,
    "_events": CORE,
    "_binary": CORE,
    "_redirects": CORE,
    "_proxies": CORE,
    "_tls": CORE,
    "_headers": CORE,
    "_redaction": CORE,
    "_logging": CORE,
    "_transport_errors": CORE,
    "_transports": CORE,
    "errors": CORE,
    "_convert": CORE,
    "_lenient": CORE,
    "_model": CORE,
    "_json_schema": CORE,
    "_unset": CORE,
    "_version": CORE,
    "_portal": CORE,
    "_operations": OPERATIONS,
    "_attach": OPERATIONS,
    "_raw": OPERATIONS,
    "_pages": OPERATIONS,
    "_session": TOP,
    "_client": TOP,
    "_chat": TOP,
    "_chat_group": TOP,
    "_parse": TOP,
    "_tools": TOP,
    "_accumulate": TOP,
    "_map": TOP,
    "_batch": TOP,
    "_batch_input": TOP,
    "_batch_provenance": TOP,
    "_batch_progress": TOP,
    "_batch_route": TOP,
    "_batch_queue": TOP,
    "_batch_workers": TOP,
    "cli": TOP,
    "__init__": TOP,
    "__main__": TOP,
}
GENERATED_ROOTS = {"models", "resources", "_groups", "operations"}


def module_name(path: Path) -> str:
    parts = list(path.relative_to(PACKAGE).with_suffix("").parts)
    if parts[-1] == "__init__" and len(parts) > 1:
        parts.pop()
    return ".".join(parts)


def layer(module: str) -> int:
    root = module.split(".")[0]
    if root in GENERATED_ROOTS:
        return GENERATED
    return HAND_WRITTEN[root]


def imports_of(path: Path) -> set[str]:
    """The package's modules ``path`` imports, in whatever way (see the module docstring)."""
    this = module_name(path).split(".")
    package = this if path.name == "__init__.py" else this[:-1]
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom):
            if node.level:
                base = package[: len(package) - (node.level - 1)] if node.level > 1 else package
                target = [*base, *(node.module.split(".") if node.module else [])]
            elif node.module and node.module.startswith("openrouter_async"):
                target = node.module.split(".")[1:]
            else:
                continue
            for alias in node.names:  # `from . import _convert` imports a module
                candidate = [*target, alias.name]
                if (PACKAGE.joinpath(*candidate).with_suffix(".py")).exists() or (
                    PACKAGE.joinpath(*candidate).is_dir()
                ):
                    found.add(".".join(candidate))
                elif target:
                    found.add(".".join(target))
        elif isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name.startswith("openrouter_async."):
                    found.add(alias.name.split(".", 1)[1])
    return {name for name in found if name and not name.startswith("emulator")}


def graph() -> dict[str, set[str]]:
    edges: dict[str, set[str]] = {}
    for path in PACKAGE.rglob("*.py"):
        name = module_name(path)
        if name.startswith("emulator"):
            continue
        edges[name] = imports_of(path) - {name}
    return edges


def test_every_hand_written_module_has_a_layer() -> None:
    """A new module must say where it belongs (add it to HAND_WRITTEN above)."""
    for name in graph():
        root = name.split(".")[0]
        assert root in GENERATED_ROOTS or root in HAND_WRITTEN, name


def test_no_module_imports_a_layer_above_its_own() -> None:
    upward = sorted(
        f"{name} (layer {layer(name)}) imports {target} (layer {layer(target)})"
        for name, targets in graph().items()
        for target in targets
        if layer(target) > layer(name)
    )
    assert upward == []


def test_no_import_cycle_crosses_a_layer() -> None:
    """Cycles inside one layer may exist (a lazy import between two core modules); one that
    joins the core, the generated code and the Session would make neither readable alone."""
    edges = graph()
    for component in strongly_connected(edges):
        layers = {layer(name) for name in component}
        assert len(layers) == 1, sorted(component)


def test_the_core_never_names_the_session_the_facade_or_generated_code() -> None:
    for name, targets in graph().items():
        if layer(name) == CORE:
            assert not {t for t in targets if layer(t) != CORE}, name


def strongly_connected(edges: dict[str, set[str]]) -> list[set[str]]:
    """Tarjan's algorithm, iteratively (the graph has a few hundred modules)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    on_stack: set[str] = set()
    stack: list[str] = []
    components: list[set[str]] = []
    counter = 0
    for start in edges:
        if start in index:
            continue
        work = [(start, iter(sorted(edges.get(start, ()))))]
        index[start] = low[start] = counter
        counter += 1
        stack.append(start)
        on_stack.add(start)
        while work:
            node, children = work[-1]
            advanced = False
            for child in children:
                if child not in edges:
                    continue
                if child not in index:
                    index[child] = low[child] = counter
                    counter += 1
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(edges[child]))))
                    advanced = True
                    break
                if child in on_stack:
                    low[node] = min(low[node], index[child])
            if advanced:
                continue
            work.pop()
            if work:
                parent = work[-1][0]
                low[parent] = min(low[parent], low[node])
            if low[node] == index[node]:
                component = set()
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    component.add(member)
                    if member == node:
                        break
                if len(component) > 1:
                    components.append(component)
    return components


def test_the_session_and_the_facade_attach_every_generated_group() -> None:
    """Their group declarations (by composition, ``_attach.Group``) match what the generator
    wrote into ``_groups.py``: a group added to the spec fails here until it is declared."""
    from openrouter_async import OpenRouter, Session
    from openrouter_async._attach import Group
    from openrouter_async._groups import CLIENT_GROUPS, SESSION_GROUPS

    for owner, table in ((Session, SESSION_GROUPS), (OpenRouter, CLIENT_GROUPS)):
        declared = {name for name, value in vars(owner).items() if isinstance(value, Group)}
        assert declared == set(table), owner.__name__
        assert not [base for base in owner.__mro__ if base.__module__.endswith("_groups")]
