"""The model generator: committed output is up to date, deterministic, and generic."""

from __future__ import annotations

import copy
import functools
import itertools
import sys
import types
from pathlib import Path
from typing import Any

import pytest

from openrouter_async._convert import dumps, structure, unstructure
from openrouter_async.errors import RequestValidationError

from .spec_validation import SKIP_REASON, SPEC_AVAILABLE, SPEC_PATH

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from tools.codegen import cli, overrides  # noqa: E402
from tools.codegen.emit import HEADER, ModuleEmitter  # noqa: E402
from tools.codegen.ir import Builder, pascal, snake  # noqa: E402

needs_spec = pytest.mark.skipif(not SPEC_AVAILABLE, reason=SKIP_REASON)
PACKAGE_DIR = ROOT / "src" / "openrouter_async"


@functools.cache
def generated() -> dict[str, str]:
    return cli.generate(SPEC_PATH)


def write_all(root: Path, files: dict[str, str]) -> None:
    for name, text in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)


# -- the committed output -------------------------------------------------------------------


@needs_spec
def test_committed_models_match_the_spec(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Drift check: regenerate into a temp dir and compare with what is committed."""
    files = generated()
    write_all(tmp_path, files)
    stale = cli.differences(PACKAGE_DIR, files)
    assert not stale, (
        f"generated models out of date: {', '.join(stale)} differ from what "
        f"{SPEC_PATH.name} generates; run `uv run python -m tools.codegen`"
    )
    monkeypatch.setattr(cli, "generate", lambda *args, **kwargs: files)
    assert cli.main(["--check", "--spec", str(SPEC_PATH), "--out", str(tmp_path)]) == 0


@needs_spec
def test_check_mode_names_the_file_that_differs(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    # main() regenerates; the output is deterministic (tested below), so reuse it: a whole
    # generation takes seconds.
    monkeypatch.setattr(cli, "generate", lambda *args, **kwargs: generated())
    write_all(tmp_path, generated())
    chat = tmp_path / "models" / "_chat.py"
    chat.write_text(chat.read_text().replace("Chat completion request", "Edited by hand"))
    (tmp_path / "resources" / "_old.py").write_text(HEADER + "\n")
    assert cli.main(["--check", "--spec", str(SPEC_PATH), "--out", str(tmp_path)]) == 1
    err = capsys.readouterr().err
    assert f"out of date: {chat}" in err
    assert f"out of date: {tmp_path / 'resources' / '_old.py'}" in err
    assert "Edited by hand" in err  # a diff excerpt
    # writing mode repairs it and removes the stale generated file
    assert cli.main(["--spec", str(SPEC_PATH), "--out", str(tmp_path)]) == 0
    assert cli.differences(tmp_path, generated()) == []
    assert not (tmp_path / "resources" / "_old.py").exists()


@needs_spec
def test_generation_is_deterministic() -> None:
    first = generated()
    second = cli.generate(SPEC_PATH)
    assert first == second
    for name, text in first.items():
        assert text.startswith(HEADER + "\n"), name


def test_missing_spec_is_reported(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["--check", "--spec", str(tmp_path / "nope.yaml")]) == 2
    assert "spec not found" in capsys.readouterr().err


@needs_spec
def test_the_generator_handles_the_whole_spec() -> None:
    """Every one of the spec's schemas generates, runs, and round-trips the spec's examples."""
    schemas = cli.load_spec(SPEC_PATH)["components"]["schemas"]
    overrides.apply(schemas)
    module, builder = build_module(schemas, sorted(schemas))
    assert len(builder.classes) + len(builder.aliases) >= len(schemas)
    checked = 0
    failures = []
    for name, schema in schemas.items():
        if "example" not in schema or schema["example"] is None:
            continue
        try:
            value = structure(schema["example"], getattr(module, name))
        except RequestValidationError as error:
            failures.append(f"{name}: {error}")
            continue
        # Known spec quirk: VideoModel's own example lacks its required, nullable
        # `creativity`; absent reads as null, so it comes back as an explicit null.
        if name in builder.classes and name not in ("VideoModel", "VideoModelsListResponse"):
            assert unstructure(value) == schema["example"], name
        checked += 1
    assert checked > 700
    assert not failures, failures


# -- the generator on synthetic schemas ------------------------------------------------------

_counter = itertools.count()


def build_module(schemas: dict[str, Any], roots: list[str]) -> tuple[Any, Builder]:
    """Generate a module for ``roots`` and import it (as a throwaway models submodule)."""
    builder = Builder(schemas)
    builder.build(roots)
    source = ModuleEmitter(builder, module_doc="test").render()
    name = f"openrouter_async.models._synthetic{next(_counter)}"
    module = types.ModuleType(name)
    module.__package__ = "openrouter_async.models"
    sys.modules[name] = module
    exec(compile(source, name, "exec"), module.__dict__)
    return module, builder


SYNTHETIC: dict[str, Any] = {
    "Thing": {
        "type": "object",
        "description": 'A thing with awkward names. It has a """ and a \\ in its description.',
        "required": ["fooBar", "class"],
        "properties": {
            "fooBar": {"type": "string", "description": "camelCase on the wire"},
            "class": {"type": "integer"},
            "01ai": {"type": ["boolean", "null"]},
            "$weird-name": {"type": "string"},
            "model_extra": {"type": "string"},
            "HTTPStatus": {"type": "integer"},
            "nested": {"type": "object", "properties": {"innerValue": {"type": "number"}}},
            "shape": {"$ref": "#/components/schemas/Shape"},
            "tags": {"type": "array", "items": {"enum": ["a", "b"]}},
            "lookup": {
                "type": "object",
                "additionalProperties": {"$ref": "#/components/schemas/Blob"},
            },
        },
    },
    "Circle": {
        "type": "object",
        "required": ["kind", "radius"],
        "properties": {"kind": {"const": "circle"}, "radius": {"type": "number"}},
    },
    "Square": {
        "type": "object",
        "required": ["kind", "side"],
        "properties": {"kind": {"type": "string", "enum": ["square"]}, "side": {"type": "number"}},
    },
    "Blob": {"type": "object", "required": ["size"], "properties": {"size": {"type": "integer"}}},
    "Shape": {
        "anyOf": [
            {"$ref": "#/components/schemas/Circle"},
            {"$ref": "#/components/schemas/Square"},
            {"$ref": "#/components/schemas/Blob"},
            {"type": "string"},
            {"type": "null"},
        ]
    },
    "Merged": {
        "allOf": [
            {"$ref": "#/components/schemas/Circle"},
            {"type": "object", "properties": {"color": {"type": "string"}}, "required": ["color"]},
        ]
    },
    "SameSquare": {"allOf": [{"$ref": "#/components/schemas/Square"}, {}]},
    "ErrorData": {
        "type": "object",
        "required": ["code", "message"],
        "properties": {"code": {"type": "integer"}, "message": {"type": "string"}},
    },
}


