"""Command line: generate the models, or check that the committed ones are up to date."""

from __future__ import annotations

import argparse
import difflib
import subprocess
import sys
from pathlib import Path
from typing import Any

import yaml

from . import overrides
from .emit import HEADER, ModuleEmitter, render_init
from .ir import Builder

ROOT = Path(__file__).resolve().parents[2]
DEFAULT_SPEC = ROOT.parent / "shared" / "openapi" / "openrouter.openapi.yaml"
DEFAULT_OUT = ROOT / "src" / "openrouter_async" / "models"

#: generated module → the root schemas whose closure it holds
MODULES: dict[str, tuple[str, ...]] = {
    "_chat": ("ChatRequest", "ChatResult", "ChatStreamChunk", "ChatStreamingResponse"),
}

MODULE_DOCS = {
    "_chat": (
        "Chat completion models: the request (ChatRequest), the response (ChatResult) and the\n"
        "streamed chunks (ChatStreamChunk), with every schema they reference."
    ),
}

INIT_DOC = """The API's models, generated from the OpenAPI spec.

Every class is a frozen, slotted attrs class deriving from ``Model``. Optional fields default
to ``UNSET`` and are not sent; ``None`` is sent as JSON ``null`` where the spec allows it.
Unknown response fields are kept in ``model_extra``. Constructing a model accepts dicts for
nested models (and any mixture of dicts and model objects) and validates its input, raising
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


def generate(spec_path: Path = DEFAULT_SPEC, *, verbose: bool = False) -> dict[str, str]:
    """Every generated file's name → its formatted text."""
    spec = load_spec(spec_path)
    schemas = spec["components"]["schemas"]
    changes = overrides.apply(schemas)
    if verbose:
        for change in changes:
            print(f"override: {change}", file=sys.stderr)
    files: dict[str, str] = {}
    names: dict[str, list[str]] = {}
    for module, roots in MODULES.items():
        builder = Builder(schemas)
        builder.build(roots)
        emitter = ModuleEmitter(builder, module_doc=MODULE_DOCS.get(module, module))
        files[f"{module}.py"] = ruff_format(emitter.render())
        names[module] = emitter.public_names()
        if verbose:
            print(
                f"{module}: {len(builder.classes)} classes, {len(builder.aliases)} aliases",
                file=sys.stderr,
            )
    files["__init__.py"] = ruff_format(render_init(names, INIT_DOC))
    return files


def stale(out_dir: Path, files: dict[str, str]) -> list[str]:
    """Generated files in ``out_dir`` that the generator no longer writes."""
    found = []
    for path in sorted(out_dir.glob("*.py")):
        if path.name not in files and path.read_text().startswith(HEADER):
            found.append(path.name)
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
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help="the models package dir")
    parser.add_argument(
        "--check",
        action="store_true",
        help="write nothing; exit 1 naming each file that differs from what the spec generates",
    )
    parser.add_argument("--verbose", "-v", action="store_true")
    args = parser.parse_args(argv)
    if not args.spec.exists():
        print(f"spec not found: {args.spec}", file=sys.stderr)
        return 2
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
            path.write_text(text)
            print(f"wrote {path}", file=sys.stderr)
    for name in stale(out_dir, files):
        (out_dir / name).unlink()
        print(f"removed {out_dir / name}", file=sys.stderr)
    return 0
