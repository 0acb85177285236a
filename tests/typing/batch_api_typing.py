"""The Batch API as user code writes it, on the Session and on the facade (sync and ``_async``).

Not a test that runs: ``uv run mypy --strict tests/typing/batch_api_typing.py`` checks it.
Each ``_: T = expr`` line pins the type an expression has; the ``# type: ignore[...]`` lines
pin errors (``--strict`` reports an ignore that is not needed). Response fields are ``T |
None`` (the package's rule for results), hence the ``is not None`` checks before an id is
passed on.
"""

from __future__ import annotations

from openrouter_async import OpenRouter, Session
from openrouter_async._webhooks import verify_webhook
from openrouter_async.models import (
    BatchDeletedObject,
    BatchListResponse,
    BatchObject,
    BatchRequestItem,
    BatchResult,
    ChatResult,
    CreateEmbeddingsResponse,
    MessagesResult,
    OpenResponsesResult,
)
from openrouter_async.resources._batch import AsyncBatch, AsyncBatchListPage, Batch, BatchListPage

REQUESTS = [{"custom_id": "a", "body": {"messages": [{"role": "user", "content": "Hi"}]}}]


async def on_a_session(session: Session) -> None:
    batch: AsyncBatch = session.batch
    created: BatchObject = await batch.create_batches(
        endpoint="/v1/chat/completions",
        model="openai/gpt-4o-mini",
        requests=REQUESTS,
        provider={"only": ["openai"], "allow_fallbacks": False},
        callback_url="https://example.com/hooks/openrouter",
    )
    # Models and dicts mix; the endpoint is one of the documented ones, or any string.
    await batch.create_batches(
        endpoint="/v1/future",
        model="m",
        requests=[BatchRequestItem(custom_id="b", body={"input": "x"})],
    )
    status: str | None = created.status
    counts = created.request_counts
    total: int | None = counts.total if counts is not None else None
    print(status, total)
    batch_id = created.id
    assert batch_id is not None

    polled = await batch.get_batches(id=batch_id)
    results: list[BatchResult] | None = polled.results
    for result in results or []:
        custom_id: str | None = result.custom_id
        if result.response is not None:
            body: (
                ChatResult | OpenResponsesResult | MessagesResult | CreateEmbeddingsResponse | None
            ) = result.response.body
            if isinstance(body, ChatResult) and body.choices:
                print(custom_id, body.choices[0].message)
        elif result.error is not None:
            message: str | None = result.error.message
            print(custom_id, message)
    cost: float | None = polled.usage.cost if polled.usage is not None else None
    print(cost)

    page: AsyncBatchListPage = await batch.list(limit=10, status=["completed"])
    still_the_result: BatchListResponse = page
    following: AsyncBatchListPage | None = await page.next()
    print(still_the_result.last_id, following)
    async for item in batch.list(after="batch_abc"):
        listed: BatchObject = item
        print(listed.id)

    deleted: BatchDeletedObject = await batch.delete(id=batch_id)
    print(deleted.deletion)

    await batch.create_batches(endpoint="/v1/embeddings", model="m")  # type: ignore[call-arg]
    await batch.get_batches(batch_id="x")  # type: ignore[call-arg]


def on_the_facade(client: OpenRouter) -> None:
    batch: Batch = client.batch
    created: BatchObject = batch.create_batches(
        endpoint="/v1/embeddings", model="openai/text-embedding-3-small", requests=REQUESTS
    )
    page: BatchListPage = batch.list(limit=5)
    for item in page:
        listed: BatchObject = item
        print(listed.status)
    nxt: BatchListPage | None = page.next()
    if created.id is not None:
        print(nxt, batch.get_batches(id=created.id).status, batch.delete(id=created.id).id)


async def on_the_facade_async(client: OpenRouter) -> None:
    batch: Batch = client.batch
    created: BatchObject = await batch.create_batches_async(
        endpoint="/v1/messages", model="anthropic/claude-3.5-sonnet", requests=REQUESTS
    )
    assert created.id is not None
    again: BatchObject = await batch.get_batches_async(id=created.id)
    async for item in batch.list_async():
        listed: BatchObject = item
        print(listed.id, again.id)
    deleted: BatchDeletedObject = await batch.delete_async(id=created.id)
    print(deleted.id)


def a_webhook(raw: bytes, headers: dict[str, str]) -> None:
    event: dict[str, object] = verify_webhook(raw, headers, secret="s")
    print(event["type"])
    verify_webhook(raw, headers)  # type: ignore[call-arg]
