"""Pages of list operations as user code writes them, on every surface.

Not a test that runs: ``uv run mypy --strict tests/typing/pagination_typing.py`` checks it.
Each ``_: T = expr`` line pins the type an expression has: the items of ``async for`` / ``for``
are the operation's item model (not ``Any``, which would accept a wrong annotation too), a
page is still the operation's result class, and ``next()`` is ``Page | None``. The ``# type:
ignore[...]`` lines pin errors: ``--strict`` reports an ignore that is not needed.
"""

from __future__ import annotations

from openrouter_async import OpenRouter, Session
from openrouter_async.models import (
    AnthropicFile,
    Guardrail,
    ListGuardrailsResponse,
    ListResponse,
    ListResponseDataItem,
    Model,
    ModelsListResponse,
    OpenAIFile,
    OpenRouterFile,
)
from openrouter_async.resources._api_keys import ApiKeysListPage, AsyncApiKeysListPage
from openrouter_async.resources._files import AsyncFilesListPage, FilesListPage
from openrouter_async.resources._guardrails import AsyncGuardrailsListPage, GuardrailsListPage


async def on_a_session(session: Session) -> None:
    async for key in session.api_keys.list(include_disabled="true"):
        item: ListResponseDataItem = key
        print(item.hash, item.name)

    page = await session.api_keys.list()
    still_the_result: ListResponse = page
    exact: AsyncApiKeysListPage = page
    print(still_the_result.data, exact.has_next_page())
    following: AsyncApiKeysListPage | None = await page.next()
    while following is not None:
        following = await following.next()

    guardrails = await session.guardrails.list(limit=10)
    total: int | None = guardrails.total_count
    data: list[Guardrail] | None = guardrails.data
    print(total, data)
    async for guardrail in guardrails.auto_paging_iter():
        one: Guardrail = guardrail
        print(one.id)
    async for each_page in guardrails.iter_pages():
        typed_page: AsyncGuardrailsListPage = each_page
        result: ListGuardrailsResponse = typed_page
        print(result.total_count)

    async for model in session.models.list(limit=50):
        listed: Model = model
        print(listed.id)
    catalogue: ModelsListResponse = await session.models.list()
    print(catalogue.total_count)

    files: AsyncFilesListPage = await session.files.list(limit=100)
    print(files.shape, files.has_next_page())
    async for file in session.files.list():
        stored: OpenRouterFile | OpenAIFile | AnthropicFile = file
        print(stored.id)

    for wrong in guardrails:  # type: ignore[attr-defined]
        print(wrong)  # a Session's page is iterated with `async for`
    not_awaited: ListGuardrailsResponse = session.guardrails.list()  # type: ignore[assignment]
    print(not_awaited)


def on_the_facade(client: OpenRouter) -> None:
    for key in client.api_keys.list():
        item: ListResponseDataItem = key
        print(item.hash)
    for guardrail in client.guardrails.list(limit=10).auto_paging_iter():
        one: Guardrail = guardrail
        print(one.name)

    page = client.guardrails.list(limit=10)
    result: ListGuardrailsResponse = page
    following: GuardrailsListPage | None = page.next()
    more: bool = page.has_next_page()
    print(result.total_count, following, more)
    for each_page in page.iter_pages():
        typed_page: GuardrailsListPage = each_page
        print(typed_page.data)

    keys: ApiKeysListPage = client.api_keys.list(offset="0")
    files: FilesListPage = client.files.list()
    print(keys.data, files.data)

    wrong: GuardrailsListPage = client.guardrails.list().next()  # type: ignore[assignment]
    print(wrong)  # `None` after the last page: it must be checked


async def facade_async_forms(client: OpenRouter) -> None:
    page = await client.guardrails.list_async(limit=10)
    typed: GuardrailsListPage = page
    following: GuardrailsListPage | None = await page.next_async()
    print(typed, following)
    async for guardrail in client.guardrails.list_async():
        one: Guardrail = guardrail
        print(one.id)
    async for again in page:
        two: Guardrail = again
        print(two.id)
    async for each in page.auto_paging_iter_async():
        three: Guardrail = each
        print(three.id)
    async for each_page in page.iter_pages_async():
        pages: GuardrailsListPage = each_page
        print(pages.total_count)
