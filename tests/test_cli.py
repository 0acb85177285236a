"""The main job: ``openrouter-async chat`` works with no API key, against the emulator."""

from __future__ import annotations

import pytest

from openrouter_async.cli import main


def test_chat_streams_an_answer_from_the_built_in_emulator(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.delenv("OPENROUTER_API_KEY", raising=False)
    monkeypatch.delenv("OPENROUTER_BASE_URL", raising=False)
    assert main(["chat", "Hello", "emulator"]) == 0
    out, err = capsys.readouterr()
    assert "Hello" in out
    assert "built-in emulator" in err


def test_chat_against_a_given_base_url(
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    emulator_url: str,
    api_key: str,
) -> None:
    monkeypatch.setenv("OPENROUTER_API_KEY", api_key)
    assert main(["chat", "--no-stream", "--base-url", emulator_url, "Hi"]) == 0
    assert "Hi" in capsys.readouterr().out


def test_chat_reports_errors_without_a_traceback(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], emulator_url: str
) -> None:
    monkeypatch.setenv("OPENROUTER_API_KEY", "sk-or-wrong")
    assert main(["chat", "--base-url", emulator_url, "Hi"]) == 1
    err = capsys.readouterr().err
    assert err.startswith("error: 401") and "sk-or-wrong" not in err


def test_emulator_command_has_every_option_of_the_emulator() -> None:
    """``openrouter-async emulator`` is the emulator's own command line (one set of options):
    here ``--api-key`` restricts the keys it accepts."""
    import subprocess
    import sys

    import httpx

    process = subprocess.Popen(
        [
            *(sys.executable, "-m", "openrouter_async.cli", "emulator", "--port", "0"),
            *("--api-key", "sk-or-only-this-one", "--loop", "asyncio"),
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stdout is not None
        line = process.stdout.readline()  # "OpenRouter emulator: <url> (Ctrl-C to stop)"
        url = line.split()[2]
        good = httpx.get(f"{url}/key", headers={"Authorization": "Bearer sk-or-only-this-one"})
        bad = httpx.get(f"{url}/key", headers={"Authorization": "Bearer sk-or-another"})
        assert (good.status_code, bad.status_code) == (200, 401)
    finally:
        process.terminate()
        assert process.wait(10) == 0
