"""The pytest plugin (``openrouter_async.emulator.pytest_plugin``): registered through the
``pytest11`` entry point, cheap to import, and usable by another project's tests (run here
in a separate pytest process on a small temporary project)."""

from __future__ import annotations

import subprocess
import sys
from importlib.metadata import entry_points

import httpx
import pytest

pytest_plugins = ["pytester"]

PLUGIN = "openrouter_async.emulator.pytest_plugin"


def test_registered_as_a_pytest_plugin() -> None:
    found = [ep for ep in entry_points(group="pytest11") if ep.value == PLUGIN]
    assert [ep.name for ep in found] == ["openrouter_async_emulator"]


def test_importing_the_plugin_is_cheap() -> None:
    heavy = ["anyio", "httpx", "hypercorn", "orjson", "openrouter_async.emulator._app"]
    code = f"import sys, {PLUGIN}; print([m for m in {heavy!r} if m in sys.modules])"
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60
    )
    assert result.stdout.strip() == "[]"


def test_plugin_fixtures_live_beside_ours(openrouter_emulator_url: str, emulator_url: str) -> None:
    # Our conftest's emulator and the plugin's are two servers, with fixtures that do not clash.
    assert openrouter_emulator_url != emulator_url
    response = httpx.post(
        f"{openrouter_emulator_url}/chat/completions",
        json={"model": "openai/gpt-4o", "messages": [{"role": "user", "content": "Hi"}]},
        headers={"Authorization": "Bearer anything"},
    )
    assert response.status_code == 200


PROJECT_TESTS = """
import httpx
import pytest

USER = [{"role": "user", "content": "Hello there"}]


def test_url_and_key(openrouter_emulator, openrouter_emulator_url):
    assert openrouter_emulator_url == openrouter_emulator.base_url
    assert openrouter_emulator.api_key == "sk-or-v1-project"
    response = httpx.post(
        f"{openrouter_emulator_url}/chat/completions",
        json={"model": "openai/gpt-4o-mini", "messages": USER},
        headers={"Authorization": f"Bearer {openrouter_emulator.api_key}"},
    )
    assert response.status_code == 200
    assert response.headers["x-ratelimit-limit"] == "1000"
    denied = httpx.post(
        f"{openrouter_emulator_url}/chat/completions",
        json={"model": "openai/gpt-4o-mini", "messages": USER},
        headers={"Authorization": "Bearer sk-or-v1-not-ours"},
    )
    assert denied.status_code == 401


def test_sync_client_stats_and_reset(openrouter_emulator):
    openrouter_emulator.reset()
    with openrouter_emulator.client() as client:
        result = client.chat.send(model="openai/gpt-4o-mini", messages=USER)
    assert result.choices[0].message.content.startswith("Hello")
    assert openrouter_emulator.stats()["requests"] == 1
    assert openrouter_emulator.reset()["requests"] == 0
    assert openrouter_emulator.state.stats.requests == 0
    assert openrouter_emulator.config.rate_limit_rpm == 1000


@pytest.fixture(params=["asyncio", "trio"])
def anyio_backend(request):
    return request.param


@pytest.mark.anyio
async def test_async(openrouter_emulator, anyio_backend):
    async with httpx.AsyncClient(
        base_url=openrouter_emulator.base_url,
        headers={"Authorization": f"Bearer {openrouter_emulator.api_key}"},
    ) as client:
        response = await client.post(
            "/chat/completions",
            json={"model": "openai/gpt-4o-mini", "messages": USER, "stream": True},
        )
    assert response.status_code == 200 and response.text.endswith("data: [DONE]\\n\\n")
"""

PROJECT_CONFTEST = """
import pytest

from openrouter_async.emulator import EmulatorConfig


@pytest.fixture(scope="session")
def openrouter_emulator_config():
    return EmulatorConfig(api_keys={"sk-or-v1-project"}, rate_limit_rpm=1000)
"""


def test_a_project_uses_the_fixtures(pytester: pytest.Pytester) -> None:
    # In process (a pytest run inside this one), with the plugins installed entry points
    # load: as in a project that installs openrouter-async.
    pytester.makeini("[pytest]\nopenrouter_emulator_backend = trio\n")
    pytester.makeconftest(PROJECT_CONFTEST)
    pytester.makepyfile(test_project=PROJECT_TESTS)
    result = pytester.runpytest("-p", "no:cacheprovider")
    result.assert_outcomes(passed=4)


def test_a_bad_backend_is_a_usage_error(pytester: pytest.Pytester) -> None:
    pytester.makeini("[pytest]\nopenrouter_emulator_backend = curio\n")
    pytester.makepyfile("def test_it(openrouter_emulator):\n    pass\n")
    result = pytester.runpytest("-p", "no:cacheprovider")
    result.assert_outcomes(errors=1)
    result.stdout.fnmatch_lines(["*openrouter_emulator_backend must be asyncio or trio*"])
