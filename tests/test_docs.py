"""Every code block of the README and of docs/ runs (issue 7).

A small collector of our own (pytest-examples formats and lints; we need to *run* blocks
against the emulator and compare their output). What it does with a fenced block depends on
its language:

* ``python``: run as a whole program in a fresh interpreter, with ``OPENROUTER_API_KEY`` and
  ``OPENROUTER_BASE_URL`` pointing at the test session's emulator, so that a block written
  for the real service (``OpenRouter(api_key=os.getenv("OPENROUTER_API_KEY"))``) runs as is.
  A block that names ``REDIS_URL`` also gets it: the URL of a real redis-server of the docs'
  own (tests/_redis_server.py), started when the first such block runs.
* ``bash`` / ``console`` / ``shell``: run with bash in a scratch directory that holds a copy
  of ``examples/``, as on a fresh machine: no key, no base URL (so the CLI starts its
  built-in emulator). ``uv run X`` runs ``X`` from this project's environment.
* anything else (``text``, ``json``, ``toml``...) is data, not code, and is not run.

Markers are HTML comments on the line just above a fence, invisible on the rendered page:

* ``<!-- docs: no-run REASON -->``: the block is shown, not run (it needs the real service,
  blocks forever, or would run the test suite itself). The reason is required; the census
  test counts these.
* ``<!-- docs: output -->`` above a ``text`` block: it is the output of the runnable block
  just before it. The block's stdout must match it, where ``...`` stands for any text
  (within a line or across lines), as with doctest's ELLIPSIS.
"""

from __future__ import annotations

import dataclasses
import os
import re
import shutil
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from openrouter_async.emulator import serve_in_thread

from ._redis_server import redis_server
from .conftest import API_KEY, emulator_config_for_tests

ROOT = Path(__file__).resolve().parents[1]
PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").rglob("*.md"))]

PYTHON = {"python", "py"}
SHELL = {"bash", "console", "shell", "sh"}

_FENCE = re.compile(
    r"^(?P<marker><!-- docs: (?P<kind>no-run|output)\b(?P<reason>[^>]*)-->\n)?"
    r"(?P<indent>[ \t]*)```(?P<lang>[\w-]*)[^\n]*\n(?P<body>.*?)^(?P=indent)```[ \t]*$",
    re.MULTILINE | re.DOTALL,
)


@dataclass(frozen=True)
class Block:
    page: Path
    line: int
    lang: str
    code: str
    no_run: str | None  # the reason, when marked not to run
    expected_output: str | None

    @property
    def id(self) -> str:
        return f"{self.page.relative_to(ROOT)}:{self.line}"

    @property
    def runnable(self) -> bool:
        return self.no_run is None and self.lang in PYTHON | SHELL


def _dedent(body: str, indent: str) -> str:
    return "".join(
        line[len(indent) :] if line.startswith(indent) else line
        for line in body.splitlines(keepends=True)
    )


def collect(page: Path) -> list[Block]:
    text = page.read_text(encoding="utf-8")
    blocks: list[Block] = []
    for match in _FENCE.finditer(text):
        line = text.count("\n", 0, match.start("indent")) + 1
        lang = match["lang"].lower()
        code = _dedent(match["body"], match["indent"])
        kind = match["kind"]
        if kind == "output":
            assert blocks and blocks[-1].runnable, (
                f"{page.name}:{line}: an output block must follow a block that runs"
            )
            previous = blocks.pop()
            blocks.append(
                Block(previous.page, previous.line, previous.lang, previous.code, None, code)
            )
            continue
        reason = match["reason"].strip() if kind == "no-run" else None
        if kind == "no-run":
            assert reason, f"{page.name}:{line}: say why the block does not run"
        blocks.append(Block(page, line, lang, code, reason, None))
    return blocks


BLOCKS = [block for page in PAGES for block in collect(page)]
CODE = [block for block in BLOCKS if block.lang in PYTHON | SHELL]


def _normalised(text: str) -> str:
    return "\n".join(line.rstrip() for line in text.strip().splitlines())


def output_matches(expected: str, actual: str) -> bool:
    """doctest's ELLIPSIS, line endings and trailing blanks aside."""
    pattern = ".*?".join(re.escape(part) for part in _normalised(expected).split("..."))
    return re.fullmatch(pattern, _normalised(actual), re.DOTALL) is not None