@functools.cache
def synthetic() -> tuple[Any, Builder]:
    schemas = copy.deepcopy(SYNTHETIC)
    overrides.apply(schemas)
    return build_module(schemas, ["Thing", "Merged", "SameSquare", "ErrorData"])


@pytest.mark.parametrize(
    ("wire", "python"),
    [
        ("fooBar", "foo_bar"),
        ("class", "class_"),
        ("lambda", "lambda_"),
        ("01ai", "x_01ai"),
        ("$schema", "schema"),
        ("amazon-bedrock/claude-on-aws", "amazon_bedrock_claude_on_aws"),
        ("HTTPStatus", "http_status"),
        ("imageB64", "image_b64"),
        ("model_extra", "model_extra_"),
        ("self", "self_"),
        ("str", "str_"),
        ("already_snake", "already_snake"),
    ],
)
def test_python_safe_field_names(wire: str, python: str) -> None:
    assert snake(wire) == python
    assert python.isidentifier()


def test_pascal_names_for_inline_schemas() -> None:
    assert pascal("error") == "Error"
    assert pascal("top_logprobs") == "TopLogprobs"
    assert pascal("reasoning.summary") == "ReasoningSummary"
    assert pascal("imageUrl") == "ImageUrl"


def test_wire_names_are_mapped_both_ways() -> None:
    module, _ = synthetic()
    thing = module.Thing(foo_bar="x", class_=1, x_01ai=None, weird_name="w", model_extra_="me")
    assert unstructure(thing) == {
        "fooBar": "x",
        "class": 1,
        "01ai": None,
        "$weird-name": "w",
        "model_extra": "me",
    }
    back = structure(
        {"fooBar": "y", "class": 2, "01ai": True, "HTTPStatus": 200, "new": 1}, module.Thing
    )
    assert (back.foo_bar, back.class_, back.x_01ai, back.http_status) == ("y", 2, True, 200)
    assert back.model_extra == {"new": 1}
    assert back.new == 1
    with pytest.raises(RequestValidationError) as info:
        structure({"class": 2}, module.Thing)
    assert info.value.path == "fooBar"
    with pytest.raises(RequestValidationError) as info:
        module.Thing(foo_bar="x", class_="one")
    assert info.value.path == "class_"


def test_inline_objects_unions_and_all_of() -> None:
    module, builder = synthetic()
    assert "ThingNested" in builder.classes
    thing = module.Thing(foo_bar="x", class_=1, nested={"innerValue": 2.5})
    assert type(thing.nested).__name__ == "ThingNested"
    assert thing.nested.inner_value == 2.5
    # a union without discriminator: by the const/enum property, then by required keys
    shapes = [
        {"kind": "circle", "radius": 1},
        {"kind": "square", "side": 2},
        {"size": 3},
        "dot",
        None,
    ]
    kinds = [type(module.Thing(foo_bar="x", class_=1, shape=s).shape).__name__ for s in shapes]
    assert kinds == ["Circle", "Square", "Blob", "str", "NoneType"]
    with pytest.raises(RequestValidationError) as info:
        module.Thing(foo_bar="x", class_=1, shape=5)
    assert info.value.path == "shape"
    assert info.value.reason == "expected string or object, got integer 5"
    # allOf with properties merges into a class; allOf with a bare $ref is an alias of it
    merged = module.Merged(radius=1.0, color="red")
    assert unstructure(merged) == {"kind": "circle", "radius": 1.0, "color": "red"}
    assert module.SameSquare is module.Square
    # open enums in arrays, maps of models
    thing = module.Thing(foo_bar="x", class_=1, tags=["a", "zzz"], lookup={"k": {"size": 1}})
    assert thing.tags == ["a", "zzz"]
    assert type(thing.lookup["k"]).__name__ == "Blob"
    assert dumps(thing) == b'{"fooBar":"x","class":1,"tags":["a","zzz"],"lookup":{"k":{"size":1}}}'


def test_error_code_override_applies_to_error_objects() -> None:
    module, _ = synthetic()
    assert module.ErrorData(code="bad_thing", message="m").code == "bad_thing"
    assert module.ErrorData(code=500, message="m").code == 500
    with pytest.raises(RequestValidationError):
        module.ErrorData(code=1.5, message="m")


def test_docstrings_are_escaped() -> None:
    module, _ = synthetic()
    assert '"""' in module.Thing.__doc__
    assert "\\" in module.Thing.__doc__
