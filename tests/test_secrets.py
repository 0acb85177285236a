"""The API key never appears in logs, reprs or error text."""

from __future__ import annotations

import logging

import pytest

from openrouter_async import OpenRouter, RetryConfig, Session, errors
from openrouter_async.models import ChatRequest

from .conftest import API_KEY as SECRET  # the emulator accepts it, so calls succeed
from .test_session import HELLO

pytestmark = pytest.mark.anyio


async def test_key_never_in_logs_reprs_or_errors(
    emulator_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)  # every logger, ours and the libraries' underneath
    logger = logging.getLogger("test.openrouter")
    texts: list[str] = []
    async with Session(
        base_url=emulator_url,
        api_key=SECRET,
        debug_logger=logger,
        retry_config=RetryConfig("backoff", None, True, max_attempts=2),
    ) as session:
        texts.append(repr(session))
        for headers in ({"X-Emulator-Fault": "status=500"}, None):
            try:
                await session.send(ChatRequest(model="m/x", messages=HELLO), http_headers=headers)
            except errors.OpenRouterError as error:
                texts += [str(error), repr(error), error.body or "", repr(error.data)]
                assert error.headers is not None
                texts.append(str(dict(error.headers)))
    client = OpenRouter(api_key=SECRET, server_url=emulator_url)
    texts.append(repr(client))
    texts.append(caplog.text)
    assert "-> 500" in caplog.text, "the debug logger saw the exchanges"
    for text in texts:
        assert SECRET not in text


def test_urls_lose_their_userinfo_whatever_the_scheme() -> None:
    """A Redis URL's password (``redis://:pw@host``, a budget's or a batch queue's) is masked
    where URLs are shown (logs, errors, ``.request``), as an HTTP URL's userinfo is."""
    from openrouter_async._logging import redact_url

    assert redact_url("redis://:s3cret-pw@127.0.0.1:6379/0") == "redis://***@127.0.0.1:6379/0"
    assert redact_url("rediss://user:s3cret-pw@host") == "rediss://***@host"
    assert redact_url("https://u:p@openrouter.ai/api/v1") == "https://***@openrouter.ai/api/v1"
    assert redact_url("https://openrouter.ai/api/v1/keys?key=abc") == (
        "https://openrouter.ai/api/v1/keys?key=***"
    )
