"""The product description's examples run as written, with only the import changed.

Each example is taken from ../shared/seed (never copied into the project), its ``openrouter``
import rewritten to ``openrouter_async``, and run in a fresh interpreter with
``OPENROUTER_API_KEY`` / ``OPENROUTER_BASE_URL`` pointing at the emulator — so not one other
character of the example changes.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from .conftest import API_KEY

SEED = Path(__file__).resolve().parents[2] / "shared" / "seed" / "000_be5d7c30837a71d5.txt"

pytestmark = pytest.mark.skipif(
    not SEED.exists(), reason=f"the product description is not here ({SEED})"
)


def example(heading: str) -> str:
    """The first python block after the ``## <heading>`` line, import changed."""
    text = SEED.read_text(encoding="utf-8")
    match = re.search(
        rf"^## {re.escape(heading)}\b.*?^```python\n(.*?)^```", text, re.MULTILINE | re.DOTALL
    )
    assert match, f"example {heading!r} not found in the product description"
    code = match.group(1)
    return re.sub(r"^from openrouter(\.| )", r"from openrouter_async\1", code, flags=re.MULTILINE)


def run(code: str, emulator_url: str, **env: str) -> subprocess.CompletedProcess[str]:
    environment = {
        **os.environ,
        "OPENROUTER_API_KEY": API_KEY,
        "OPENROUTER_BASE_URL": emulator_url,
        **env,
    }
    if "OPENROUTER_DEBUG" not in env:
        environment.pop("OPENROUTER_DEBUG", None)
    return subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        timeout=60,
        env=environment,
        check=False,
    )


def test_only_the_import_line_changes() -> None:
    code = example("Chat Completions")
    assert "from openrouter_async import OpenRouter" in code
    assert "openrouter " not in code.replace("openrouter_async", "")


def test_chat_completions(emulator_url: str) -> None:
    done = run(example("Chat Completions"), emulator_url)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip(), "the example prints the answers"


def test_async_chat_completions(emulator_url: str) -> None:
    done = run(example("Async Chat Completions"), emulator_url)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip()


def test_tool_calling(emulator_url: str) -> None:
    done = run(example("Tool Calling"), emulator_url)
    assert done.returncode == 0, done.stderr
    # The emulator answers with a tool call, the example runs the tool and sends the result
    # back: the final answer is printed.
    assert done.stdout.strip()


def test_error_handling_success_path(emulator_url: str) -> None:
    done = run(example("Error Handling"), emulator_url)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip()


def test_error_handling_catches_the_typed_error(emulator_url: str) -> None:
    done = run(example("Error Handling"), emulator_url, OPENROUTER_API_KEY="sk-or-not-a-key")
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("Authentication failed: ")
    assert "sk-or-not-a-key" not in done.stdout + done.stderr


def test_debugging_logs_requests_without_the_key(emulator_url: str) -> None:
    done = run(example("Debugging"), emulator_url)
    assert done.returncode == 0, done.stderr
    logs = done.stderr
    assert re.search(r"POST \S+/chat/completions -> 200 in [\d.]+ ms", logs), logs
    assert API_KEY not in logs + done.stdout


def test_debugging_through_the_environment(emulator_url: str) -> None:
    code = (
        "from openrouter_async import OpenRouter\n"
        "import os\n"
        "with OpenRouter(api_key=os.getenv('OPENROUTER_API_KEY', '')) as client:\n"
        "    client.chat.send(model='openai/gpt-4', messages=[{'role': 'user', 'content': 'Hi'}])\n"
    )
    done = run(code, emulator_url, OPENROUTER_DEBUG="true")
    assert done.returncode == 0, done.stderr
    assert "/chat/completions -> 200" in done.stderr
    assert API_KEY not in done.stderr + done.stdout


# -- the rest of the API surface (issue 4): every other example runs against the emulator ----

SURFACE_EXAMPLES = {
    "Completions": ["Once upon"],
    "Beta Responses API": [],
    "Models": ["openai/gpt-4", "Total models available: "],
    "Embeddings": ["Embedding dimension: 1536", "Text 2: 1536 dimensions"],
    "API Keys": ["Label: ", "New key created: ", "Deleted: True"],
    "Credits": ["Total Credits: $", "Charge ID: "],
    "Generations": ["Model: ", "Finish Reason: "],
    "Providers": ["Privacy Policy: "],
    "Endpoints": ["Model: ", "ZDR-compatible endpoints: "],
    "Analytics": ["Date: 2025-01-15"],
    "Guardrails": [],
    "OAuth": ["Auth Code ID: ", "User API Key: "],
}


@pytest.mark.parametrize("heading", sorted(SURFACE_EXAMPLES))
def test_surface_example(heading: str, emulator_url: str) -> None:
    done = run(example(heading), emulator_url, OPENROUTER_BEARER=API_KEY)
    assert done.returncode == 0, done.stderr
    for expected in SURFACE_EXAMPLES[heading]:
        assert expected in done.stdout, done.stdout
    assert API_KEY not in done.stdout + done.stderr
