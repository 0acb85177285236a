"""User-style code with a budget shared on Redis (``RedisBudget``): ``mypy --strict`` must
accept it (CI runs it; it is not executed).

The names come from ``openrouter_async._budget`` until the package exports them
(``from openrouter_async import RedisBudget``)."""

from __future__ import annotations

from openrouter_async import (
    BudgetExhaustedError,
    BudgetState,
    BudgetUnavailableError,
    OpenRouter,
    RedisBudget,
    Session,
)
from openrouter_async.models import ChatRequest

budget = RedisBudget(
    "redis://localhost:6379/0",
    name="nightly",
    rpm=12_000,
    tpm=2_000_000,
    max_cost=25.0,
    max_concurrency=64,
    on_unavailable="local",
    lease_ttl=10.0,
)


async def one_worker(prompts: list[str]) -> float:
    async with Session(budget=budget, max_retries=2) as session:
        for prompt in prompts:
            try:
                await session.send(
                    ChatRequest(model="m/x", messages=[{"role": "user", "content": prompt}])
                )
            except BudgetExhaustedError as error:
                print(f"{error.budget}: ${error.spent:.2f} of ${error.max_cost:.2f} spent")
                break
            except BudgetUnavailableError:
                raise
    state: BudgetState = budget.state()
    remaining: float | None = state.remaining
    print(state.in_flight, state.holders, state.cool_down_remaining, state.tokens_ahead)
    return state.spent + (remaining or 0.0)


def sync_worker() -> int:
    with OpenRouter(budget=budget) as client:
        result = client.chat.send(model="m/x", messages=[{"role": "user", "content": "Hi"}])
    budget.flush()
    trips: int = budget.round_trips
    budget.close()
    return trips + len(result.choices or [])
