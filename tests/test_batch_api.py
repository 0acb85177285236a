"""OpenRouter's Batch API (issue 16, points 1 and 2): the generated ``batch`` group (``list``,
``create_batches``, ``get_batches``, ``delete``, as the official SDK names them) against the
emulator, which serves batches with its live routes' handlers; webhook verification.

Against an emulator of this module's own, fast enough that a batch goes ``validating`` →
``in_progress`` → ``completed`` within a second. The body's key order is read on the wire
(``_loopback_server``'s ``/echo``). Async tests run on asyncio and trio; the facade from a plain
thread and from inside a running asyncio loop.
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
import math
import threading
import time
from collections.abc import Iterator
from typing import Any

import anyio
import httpx
import pytest

from openrouter_async import OpenRouter, RetryConfig, Session, errors
from openrouter_async._webhooks import (
    SIGNATURE_HEADER,
    WebhookVerificationError,
    verify_webhook,
    webhook_signature,
)
from openrouter_async.emulator import EmulatorConfig, serve_in_thread
from openrouter_async.models import (
    BatchDeletedObject,
    BatchObject,
    ChatResult,
    CreateEmbeddingsResponse,
    MessagesResult,
    OpenResponsesResult,
)
from openrouter_async.resources._batch import AsyncBatch, AsyncBatchListPage, Batch, BatchListPage

from ._loopback_server import running_server
from .conftest import API_KEY, emulator_config_for_tests

pytestmark = pytest.mark.anyio

AUTH = {"Authorization": f"Bearer {API_KEY}"}
CHAT = "/v1/chat/completions"
MODEL = "openai/gpt-4o-mini"
EMBEDDER = "openai/text-embedding-3-small"
TERMINAL = {"completed", "failed", "expired", "cancelled"}
#: 409 is retried by default (a conflict may clear): a test of the 409 itself must not wait
NO_RETRIES = RetryConfig("none", None, False)
#: the module emulator's pace: 50 ms of validation, then one request every 10 ms
VALIDATION_S = 0.05
PER_REQUEST_S = 0.01


def chat_requests(n: int, prefix: str = "r") -> list[dict[str, Any]]:
    return [
        {
            "custom_id": f"{prefix}{i}",
            "body": {"messages": [{"role": "user", "content": f"Say {prefix} {i}"}]},
        }
        for i in range(n)
    ]


@pytest.fixture(scope="module")
def batch_url() -> Iterator[str]:
    config = dataclasses.replace(
        emulator_config_for_tests(),
        batch_validation_seconds=VALIDATION_S,
        batch_seconds_per_request=PER_REQUEST_S,
    )
    with serve_in_thread(config) as url:
        yield url


async def end_now(url: str, batch_id: str, status: str = "cancelled") -> httpx.Response:
    """End a batch at once (the emulator's test route)."""
    async with httpx.AsyncClient() as http:
        return await http.post(
            f"{url}/_emulator/batches/{batch_id}/finish", json={"status": status}
        )


def stats(url: str) -> dict[str, Any]:
    found: dict[str, Any] = httpx.get(f"{url}/_emulator/stats", timeout=5).json()
    return found


def batch_of(owner: Session) -> AsyncBatch:
    """The Session's ``batch`` group: ``session.batch`` once the Session declares it (it is
    generated; the declaration is the Session's own), built the same way until then."""
    group = getattr(owner, "batch", None)
    return group if isinstance(group, AsyncBatch) else AsyncBatch(owner)


def facade_batch_of(client: OpenRouter) -> Batch:
    group = getattr(client, "batch", None)
    return group if isinstance(group, Batch) else Batch(client)


async def finished(group: AsyncBatch, batch_id: str) -> BatchObject:
    """The batch once it is in a terminal status (polled)."""
    with anyio.fail_after(20):
        while True:
            batch = await group.get_batches(id=batch_id)
            if batch.status in TERMINAL:
                return batch
            await anyio.sleep(0.02)


# -- the life of a batch ------------------------------------------------------------------------


async def test_create_get_and_delete(batch_url: str, anyio_backend: str) -> None:
    before = stats(batch_url)["batches_created"]
    async with Session(api_key=API_KEY, server_url=batch_url) as session:
        group = batch_of(session)
        created = await group.create_batches(endpoint=CHAT, model=MODEL, requests=chat_requests(3))
        assert isinstance(created, BatchObject)
        assert created.status == "validating" and created.object == "batch"
        assert created.id.startswith("batch_") and created.endpoint == CHAT
        assert created.model == MODEL and created.completion_window == "24h"
        assert (created.request_counts.total, created.request_counts.completed) == (3, 0)
        assert created.results is None and created.usage is None and created.error is None
        assert created.finalized_at is None
        assert stats(batch_url)["batches_created"] == before + 1

        # Deleting is not cancelling: a batch still running answers 409.
        with pytest.raises(errors.ConflictResponseError) as refused:
            await group.delete(id=created.id, retries=NO_RETRIES)
        assert refused.value.status_code == 409 and created.id in refused.value.message

        done = await finished(group, created.id)
        assert done.status == "completed" and done.finalized_at is not None
        assert done.request_counts.completed == 3 and done.request_counts.failed == 0
        assert done.results is not None
        assert [r.custom_id for r in done.results] == ["r0", "r1", "r2"]
        assert all(r.error is None and r.response is not None for r in done.results)
        assert done.provider == "OpenAI"

        deleted = await group.delete(id=created.id)
        assert isinstance(deleted, BatchDeletedObject)
        assert deleted.id == created.id and deleted.deletion.openrouter == "deleted"
        assert deleted.deletion.upstream is not None
        assert deleted.deletion.upstream.status == "deleted"
        with pytest.raises(errors.NotFoundResponseError):
            await group.get_batches(id=created.id)
    assert stats(batch_url)["batches_created"] == before + 1


async def test_a_batch_moves_through_its_statuses(batch_url: str, anyio_backend: str) -> None:
    async with Session(api_key=API_KEY, server_url=batch_url) as session:
        group = batch_of(session)
        created = await group.create_batches(endpoint=CHAT, model=MODEL, requests=chat_requests(40))
        seen: list[tuple[str, int]] = []
        with anyio.fail_after(30):
            while not seen or seen[-1][0] not in TERMINAL:
                batch = await group.get_batches(id=created.id)
                seen.append((batch.status, batch.request_counts.completed))
                if batch.status != "completed":
                    assert batch.results is None  # results come with the terminal status
                await anyio.sleep(0.01)
    statuses = list(dict.fromkeys(status for status, _ in seen))
    assert statuses[0] in ("validating", "in_progress") and statuses[-1] == "completed"
    assert "in_progress" in statuses
    counts = [count for _, count in seen]
    assert counts == sorted(counts) and counts[-1] == 40  # honest, and never going back


async def test_results_are_what_the_live_route_answers(batch_url: str, anyio_backend: str) -> None:
    body = {"messages": [{"role": "user", "content": "The same question twice"}], "max_tokens": 6}
    async with Session(api_key=API_KEY, server_url=batch_url) as session:
        group = batch_of(session)
        created = await group.create_batches(
            endpoint=CHAT, model=MODEL, requests=[{"custom_id": "same", "body": body}]
        )
        live = await session.chat.send(model=MODEL, **body)
        done = await finished(group, created.id)
    assert done.results is not None
    [result] = done.results
    assert result.response is not None and result.response.status_code == 200
    answer = result.response.body
    assert isinstance(answer, ChatResult)
    assert answer.choices[0].message.content == live.choices[0].message.content
    assert answer.choices[0].finish_reason == live.choices[0].finish_reason
    assert answer.usage is not None and live.usage is not None
    assert answer.usage.prompt_tokens == live.usage.prompt_tokens
    assert answer.usage.completion_tokens == live.usage.completion_tokens
    assert answer.usage.cost is not None and live.usage.cost is not None
    assert math.isclose(answer.usage.cost, live.usage.cost * 0.5, rel_tol=1e-9)
    assert result.response.request_id == answer.id


async def test_every_endpoint_is_answered_by_its_route(batch_url: str, anyio_backend: str) -> None:
    async with Session(api_key=API_KEY, server_url=batch_url) as session:
        group = batch_of(session)
        embeddings = await group.create_batches(
            endpoint="/v1/embeddings",
            model=EMBEDDER,
            requests=[{"custom_id": "e", "body": {"input": "embed me"}}],
        )
        responses = await group.create_batches(
            endpoint="/v1/responses",
            model=MODEL,
            requests=[{"custom_id": "r", "body": {"input": "Answer me", "max_output_tokens": 5}}],
        )
        messages = await group.create_batches(
            endpoint="/v1/messages",
            model=MODEL,
            requests=[
                {
                    "custom_id": "m",
                    "body": {
                        "max_tokens": 5,
                        "system": "Be brief",
                        "messages": [{"role": "user", "content": "Hello there"}],
                    },
                }
            ],
        )
        live_vectors = await session.embeddings.generate(model=EMBEDDER, input="embed me")
        live_chat = await session.chat.send(
            model=MODEL,
            max_tokens=5,
            messages=[
                {"role": "system", "content": "Be brief"},
                {"role": "user", "content": "Hello there"},
            ],
        )
        done = [await finished(group, b.id) for b in (embeddings, responses, messages)]
    bodies = []
    for batch in done:
        assert batch.status == "completed" and batch.results is not None
        assert batch.results[0].response is not None
        bodies.append(batch.results[0].response.body)
    vectors, response, message = bodies
    assert isinstance(vectors, CreateEmbeddingsResponse)
    assert vectors.data[0].embedding == live_vectors.data[0].embedding
    assert isinstance(response, OpenResponsesResult) and response.output
    assert isinstance(message, MessagesResult)
    assert message.type == "message" and message.stop_reason == "end_turn"
    text = message.content[0]
    assert getattr(text, "text", None) == live_chat.choices[0].message.content
    assert message.usage is not None and message.usage.service_tier == "batch"


async def test_cost_is_recorded_at_the_batch_price(batch_url: str, anyio_backend: str) -> None:
    body = {"messages": [{"role": "user", "content": "What does it cost?"}]}
    async with Session(api_key=API_KEY, server_url=batch_url) as session:
        group = batch_of(session)
        created = await group.create_batches(
            endpoint=CHAT,
            model=MODEL,
            requests=[{"custom_id": "a", "body": body}, {"custom_id": "b", "body": body}],
        )
        live = await session.chat.send(model=MODEL, **body)
        done = await finished(group, created.id)
    assert done.results is not None and done.usage is not None
    async with httpx.AsyncClient(base_url=batch_url, headers=AUTH) as http:

        async def charged(generation_id: str) -> float:
            found = await http.get("/generation", params={"id": generation_id})
            cost: float = found.json()["data"]["total_cost"]
            return cost

        live_cost = await charged(live.id)
        batch_costs = []
        for result in done.results:
            assert result.response is not None and result.response.request_id is not None
            batch_costs.append(await charged(result.response.request_id))
    assert live_cost > 0
    assert all(math.isclose(cost, live_cost / 2, rel_tol=1e-6) for cost in batch_costs)
    assert done.usage.cost is not None
    assert math.isclose(done.usage.cost, sum(batch_costs), rel_tol=1e-6)
    assert done.usage.total_tokens == 2 * (live.usage.total_tokens if live.usage else 0)


# -- failures -----------------------------------------------------------------------------------


async def test_a_batch_with_a_bad_request_fails_whole(batch_url: str, anyio_backend: str) -> None:
    requests = chat_requests(2)
    requests[1]["body"]["stream"] = True
    async with Session(api_key=API_KEY, server_url=batch_url) as session:
        group = batch_of(session)
        created = await group.create_batches(endpoint=CHAT, model=MODEL, requests=requests)
        assert created.status == "validating"  # stored first, checked after
        done = await finished(group, created.id)
    assert done.status == "failed" and done.error is not None
    assert "r1" in done.error.message and "stream" in done.error.message
    assert done.results == [] and done.usage is None
    assert done.request_counts.completed == 0


async def test_a_failing_request_is_an_error_result(batch_url: str, anyio_backend: str) -> None:
    # A chat model cannot embed: that request fails, the batch still completes.
    async with Session(api_key=API_KEY, server_url=batch_url) as session:
        group = batch_of(session)
        created = await group.create_batches(
            endpoint="/v1/embeddings",
            model=MODEL,
            requests=[{"custom_id": "x", "body": {"input": "no"}}],
        )
        done = await finished(group, created.id)
    assert done.status == "completed"
    assert (done.request_counts.completed, done.request_counts.failed) == (0, 1)
    assert done.results is not None
    [result] = done.results
    assert result.response is None and result.error is not None
    assert result.error.type == "invalid_request_error" and "embeddings" in result.error.message


async def test_cancelled_and_expired(batch_url: str, anyio_backend: str) -> None:
    async with Session(api_key=API_KEY, server_url=batch_url) as session:
        group = batch_of(session)
        ids = []
        for status in ("cancelled", "expired"):
            created = await group.create_batches(
                endpoint=CHAT, model=MODEL, requests=chat_requests(500)
            )
            finish = await end_now(batch_url, created.id, status)
            assert finish.status_code == 200, finish.text
            ids.append((status, created.id))
        for status, batch_id in ids:
            batch = await group.get_batches(id=batch_id)
            assert batch.status == status and batch.results is not None
            counts = batch.request_counts
            assert counts.completed + counts.failed == counts.total == len(batch.results)
            assert batch.results[-1].error is not None
            assert batch.results[-1].error.type == f"batch_{status}"
            assert (await group.delete(id=batch_id)).id == batch_id


def test_a_batch_expires_at_the_end_of_its_window() -> None:
    config = EmulatorConfig(
        batch_validation_seconds=0, batch_seconds_per_request=1.0, batch_window_seconds=0.3
    )
    with serve_in_thread(config) as url, OpenRouter(api_key="k", server_url=url) as client:
        group = facade_batch_of(client)
        created = group.create_batches(endpoint=CHAT, model=MODEL, requests=chat_requests(5))
        time.sleep(0.5)
        batch = group.get_batches(id=created.id)
    assert batch.status == "expired" and batch.results is not None
    assert batch.request_counts.failed == 5 and batch.request_counts.completed == 0


@pytest.mark.parametrize(
    ("change", "says"),
    [
        ({"endpoint": "/v1/completions"}, "endpoint"),
        ({"requests": []}, "requests"),
        ({"requests": [{"custom_id": "a", "body": {}}, {"custom_id": "a", "body": {}}]}, "repeats"),
        ({"provider": {"order": ["openai"]}}, "provider.order"),
        ({"callback_url": "http://example.com/hook"}, "callback_url"),
        ({"requests": chat_requests(5001)}, "at most 5000"),
    ],
)
def test_a_malformed_submission_is_refused(
    batch_url: str, change: dict[str, Any], says: str
) -> None:
    body: dict[str, Any] = {"endpoint": CHAT, "model": MODEL, "requests": chat_requests(1)}
    body.update(change)
    before = stats(batch_url)["batches_created"]
    refused = httpx.post(f"{batch_url}/batches", json=body, headers=AUTH, timeout=30)
    assert refused.status_code == 400 and says in refused.json()["error"]["message"]
    assert stats(batch_url)["batches_created"] == before


async def test_bad_arguments_fail_before_anything_is_sent(
    batch_url: str, anyio_backend: str
) -> None:
    before = stats(batch_url)["requests"]
    async with Session(api_key=API_KEY, server_url=batch_url) as session:
        group = batch_of(session)
        with pytest.raises(errors.RequestValidationError) as bad:
            await group.create_batches(
                endpoint=CHAT, model=MODEL, requests=[{"custom_id": 7, "body": {}}]
            )
        assert "custom_id" in bad.value.path
        with pytest.raises(errors.RequestValidationError) as missing:
            await group.get_batches(id="")
        assert missing.value.path == "id"
    assert stats(batch_url)["requests"] == before


# -- the listing --------------------------------------------------------------------------------


async def test_list_pages_by_after_and_last_id(batch_url: str, anyio_backend: str) -> None:
    async with Session(api_key=API_KEY, server_url=batch_url) as session:
        group = batch_of(session)
        mine = [
            (
                await group.create_batches(
                    endpoint=CHAT, model=MODEL, requests=chat_requests(1, f"p{i}")
                )
            ).id
            for i in range(5)
        ]
        everything = await group.list(limit=100)
        assert isinstance(everything, AsyncBatchListPage)
        assert not everything.has_more and not everything.has_next_page()
        expected = [batch.id for batch in everything.data]
        assert expected[:5] == mine[::-1]  # newest first
        assert all(batch.results is None for batch in everything.data)

        first = await group.list(limit=2)
        assert first.object == "list" and len(first.data) == 2
        assert first.first_id == expected[0] and first.last_id == expected[1]
        assert first.has_more and first.has_next_page()
        second = await first.next()
        assert second is not None and [b.id for b in second.data] == expected[2:4]

        requests_before = stats(batch_url)["requests"]
        walked = [batch.id async for batch in group.list(limit=2)]
        pages = math.ceil(len(expected) / 2)
        # `has_more` ends the walk: no request for an empty page after the last one.
        assert stats(batch_url)["requests"] - requests_before == pages
    assert walked == expected


async def test_list_filters(batch_url: str, anyio_backend: str) -> None:
    async with Session(api_key=API_KEY, server_url=batch_url) as session:
        group = batch_of(session)
        created = await group.create_batches(endpoint=CHAT, model=MODEL, requests=chat_requests(1))
        await finished(group, created.id)
        running = await group.create_batches(
            endpoint=CHAT, model=MODEL, requests=chat_requests(2000)
        )
        done = await group.list(status=["completed"], limit=100)
        assert created.id in [b.id for b in done.data]
        assert all(b.status == "completed" for b in done.data)
        busy = await group.list(status=["validating", "in_progress"], limit=100)
        assert running.id in [b.id for b in busy.data]
        assert all(b.status in ("validating", "in_progress") for b in busy.data)
        later = await group.list(created_after="2999-01-01T00:00:00Z")
        assert later.data == [] and later.last_id is None and not later.has_more
        await end_now(batch_url, running.id)
        with pytest.raises(errors.BadRequestResponseError):
            await group.list(status=["finalizing"])


# -- on the wire --------------------------------------------------------------------------------


async def test_the_body_keeps_the_order_openrouter_requires(anyio_backend: str) -> None:
    """OpenRouter reads the body as a stream: ``endpoint`` and ``model`` (and, its docs add,
    ``callback_url``) must come before ``requests``."""
    with running_server() as server:
        async with Session(api_key=API_KEY, server_url=server.url("/echo")) as session:
            raw = await batch_of(session).with_raw_response.create_batches(
                requests=[{"body": {"messages": []}, "custom_id": "a"}],
                provider={"only": ["openai"]},
                callback_url="https://example.com/hook",
                completion_window="24h",
                model=MODEL,
                endpoint=CHAT,
            )
    echoed = raw.json()
    assert echoed["method"] == "POST" and echoed["path"] == "/echo/batches"
    sent: str = echoed["body"]
    order = ["endpoint", "model", "callback_url", "completion_window", "provider", "requests"]
    assert list(json.loads(sent)) == order
    assert sent.index('"custom_id"') < sent.index('"body"')  # an item's id before its body
    positions = [sent.index(f'"{key}"') for key in order]
    assert positions == sorted(positions)


# -- the facade ---------------------------------------------------------------------------------


def _facade_round_trip(url: str) -> tuple[str, list[str], str]:
    with OpenRouter(api_key=API_KEY, server_url=url) as client:
        group = facade_batch_of(client)
        created = group.create_batches(endpoint=CHAT, model=MODEL, requests=chat_requests(2, "f"))
        deadline = time.monotonic() + 20
        batch = group.get_batches(id=created.id)
        while batch.status not in TERMINAL and time.monotonic() < deadline:
            time.sleep(0.02)
            batch = group.get_batches(id=created.id)
        page = group.list(limit=1)
        assert isinstance(page, BatchListPage) and page.has_next_page()
        following = page.next()
        assert following is not None and following.data[0].id != page.data[0].id
        ids = [item.id for item in page][:3]  # walks the pages
        deleted = group.delete(id=created.id)
        return batch.status, ids, deleted.id


def test_facade_from_a_plain_thread(batch_url: str) -> None:
    found: list[tuple[str, list[str], str]] = []
    worker = threading.Thread(target=lambda: found.append(_facade_round_trip(batch_url)))
    worker.start()
    worker.join(60)
    [(status, ids, deleted)] = found
    assert status == "completed" and len(ids) == 3 and deleted.startswith("batch_")


def test_facade_inside_a_running_asyncio_loop(batch_url: str) -> None:
    async def notebook_cell() -> tuple[str, list[str], str]:
        return _facade_round_trip(batch_url)

    status, ids, _ = asyncio.run(notebook_cell())
    assert status == "completed" and len(ids) == 3


async def test_facade_async_forms(batch_url: str, anyio_backend: str) -> None:
    async with OpenRouter(api_key=API_KEY, server_url=batch_url) as client:
        group = facade_batch_of(client)
        created = await group.create_batches_async(
            endpoint=CHAT, model=MODEL, requests=chat_requests(1)
        )
        again = await group.get_batches_async(id=created.id)
        assert again.id == created.id
        ids = [batch.id async for batch in group.list_async(limit=50)]
        assert created.id in ids
        with pytest.raises(errors.ConflictResponseError):
            await group.delete_async(id=created.id, retries=NO_RETRIES)


# -- webhooks -----------------------------------------------------------------------------------

SECRET = "whsec-test-secret"
EVENT = json.dumps({"type": "batch.completed", "data": {"id": "batch_1", "status": "completed"}})


def test_a_signed_event_verifies() -> None:
    header = webhook_signature(EVENT, SECRET)
    assert header.startswith("t=") and ",v1=" in header
    event = verify_webhook(EVENT.encode(), {SIGNATURE_HEADER: header}, secret=SECRET)
    assert event["type"] == "batch.completed" and event["data"]["id"] == "batch_1"
    # Any header mapping, looked up case-insensitively; or the header's value itself.
    assert verify_webhook(EVENT, httpx.Headers({"x-openrouter-signature": header}), secret=SECRET)
    assert verify_webhook(EVENT, {"x-openrouter-signature": header}, secret=SECRET)
    assert verify_webhook(EVENT, header, secret=SECRET)


def test_the_signature_is_an_hmac_of_the_timestamp_and_the_body() -> None:
    import hashlib
    import hmac

    digest = hmac.new(SECRET.encode(), b"1700000000," + EVENT.encode(), hashlib.sha256)
    header = f"t=1700000000,v1={digest.hexdigest()}"
    assert webhook_signature(EVENT, SECRET, timestamp=1_700_000_000) == header
    assert verify_webhook(EVENT, header, secret=SECRET, now=1_700_000_100)
    # While a secret is rotated, one of several v1 signatures may match.
    rotated = f"t=1700000000,v1=00ff,v1={digest.hexdigest()}"
    assert verify_webhook(EVENT, rotated, secret=SECRET, now=1_700_000_000)


@pytest.mark.parametrize(
    ("payload", "header", "secret", "says"),
    [
        (EVENT.replace("completed", "failed"), None, SECRET, "does not match"),
        (EVENT, None, "another-secret", "does not match"),
        (EVENT, "", SECRET, "missing"),
        (EVENT, "v1=abc", SECRET, "timestamp"),
        (EVENT, "t=1700000000", SECRET, "v1="),
        (EVENT, "t=1700000000,v1=é", SECRET, "does not match"),
        ("[1, 2]", "sign", SECRET, "not a JSON object"),
    ],
)
def test_a_bad_delivery_is_refused(
    payload: str, header: str | None, secret: str, says: str
) -> None:
    now = 1_700_000_000
    if header is None:
        header = webhook_signature(EVENT, SECRET, timestamp=now)
    elif header == "sign":
        header = webhook_signature(payload, SECRET, timestamp=now)
    with pytest.raises(WebhookVerificationError) as refused:
        verify_webhook(payload, {SIGNATURE_HEADER: header}, secret=secret, now=now)
    assert says in str(refused.value)
    assert SECRET not in str(refused.value)


def test_a_stale_delivery_is_refused() -> None:
    header = webhook_signature(EVENT, SECRET, timestamp=1_700_000_000)
    with pytest.raises(WebhookVerificationError, match="300 s"):
        verify_webhook(EVENT, header, secret=SECRET, now=1_700_000_301)
    assert verify_webhook(EVENT, header, secret=SECRET, now=1_700_009_999, tolerance=None)
    with pytest.raises(ValueError, match="secret"):
        verify_webhook(EVENT, header, secret="")
