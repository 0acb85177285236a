"""Pages of list operations (issue 14, point 3): ``next()`` (``None`` after the last page),
``has_next_page()``, and iteration over every item of every page, fetched one page at a time.

Against an emulator of this module's own (its request counter then counts only our calls):
25 guardrails (offset/limit, ``total_count``) and 125 API keys (``GET /keys``: an offset, no
limit, no total; the emulator's pages hold 100 keys). Cursor pages (``files.list``, in the
OpenRouter and the OpenAI shapes), the spec's ``maximum`` offset (``datasets``) and a ``/keys``
whose last page is full come from a small loopback server of this file, which answers scripted
pages and records each query. Async tests run on asyncio and trio; the facade from a plain
thread and from inside a running asyncio loop.
"""

from __future__ import annotations

import asyncio
import copy
import gc
import json
import math
import pickle
import threading
import weakref
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import anyio
import httpx
import pytest

from openrouter_async import OpenRouter, Session
from openrouter_async.emulator import serve_in_thread
from openrouter_async.models import ListGuardrailsResponse, ListResponse, ModelsListResponse
from openrouter_async.resources._guardrails import AsyncGuardrailsListPage, GuardrailsListPage

from .conftest import API_KEY, emulator_config_for_tests

GUARDRAILS = 25
KEYS = 125


@pytest.fixture(scope="module")
def paged_url() -> Iterator[str]:
    """An emulator holding at least 25 guardrails and 125 keys (it seeds a few of its own)."""
    with serve_in_thread(emulator_config_for_tests()) as url:
        auth = {"Authorization": f"Bearer {API_KEY}"}
        with httpx.Client(base_url=url, headers=auth, timeout=30) as http:
            have = http.get("/guardrails", params={"limit": 100}).json()["total_count"]
            for i in range(max(0, GUARDRAILS - have)):
                http.post("/guardrails", json={"name": f"paged-{i}"}).raise_for_status()
            have = len(http.get("/keys").json()["data"])
            for i in range(max(0, KEYS - have)):
                http.post("/keys", json={"name": f"paged-{i}"}).raise_for_status()
        yield url


def requests_made(url: str) -> int:
    count: int = httpx.get(f"{url}/_emulator/stats", timeout=5).json()["requests"]
    return count


def counted(url: str) -> Callable[[], int]:
    """Requests made since this was called."""
    start = requests_made(url)
    return lambda: requests_made(url) - start


def first_guardrails(url: str, limit: int) -> dict[str, Any]:
    """The body of ``GET /guardrails?limit=``, read without the SDK."""
    auth = {"Authorization": f"Bearer {API_KEY}"}
    body: dict[str, Any] = httpx.get(
        f"{url}/guardrails", params={"limit": limit}, headers=auth
    ).json()
    return body


def totals(url: str) -> tuple[int, int]:
    auth = {"Authorization": f"Bearer {API_KEY}"}
    guardrails = httpx.get(f"{url}/guardrails", params={"limit": 100}, headers=auth).json()
    keys = httpx.get(f"{url}/keys", headers=auth).json()["data"]
    keys += httpx.get(f"{url}/keys", params={"offset": 100}, headers=auth).json()["data"]
    return guardrails["total_count"], len(keys)


# -- the Session ---------------------------------------------------------------------------


@pytest.mark.anyio
async def test_next_walks_the_pages_and_ends_with_none(paged_url: str) -> None:
    total, _ = totals(paged_url)
    assert total == GUARDRAILS
    async with Session(api_key=API_KEY, base_url=paged_url) as session:
        made = counted(paged_url)
        page = await session.guardrails.list(limit=10)
        assert isinstance(page, ListGuardrailsResponse) and isinstance(
            page, AsyncGuardrailsListPage
        )
        assert page.total_count == total and page.data is not None and len(page.data) == 10
        assert page.has_next_page() and made() == 1  # (asks nothing of the server)
        sizes = [len(page.data)]
        while (following := await page.next()) is not None:
            page = following
            assert page.data is not None
            sizes.append(len(page.data))
        assert sizes == [10, 10, 5] and not page.has_next_page()
        assert made() == 3  # the last page's next() knew from total_count: no request
        assert await page.next() is None and made() == 3


