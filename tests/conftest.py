"""Shared fixtures.

Every async test runs on asyncio and on trio (anyio's pytest plugin, ``anyio_backend``).
One emulator serves the whole test session over loopback HTTP from a thread of its own, so
tests on either backend talk to the same real server. When the official spec is present,
the emulator validates every request body the SDK sends against it and answers 400 on a
violation, so every test doubles as a conformance check of what we send.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from openrouter_async.emulator import EmulatorConfig, serve_in_thread

SPEC_PATH = Path(__file__).resolve().parents[2] / "shared" / "openapi" / "openrouter.openapi.yaml"
API_KEY = "sk-or-v1-test-0123456789abcdef0123456789abcdef"


@pytest.fixture(params=["asyncio", "trio"])
def anyio_backend(request: pytest.FixtureRequest) -> str:
    return str(request.param)


def emulator_config_for_tests() -> EmulatorConfig:
    """The tests' emulator: our key, every request validated against the spec (when the
    spec is here), and answers in realistic mode (shaped as real OpenRouter's, which depart
    from the spec: the client must cope; ``X-Emulator-Shape: strict`` asks one request for
    the spec's shape)."""
    return EmulatorConfig(
        api_keys={API_KEY},
        validate_requests=SPEC_PATH.exists(),
        spec_path=SPEC_PATH if SPEC_PATH.exists() else None,
        realistic=True,
    )


@pytest.fixture(scope="session")
def emulator_url() -> Iterator[str]:
    with serve_in_thread(emulator_config_for_tests()) as url:
        yield url


class EmulatorProbe:
    """Reads the emulator's counters (a plain HTTP client, outside the SDK under test)."""

    def __init__(self, base_url: str) -> None:
        self.base_url = base_url
        self._lock = threading.Lock()

    def stats(self) -> dict[str, Any]:
        response = httpx.get(f"{self.base_url}/_emulator/stats", timeout=5)
        response.raise_for_status()
        result: dict[str, Any] = response.json()
        return result


@pytest.fixture
def emulator(emulator_url: str) -> EmulatorProbe:
    return EmulatorProbe(emulator_url)


@pytest.fixture
def api_key() -> str:
    return API_KEY


@pytest.fixture(scope="session")
def prism_url() -> Iterator[str]:
    """Base URL of Stoplight Prism mocking the official spec (paths without ``/api/v1``).

    Started once per session; skips (with the reason) where node/npm or the spec is missing.
    """
    from ._prism import prism_server  # here, not at the top: this fixture was appended

    with prism_server() as url:
        yield url
