"""The emulator's fast path for short answers: no disconnect watcher, and the response
written to the socket at once; requests that may wait still end when the client leaves."""

from __future__ import annotations

import time

import httpx
import pytest

from openrouter_async.emulator import serve_in_thread

AUTH = {"Authorization": "Bearer test-key"}
USER = [{"role": "user", "content": "Hi"}]


@pytest.mark.parametrize("backend", ["asyncio", "trio"])
def test_keep_alive_answers_in_a_row(backend: str) -> None:
    # One connection, many short answers (each written at once) and a stream in between.
    with (
        serve_in_thread(backend=backend) as url,  # type: ignore[arg-type]
        httpx.Client(base_url=url, headers=AUTH, timeout=5) as client,
    ):
        for index in range(200):
            response = client.post("/chat/completions", json={"model": "m", "messages": USER})
            assert response.status_code == 200
            assert response.json()["choices"][0]["message"]["content"]
            if index % 50 == 0:
                streamed = client.post(
                    "/chat/completions", json={"model": "m", "messages": USER, "stream": True}
                )
                assert streamed.text.endswith("data: [DONE]\n\n")
            assert client.get("/_emulator/stats").status_code == 200
        missing = client.get("/nowhere")
        assert missing.status_code == 404


@pytest.mark.parametrize("backend", ["asyncio", "trio"])
def test_client_leaving_during_a_delay_ends_the_handler(backend: str) -> None:
    with (
        serve_in_thread(backend=backend) as url,  # type: ignore[arg-type]
        httpx.Client(base_url=url, headers=AUTH) as watcher,
    ):
        with pytest.raises(httpx.ReadTimeout):
            httpx.post(
                f"{url}/chat/completions",
                json={"model": "m", "messages": USER},
                headers={**AUTH, "X-Emulator-Fault": "delay-ms=30000"},
                timeout=0.3,
            )
        deadline = time.monotonic() + 2
        while watcher.get("/_emulator/stats").json()["active_requests"]:
            assert time.monotonic() < deadline, "the handler went on after the client left"
            time.sleep(0.02)