@pytest.mark.anyio
async def test_async_for_over_the_call_fetches_one_page_at_a_time(paged_url: str) -> None:
    async with Session(api_key=API_KEY, base_url=paged_url) as session:
        made = counted(paged_url)
        names = [g.name async for g in session.guardrails.list(limit=10)]
        assert len(names) == GUARDRAILS == len(set(names)) and made() == 3
        made = counted(paged_url)
        seen = 0
        async for _ in session.guardrails.list(limit=10):
            seen += 1
            if seen == 12:
                break
        assert made() == 2  # the third page was never asked for
        made = counted(paged_url)
        page = await session.guardrails.list(limit=7)
        again = [g.id async for g in page.auto_paging_iter()]
        assert again == [g.id async for g in page]  # each iteration starts at this page
        assert len(again) == GUARDRAILS and made() == 1 + 2 * 3
        sizes = [len(p.data or []) async for p in page.iter_pages()]
        assert sizes == [7, 7, 7, 4]


@pytest.mark.anyio
async def test_an_offset_without_a_limit_learns_the_page_size(paged_url: str) -> None:
    """``GET /keys``: no limit and no total. A page shorter than the full one before it is the
    last; the first page cannot know, so a first page that is not full still asks."""
    _, keys = totals(paged_url)
    assert keys >= KEYS
    async with Session(api_key=API_KEY, base_url=paged_url) as session:
        made = counted(paged_url)
        hashes = [k.hash async for k in session.api_keys.list()]
        assert len(hashes) == keys == len(set(hashes)) and made() == 2  # 100, then 25: done
        first = await session.api_keys.list()
        assert isinstance(first, ListResponse) and first.has_next_page()
        second = await first.next()
        assert second is not None and len(second.data or []) == keys - 100
        assert not second.has_next_page() and await second.next() is None
        made = counted(paged_url)
        tail = await session.api_keys.list(offset=keys - 5)
        assert len(tail.data or []) == 5 and tail.has_next_page()  # (nothing to compare with)
        assert await tail.next() is None and made() == 2  # asked, found it empty: None


@pytest.mark.anyio
async def test_given_offsets_and_extra_query_are_followed(paged_url: str) -> None:
    async with Session(api_key=API_KEY, base_url=paged_url) as session:
        every = [g.id async for g in session.guardrails.list(limit=100)]
        rest = [g.id async for g in session.guardrails.list(offset="20", limit="2")]
        assert rest == every[20:]
        made = counted(paged_url)
        # extra_query is merged last: its limit is the page size; its offset is replaced on
        # the next pages (or the same page would come back for ever)
        ids = [g.id async for g in session.guardrails.list(extra_query={"limit": 5, "offset": 3})]
        assert ids == every[3:] and made() == math.ceil((GUARDRAILS - 3) / 5)


@pytest.mark.anyio
async def test_a_whole_list_is_one_page(paged_url: str) -> None:
    """``/models`` without offset and limit answers the whole catalogue (total_count says so)."""
    async with Session(api_key=API_KEY, base_url=paged_url) as session:
        made = counted(paged_url)
        catalogue = await session.models.list()
        assert isinstance(catalogue, ModelsListResponse) and catalogue.data
        assert not catalogue.has_next_page() and await catalogue.next() is None
        paged = [m.id async for m in session.models.list(limit=20)]
        assert paged == [m.id for m in catalogue.data]
        assert made() == 1 + math.ceil(len(catalogue.data) / 20)


