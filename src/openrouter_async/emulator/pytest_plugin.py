"""pytest fixtures serving the OpenRouter emulator, for the tests of projects that use
openrouter-async (registered through the ``pytest11`` entry point: installing the package
is enough; ``-p no:openrouter_async_emulator`` turns it off).

Fixtures
--------
``openrouter_emulator`` (session scope)
    A running emulator (served by hypercorn from a thread of its own, so sync tests and async
    tests on asyncio or trio all reach it), an :class:`OpenRouterEmulator`:

    - ``base_url``: ``http://127.0.0.1:<port>/api/v1`` (the ``server_url`` of a client);
    - ``api_key``: a key it accepts;
    - ``app`` / ``state``: the ASGI app and its state (keys, generations, stats...; mutate
      the state only while no request is running: the emulator's loop owns it);
    - ``stats()``: the counters of ``GET /_emulator/stats``; ``reset(seed=None)``: zero
      them and re-seed the random faults;
    - ``client(**options)``: an ``openrouter_async.OpenRouter`` pointed at it.

``openrouter_emulator_url`` (session scope)
    ``openrouter_emulator.base_url``.

``openrouter_emulator_config`` (session scope)
    The :class:`~openrouter_async.emulator.EmulatorConfig` the emulator starts with
    (default: any key accepted, everything else default). Override it in a ``conftest.py``
    to seed keys, turn on rate limits or background faults::

        @pytest.fixture(scope="session")
        def openrouter_emulator_config():
            from openrouter_async.emulator import EmulatorConfig

            return EmulatorConfig(
                api_keys={"sk-or-v1-test"},
                faults="status=503;p=0.05",
                fault_seed=1234,
                rate_limit_rpm=600,
            )

The ini option ``openrouter_emulator_backend`` (``asyncio``, the default, or ``trio``)
picks the event loop of the emulator's thread.

Realistic mode
--------------
The ini option ``openrouter_emulator_realistic = true`` starts the default emulator in
realistic mode (``EmulatorConfig(realistic=True)`` in an overridden config does the same):
its answers then look like real OpenRouter's where those depart from the spec (required
fields left out, unknown ones added, whitespace before slow JSON bodies, named SSE events;
see ``openrouter_async.emulator._realistic``), so that a test suite finds out whether its
code copes with them. Either way, one request can ask for the other shape with the header
``X-Emulator-Shape: realistic`` or ``strict``, e.g.
``openrouter_emulator.client(http_headers={"X-Emulator-Shape": "strict"})``.

Example::

    def test_answer(openrouter_emulator):
        with openrouter_emulator.client() as client:
            result = client.chat.send(
                model="openai/gpt-4o-mini", messages=[{"role": "user", "content": "Hi"}]
            )
        assert result.choices[0].message.content

    def test_raw(openrouter_emulator_url):
        httpx.post(f"{openrouter_emulator_url}/chat/completions", ...)

Importing this module is cheap (pytest imports it in every run): the emulator is imported
and started only when a test asks for one of these fixtures.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING, Any, cast

import pytest

if TYPE_CHECKING:
    from openrouter_async import OpenRouter

    from ._app import EmulatorApp, EmulatorConfig, EmulatorState
    from ._server import Backend

__all__ = [
    "OpenRouterEmulator",
    "openrouter_emulator",
    "openrouter_emulator_config",
    "openrouter_emulator_url",
]

DEFAULT_API_KEY = "sk-or-v1-emulator-0000000000000000000000000000000000000000"
_BACKEND_OPTION = "openrouter_emulator_backend"
_REALISTIC_OPTION = "openrouter_emulator_realistic"


class OpenRouterEmulator:
    """A running emulator (what the ``openrouter_emulator`` fixture gives)."""

    def __init__(self, base_url: str, api_key: str, app: EmulatorApp) -> None:
        self.base_url = base_url
        self.api_key = api_key
        self.app = app

    @property
    def state(self) -> EmulatorState:
        return self.app.state

    @property
    def config(self) -> EmulatorConfig:
        return self.app.config

    def _call(self, method: str, path: str, body: Any = None) -> dict[str, Any]:
        import httpx

        response = httpx.request(method, f"{self.base_url}{path}", json=body, timeout=10)
        response.raise_for_status()
        result: dict[str, Any] = response.json()
        return result

    def stats(self) -> dict[str, Any]:
        """The counters of ``GET /_emulator/stats``."""
        return self._call("GET", "/_emulator/stats")

    def reset(self, seed: int | None = None) -> dict[str, Any]:
        """Zero the cumulative counters and re-seed the random faults (with ``seed``, else
        the config's ``fault_seed``); return the stats."""
        return self._call("POST", "/_emulator/reset", None if seed is None else {"seed": seed})

    def client(self, **options: Any) -> OpenRouter:
        """An ``OpenRouter`` client of the emulator (``with`` it, or ``async with`` it)."""
        from openrouter_async import OpenRouter

        options.setdefault("api_key", self.api_key)
        options.setdefault("server_url", self.base_url)
        return OpenRouter(**options)

    def __repr__(self) -> str:
        return f"OpenRouterEmulator(base_url={self.base_url!r})"


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addini(
        _BACKEND_OPTION,
        "event loop of the openrouter_emulator fixture's thread: asyncio (default) or trio",
        default="asyncio",
    )
    parser.addini(
        _REALISTIC_OPTION,
        "answer as real OpenRouter does where it departs from the spec (the default "
        "openrouter_emulator_config's realistic mode)",
        type="bool",
        default=False,
    )


@pytest.fixture(scope="session")
def openrouter_emulator_config(pytestconfig: pytest.Config) -> EmulatorConfig:
    """The configuration of ``openrouter_emulator`` (override it to change it)."""
    from ._app import EmulatorConfig

    return EmulatorConfig(realistic=bool(pytestconfig.getini(_REALISTIC_OPTION)))


@pytest.fixture(scope="session")
def openrouter_emulator(
    openrouter_emulator_config: EmulatorConfig, pytestconfig: pytest.Config
) -> Iterator[OpenRouterEmulator]:
    """A running OpenRouter emulator, for the whole session."""
    from ._app import EmulatorApp
    from ._server import serve_in_thread

    backend = str(pytestconfig.getini(_BACKEND_OPTION) or "asyncio").strip()
    if backend not in ("asyncio", "trio"):
        raise pytest.UsageError(f"{_BACKEND_OPTION} must be asyncio or trio, not {backend!r}")
    config = openrouter_emulator_config
    api_key = min(config.api_keys) if config.api_keys else DEFAULT_API_KEY
    app = EmulatorApp(config)
    with serve_in_thread(app=app, backend=cast("Backend", backend)) as url:
        yield OpenRouterEmulator(url, api_key, app)


@pytest.fixture(scope="session")
def openrouter_emulator_url(openrouter_emulator: OpenRouterEmulator) -> str:
    """The base URL of ``openrouter_emulator`` (``http://127.0.0.1:<port>/api/v1``)."""
    return openrouter_emulator.base_url
