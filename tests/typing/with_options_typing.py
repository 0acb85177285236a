"""User-style code with ``with_options`` views and openai's spellings: ``mypy --strict`` must
accept it (CI runs it; it is not executed)."""

from __future__ import annotations

from openrouter_async import OpenRouter, RetryConfig, Session
from openrouter_async.models import ChatRequest


def sync_views(client: OpenRouter) -> object:
    strict = client.with_options(max_retries=0, timeout=5.0)
    other = strict.with_options(http_headers={"X-Trace": "1"}, server_url="http://127.0.0.1:1")
    result = other.chat.send(model="m/x", messages=[{"role": "user", "content": "Hi"}])
    listed = client.models.list(server_url="http://127.0.0.1:2", x_open_router_categories="cli")
    print(len(listed.data or []))
    message = result.choices[0].message if result.choices else None
    return message.content if message is not None else None


async def async_views(session: Session) -> int:
    view: Session = session.with_options(retries=RetryConfig.disabled(), timeout_ms=1500)
    result = await view.send(ChatRequest(model="m/x", messages=[{"role": "user", "content": "Hi"}]))
    return len(result.choices or [])


client = OpenRouter(max_retries=2, timeout=30.0, server="production", x_open_router_title="App")