@pytest.mark.anyio
async def test_iteration_holds_one_page_at_a_time(paged_url: str) -> None:
    async with Session(api_key=API_KEY, base_url=paged_url) as session:
        gc.collect()
        before = sum(isinstance(o, AsyncGuardrailsListPage) for o in gc.get_objects())
        alive = []
        seen = 0
        async for _ in session.guardrails.list(limit=3):
            # (sampled: at the start, mid-way and at the end — a heap walk per item costs
            # seconds once the whole suite's objects are alive)
            if seen in (0, GUARDRAILS // 2, GUARDRAILS - 1):
                gc.collect()
                count = sum(isinstance(o, AsyncGuardrailsListPage) for o in gc.get_objects())
                alive.append(count)
            seen += 1
        assert seen == GUARDRAILS and len(alive) == 3 and max(alive) - before == 1
        refs = []
        async for page in (await session.guardrails.list(limit=3)).iter_pages():
            refs.append(weakref.ref(page))
            del page
            if len(refs) % 3 == 0:
                gc.collect()
                assert sum(ref() is not None for ref in refs) <= 2  # the first, the current one
        assert len(refs) == math.ceil(GUARDRAILS / 3)


@pytest.mark.anyio
async def test_the_paginator_is_a_coroutine_to_task_groups(paged_url: str) -> None:
    async with Session(api_key=API_KEY, base_url=paged_url) as session:
        pages: list[Any] = []

        async def keep(limit: int) -> None:
            pages.append(await session.guardrails.list(limit=limit))

        made = counted(paged_url)
        async with anyio.create_task_group() as tg:
            tg.start_soon(session.guardrails.list)  # its result dropped: a coroutine all the same
            tg.start_soon(keep, 4)
        assert made() == 2 and len(pages[0].data) == 4
        waiter = session.guardrails.list(limit=2)
        assert "guardrails.list" in repr(waiter)
        assert len((await waiter).data or []) == 2
        with pytest.raises(RuntimeError):
            await waiter  # as any coroutine: awaited once
        unused = session.guardrails.list()
        unused.close()  # never started: nothing sent
        assert made() == 3
        with pytest.warns(RuntimeWarning, match="never awaited or iterated"):
            session.guardrails.list(limit=1)  # a missing await, as Python tells of coroutines
            gc.collect()


def test_create_task_and_gather_take_the_paginator(paged_url: str) -> None:
    async def main() -> list[int]:
        async with Session(api_key=API_KEY, base_url=paged_url) as session:
            task = asyncio.create_task(session.guardrails.list(limit=3))
            both = await asyncio.gather(session.guardrails.list(limit=4), task)
            return [len(page.data or []) for page in both]

    assert asyncio.run(main()) == [4, 3]


@pytest.mark.anyio
async def test_a_page_is_its_result_for_dumps_copies_and_pickles(paged_url: str) -> None:
    async with Session(api_key=API_KEY, base_url=paged_url) as session:
        page = await session.guardrails.list(limit=10)
        body = first_guardrails(paged_url, 10)
        assert page.model_dump() == body  # the call is no field
        assert (
            page.model_dump_json() == ListGuardrailsResponse.model_validate(body).model_dump_json()
        )
        assert repr(page).startswith("AsyncGuardrailsListPage(data=[Guardrail(")
        assert page == await session.guardrails.list(limit=10)
        for copied in (copy.copy(page), copy.deepcopy(page), page.model_copy()):
            assert type(copied) is AsyncGuardrailsListPage and copied == page
            following = await copied.next()
            assert following is not None and len(following.data or []) == 10
        thawed = pickle.loads(pickle.dumps(page))
        assert type(thawed) is ListGuardrailsResponse  # the call (a live Session) stays behind
        assert thawed.model_dump() == body
        built = AsyncGuardrailsListPage.model_validate(body)  # knows no call: no next page
        assert not built.has_next_page() and await built.next() is None
        assert len([g async for g in built]) == 10


@pytest.mark.anyio
async def test_raw_responses_parse_to_pages(paged_url: str) -> None:
    async with Session(api_key=API_KEY, base_url=paged_url) as session:
        raw = await session.guardrails.with_raw_response.list(limit=10)
        assert raw.status_code == 200
        page = raw.parse()
        assert isinstance(page, AsyncGuardrailsListPage) and page.has_next_page()
        following = await page.next()
        assert isinstance(following, AsyncGuardrailsListPage) and len(following.data or []) == 10
        assert len([g async for g in page]) == GUARDRAILS
        async with session.guardrails.with_streaming_response.list(limit=20) as response:
            streamed = await response.parse()
        last = await streamed.next()
        assert last is not None and len(last.data or []) == 5 and await last.next() is None


def test_every_list_operation_with_offset_or_cursor_is_paged() -> None:
    """The spec's operations with an ``offset``, ``cursor`` or ``after`` query parameter,
    each with the rule of its ``x-speakeasy-pagination`` (or offset-only, as ``GET /keys``)."""
    import importlib
    import inspect

    # (imported by name: the generator is not this test's to type-check)
    cli = importlib.import_module("tools.codegen.cli")
    ops_ir = importlib.import_module("tools.codegen.ops")
    spec = cli.load_api(cli.DEFAULT_SPEC)
    client = OpenRouter(api_key="x", server_url="http://127.0.0.1:9")
    paged = []
    for op in ops_ir.operations(spec):
        wires = {p.wire for p in op.params if p.where == "query"}
        constant = getattr(
            importlib.import_module(f"openrouter_async.resources._{op.group}"),
            f"_{op.name.upper()}",
        )
        if not wires & {"offset", "cursor", "after"}:
            assert constant.paging is None, op.operation_id
            continue
        paged.append(op.operation_id)
        assert constant.paging is not None, op.operation_id
        method = getattr(getattr(client, op.group), op.name)
        assert "Page" in str(inspect.signature(method).return_annotation), op.operation_id
    # the 20 the official SDK pages, GET /keys, and the Batch API's list (from the overlay)
    assert len(paged) == 22 and "list" in paged and "listFiles" in paged


# -- the facade ------------------------------------------------------------------------------


def facade_round(url: str) -> dict[str, Any]:
    with OpenRouter(api_key=API_KEY, server_url=url) as client:
        made = counted(url)
        page = client.guardrails.list(limit=10)
        assert isinstance(page, GuardrailsListPage) and isinstance(page, ListGuardrailsResponse)
        sizes = [len(page.data or [])]
        current: GuardrailsListPage | None = page
        while current is not None and current.has_next_page():
            current = current.next()
            sizes.append(len(current.data or []) if current is not None else 0)
        first_walk = made()
        names = [g.name for g in client.guardrails.list(limit=10)]
        items = list(client.guardrails.list(limit=9).auto_paging_iter())
        pages = [len(p.data or []) for p in page.iter_pages()]
        keys = [k.hash for k in client.api_keys.list()]
        raw = client.guardrails.with_raw_response.list(limit=20).parse().next()
        return {
            "sizes": sizes,
            "requests": first_walk,
            "names": len(names),
            "items": len(items),
            "pages": pages,
            "keys": len(keys),
            "raw": len(raw.data or []) if raw is not None else None,
        }


EXPECTED = {
    "sizes": [10, 10, 5],
    "requests": 3,
    "names": GUARDRAILS,
    "items": GUARDRAILS,
    "pages": [10, 10, 5],
    "keys": KEYS,
    "raw": 5,
}


def test_facade_pages_from_a_plain_thread(paged_url: str) -> None:
    box: list[dict[str, Any]] = []
    errors: list[BaseException] = []

    def run() -> None:
        try:
            box.append(facade_round(paged_url))
        except BaseException as error:
            errors.append(error)

    thread = threading.Thread(target=run)
    thread.start()
    thread.join(60)
    assert not errors, errors
    assert box == [EXPECTED]


def test_facade_pages_inside_a_running_asyncio_loop(paged_url: str) -> None:
    async def notebook_cell() -> dict[str, Any]:
        return facade_round(paged_url)

    assert asyncio.run(notebook_cell()) == EXPECTED


@pytest.mark.anyio
async def test_facade_async_forms(paged_url: str, anyio_backend: str) -> None:
    async with OpenRouter(api_key=API_KEY, server_url=paged_url) as client:
        made = counted(paged_url)
        page = await client.guardrails.list_async(limit=10)
        assert isinstance(page, GuardrailsListPage)
        following = await page.next_async()
        assert following is not None and len(following.data or []) == 10
        ids = [g.id async for g in client.guardrails.list_async(limit=10)]
        assert len(ids) == GUARDRAILS and made() == 2 + 3
        assert [g.id async for g in page] == ids
        assert [g.id async for g in page.auto_paging_iter_async()] == ids
        assert [len(p.data or []) async for p in page.iter_pages_async()] == [10, 10, 5]


# -- cursors, offset maximums, a full last page: a scripted loopback server -------------------


def _file(shape: str, i: int) -> dict[str, Any]:
    if shape == "openai":
        return {
            "_shape": "openai",
            "id": f"file-{i}",
            "object": "file",
            "bytes": 10,
            "created_at": 1,
            "filename": f"f{i}.txt",
            "purpose": "user_data",
            "status": "processed",
        }
    return {
        "_shape": "openrouter",
        "id": f"or_file_{i}",
        "type": "file",
        "filename": f"f{i}.txt",
        "mime_type": "text/plain",
        "size_bytes": 10,
        "created_at": "2025-01-01T00:00:00Z",
        "downloadable": True,
    }


def _files_page(query: dict[str, str]) -> dict[str, Any]:
    """Seven files, three a page: by ``cursor`` (``c<n>``) in the OpenRouter shape, by
    ``after`` (a file id) in the OpenAI one (``provider=openai``)."""
    if query.get("provider") == "openai":
        start = int(query["after"].split("-")[1]) + 1 if "after" in query else 0
        ids = list(range(start, min(start + 3, 7)))
        return {
            "_shape": "openai",
            "object": "list",
            "data": [_file("openai", i) for i in ids],
            "has_more": ids[-1] < 6,
            "first_id": f"file-{ids[0]}",
            "last_id": f"file-{ids[-1]}",
        }
    start = int(query.get("cursor", "c0")[1:])
    ids = list(range(start, min(start + 3, 7)))
    more = ids[-1] < 6
    return {
        "_shape": "openrouter",
        "data": [_file("openrouter", i) for i in ids],
        "has_more": more,
        "first_id": f"or_file_{ids[0]}",
        "last_id": f"or_file_{ids[-1]}",
        "cursor": f"c{start + 3}" if more else None,
    }


def _rankings_page(query: dict[str, str]) -> dict[str, Any]:
    """Always a full page: only the spec's ``maximum`` offset (100) ends the listing."""
    offset = int(query.get("offset", "0"))
    limit = int(query.get("limit", "50"))
    rows = [
        {
            "rank": offset + i + 1,
            "app_id": offset + i,
            "app_name": f"app {offset + i}",
            "total_tokens": "1",
            "total_requests": 1,
        }
        for i in range(limit)
    ]
    meta = {"as_of": "2026-05-12T02:00:00Z", "version": "v1", "start_date": "x", "end_date": "y"}
    return {"data": rows, "meta": meta}


def _keys_page(query: dict[str, str]) -> dict[str, Any]:
    """Four keys, two a page: the last page is full, so only an empty page ends it."""
    offset = int(query.get("offset", "0"))
    key = {
        "hash": "h",
        "name": "k",
        "label": "k",
        "disabled": False,
        "limit": None,
        "limit_remaining": None,
        "limit_reset": None,
        "include_byok_in_limit": False,
        "usage": 0,
        "usage_daily": 0,
        "usage_weekly": 0,
        "usage_monthly": 0,
        "byok_usage": 0,
        "byok_usage_daily": 0,
        "byok_usage_weekly": 0,
        "byok_usage_monthly": 0,
        "created_at": "2025-01-01T00:00:00Z",
        "updated_at": None,
    }
    return {"data": [{**key, "hash": f"h{i}"} for i in range(offset, min(offset + 2, 4))]}


ROUTES: dict[str, Callable[[dict[str, str]], dict[str, Any]]] = {
    "/files": _files_page,
    "/datasets/app-rankings": _rankings_page,
    "/keys": _keys_page,
}


@pytest.fixture(scope="module")
def scripted() -> Iterator[tuple[str, list[tuple[str, dict[str, str]]]]]:
    """(base URL, the (path, query) of every request received)."""
    seen: list[tuple[str, dict[str, str]]] = []

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            parts = urlsplit(self.path)
            query = dict(parse_qsl(parts.query))
            seen.append((parts.path, query))
            body = json.dumps(ROUTES[parts.path](query)).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", seen
    finally:
        server.shutdown()
        server.server_close()


@pytest.mark.anyio
async def test_cursor_pages_in_either_shape(
    scripted: tuple[str, list[tuple[str, dict[str, str]]]],
) -> None:
    url, seen = scripted
    async with Session(api_key=API_KEY, base_url=url) as session:
        seen.clear()
        ids = [f.id async for f in session.files.list(limit=3)]
        assert ids == [f"or_file_{i}" for i in range(7)]
        assert [q.get("cursor") for _, q in seen] == [None, "c3", "c6"]
        assert all(q["limit"] == "3" for _, q in seen)
        seen.clear()
        first = await session.files.list(provider="openai")
        assert first.shape == "openai" and first.has_next_page()
        ids = [f.id async for f in first]
        assert ids == [f"file-{i}" for i in range(7)]
        assert [q.get("after") for _, q in seen] == [None, "file-2", "file-5"]
        assert all("cursor" not in q for _, q in seen)


@pytest.mark.anyio
async def test_the_specs_maximum_offset_ends_the_listing(
    scripted: tuple[str, list[tuple[str, dict[str, str]]]],
) -> None:
    url, seen = scripted
    async with Session(api_key=API_KEY, base_url=url) as session:
        seen.clear()
        ranks = [row.rank async for row in session.datasets.get_app_rankings()]
        assert ranks == list(range(1, 151))  # offsets 0, 50, 100; 150 passes the maximum
        assert [q.get("offset") for _, q in seen] == [None, "50", "100"]


def test_a_full_last_page_costs_one_more_request(
    scripted: tuple[str, list[tuple[str, dict[str, str]]]],
) -> None:
    url, seen = scripted
    with OpenRouter(api_key=API_KEY, server_url=url) as client:
        seen.clear()
        page = client.api_keys.list()
        second = page.next()
        assert second is not None and second.has_next_page()  # full again: there may be more
        assert second.next() is None  # there was not: None, not an empty page
        assert [q.get("offset") for _, q in seen] == [None, "2", "4"]
        assert len(list(client.api_keys.list())) == 4