def _shell_environment() -> dict[str, str]:
    environment = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith("OPENROUTER_") and key != "VIRTUAL_ENV"
    }
    environment["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{environment['PATH']}"
    return environment


# `uv run X` on a fresh machine runs X from the project's environment; here the test already
# runs in that environment, so `uv run` is just that (anything else of uv is not for blocks).
_UV_SHIM = """\
uv() {
    if [ "$1" = run ]; then shift; "$@"
    else echo "docs test: a block may only use 'uv run'" >&2; return 2; fi
}
"""


def needs_redis(block: Block) -> bool:
    return block.lang in PYTHON and "REDIS_URL" in block.code


def run_block(
    block: Block, emulator_url: str, workdir: Path, redis_url: str | None = None
) -> subprocess.CompletedProcess[str]:
    if block.lang in PYTHON:
        environment = {
            **os.environ,
            "OPENROUTER_API_KEY": API_KEY,
            "OPENROUTER_BASE_URL": emulator_url,
        }
        if redis_url is not None:
            environment["REDIS_URL"] = redis_url
        environment.pop("OPENROUTER_DEBUG", None)
        command = [sys.executable, "-c", block.code]
    else:
        shutil.copytree(ROOT / "examples", workdir / "examples")
        environment = _shell_environment()
        command = ["bash", "-euo", "pipefail", "-c", _UV_SHIM + block.code]
    return subprocess.run(
        command,
        cwd=workdir,
        env=environment,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


@pytest.fixture(scope="module")
def docs_emulator_url() -> Iterator[str]:
    """An emulator of the docs' own: pages change its state (the API keys example deletes a
    key), so they must not share one with the other tests, which may run first."""
    with serve_in_thread(emulator_config_for_tests()) as url:
        yield url


@pytest.fixture(scope="module")
def strict_emulator_url() -> Iterator[str]:
    """An emulator answering in the spec's shape, for the other libraries' "before" blocks:
    the official SDK refuses what real OpenRouter (and the realistic emulator) sends — a
    ``/models`` catalogue without ``links`` — which is one reason to migrate, not something
    the page can show by running it."""
    with serve_in_thread(dataclasses.replace(emulator_config_for_tests(), realistic=False)) as url:
        yield url


@pytest.fixture(scope="module")
def docs_redis_url() -> Iterator[str]:
    """A real redis-server for the blocks that name ``REDIS_URL`` (docs/fleet.md)."""
    with redis_server() as server:
        yield server.url


def is_peer_block(block: Block) -> bool:
    return bool(re.search(r"^\s*(from|import) (openrouter|openai)\b", block.code, re.M))


@pytest.mark.parametrize("block", [b for b in CODE if b.runnable], ids=lambda b: b.id)
def test_block_runs(block: Block, request: pytest.FixtureRequest, tmp_path: Path) -> None:
    name = "strict_emulator_url" if is_peer_block(block) else "docs_emulator_url"
    redis_url = request.getfixturevalue("docs_redis_url") if needs_redis(block) else None
    done = run_block(block, request.getfixturevalue(name), tmp_path, redis_url)
    assert done.returncode == 0, f"{block.id} failed:\n{done.stdout}\n{done.stderr}"
    if block.expected_output is not None:
        assert output_matches(block.expected_output, done.stdout), (
            f"{block.id}: the output differs from the page's.\n"
            f"--- page\n{block.expected_output}\n--- actual\n{done.stdout}"
        )
    assert API_KEY not in done.stdout + done.stderr


def test_census() -> None:
    """What runs and what does not; run with ``-s`` to see the figures."""
    ran = [block for block in CODE if block.runnable]
    skipped = [block for block in CODE if not block.runnable]
    print(f"\ndocs code blocks: {len(ran)} run, {len(skipped)} marked not to run")
    for block in skipped:
        print(f"  no-run {block.id}: {block.no_run}")
    assert ran, "no code block found"
    assert len(skipped) <= len(ran) // 4, "most blocks must run"


def test_output_matching() -> None:
    assert output_matches("Hello ...!\n...\nend", "Hello world!\nmore\nlines\nend\n")
    assert not output_matches("Hello ...!", "Goodbye world!")
    assert output_matches("a  \nb", "a\nb  ")
