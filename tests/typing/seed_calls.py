"""Every call of the product description's examples, with the argument types used there.

Not a test that runs: ``mypy --strict`` checks this file (``.ci/run`` does), proving that the
public API is typed — results are models, not ``Any`` — and that the examples' arguments
(``offset="0"``, dict messages, ``security=operations.…(bearer=...)``) type-check as written.
Each ``_: T = expr`` line pins the type an attribute access yields. Response fields are
honestly ``T | None`` (a server may leave any of them out, see ``_lenient.py``): the
``is not None`` checks below are all a caller needs, never a cast or an ``Unset`` test.
"""

from __future__ import annotations

import asyncio
import os

from openrouter_async import OpenRouter, errors, operations
from openrouter_async.models import ChatStreamChunk


def chat(client: OpenRouter) -> None:
    response = client.chat.send(
        model="openai/gpt-4",
        messages=[
            {"role": "system", "content": "You are a helpful assistant."},
            {"role": "user", "content": "Explain quantum computing in simple terms."},
        ],
        temperature=0.7,
        max_tokens=500,
    )
    if response.choices is not None:
        message = response.choices[0].message
        if message is not None:
            content: object = message.content
            print(content)
    stream = client.chat.send(
        model="anthropic/claude-3.5-sonnet",
        messages=[{"role": "user", "content": "Write a short poem about AI"}],
        stream=True,
    )
    with stream as event_stream:
        for event in event_stream:
            chunk: ChatStreamChunk = event
            delta = chunk.choices[0].delta if chunk.choices else None
            if delta is not None and delta.content:
                print(delta.content, end="")
    client.chat.send(
        model="openai/gpt-4",
        messages=[{"role": "user", "content": "Hello!"}],
        provider={"zdr": True, "sort": "price"},
    )


async def chat_async() -> None:
    async with OpenRouter(api_key=os.getenv("OPENROUTER_API_KEY", "")) as client:
        response = await client.chat.send_async(
            model="openai/gpt-4", messages=[{"role": "user", "content": "Hello!"}]
        )
        if response.choices is not None and response.choices[0].message is not None:
            print(response.choices[0].message.content)
        stream = await client.chat.send_async(
            model="openai/gpt-4", messages=[{"role": "user", "content": "Hi"}], stream=True
        )
        async with stream as event_stream:
            async for event in event_stream:
                delta = event.choices[0].delta if event.choices else None
                if delta is not None and delta.content:
                    print(delta.content, end="")


def completions(client: OpenRouter) -> None:
    response = client.completions.generate(
        model="openai/gpt-3.5-turbo-instruct",
        prompt="Once upon a time in a land far away,",
        max_tokens=200,
        temperature=0.8,
        stream=False,
    )
    if response.choices is not None and response.choices[0].text is not None:
        text: str = response.choices[0].text
        print(text)


def responses(client: OpenRouter) -> None:
    response = client.beta.responses.send(
        model="anthropic/claude-3.5-sonnet",
        input=[{"role": "user", "content": "What is the capital of France?"}],
        service_tier="auto",
        stream=False,
    )
    with response as event_stream:
        for event in event_stream:
            print(event)
    client.beta.responses.send(
        model="openai/gpt-4",
        input=[{"role": "user", "content": "Calculate 25 * 47"}],
        reasoning={"summary": "auto", "enabled": True},
        tools=[
            {
                "type": "function",
                "function": {
                    "name": "calculator",
                    "description": "Performs arithmetic calculations",
                    "parameters": {
                        "type": "object",
                        "properties": {"expression": {"type": "string"}},
                    },
                },
            }
        ],
        temperature=0.5,
    )


def models(client: OpenRouter) -> None:
    listed = client.models.list()
    for model in listed.data or ():
        model_id: str | None = model.id
        print(f"{model_id}: {model.name} {model.context_length}")
        if model.pricing is not None:
            prompt: str | None = model.pricing.prompt
            print(f"${prompt}/1K prompt, ${model.pricing.completion}/1K completion")
    count = client.models.count()
    if count.data is not None and count.data.count is not None:
        total: int = count.data.count
        print(total)
    client.models.list(category="programming")
    client.models.list_for_user(
        security=operations.ListModelsUserSecurity(bearer=os.getenv("OPENROUTER_BEARER", ""))
    )


def embeddings(client: OpenRouter) -> None:
    response = client.embeddings.generate(
        input="The quick brown fox jumps over the lazy dog.",
        model="openai/text-embedding-ada-002",
    )
    embedding = response.data[0].embedding if response.data else None
    if embedding is not None:
        print(f"Embedding dimension: {len(embedding)}")
    response = client.embeddings.generate(
        input=["First sentence", "Second sentence", "Third sentence"],
        model="openai/text-embedding-ada-002",
        encoding_format="float",
    )
    for i, item in enumerate(response.data or ()):
        if item.embedding is not None:
            print(f"Text {i}: {len(item.embedding)} dimensions")
    for model in client.embeddings.list_models().data or ():
        print(f"Embedding model: {model.id}")


def api_keys(client: OpenRouter) -> None:
    current_key = client.api_keys.get_current_key_metadata()
    data = current_key.data
    if data is not None:
        label: str | None = data.label
        print(label, data.usage, data.limit, data.limit_remaining)
    keys = client.api_keys.list(include_disabled="false", offset="0")
    for key in keys.data or ():
        if key.hash is not None:
            print(f"{key.name}: {key.hash[:16]}... Usage: ${key.usage}")
    new_key = client.api_keys.create(
        name="Production API Key", limit=100.0, limit_reset="monthly", include_byok_in_limit=True
    )
    print(f"New key created: {new_key.key}")
    client.api_keys.update(
        hash="f01d52606dc8f0a8303a7b5cc3fa07109c2e346cec7c0a16b40de462992ce943",
        name="Updated Key Name",
        limit=150.0,
        disabled=False,
    )
    result = client.api_keys.delete(
        hash="f01d52606dc8f0a8303a7b5cc3fa07109c2e346cec7c0a16b40de462992ce943"
    )
    print(f"Deleted: {result.deleted}")


def credits(client: OpenRouter) -> None:
    balance = client.credits.get_credits()
    credit = balance.data
    if credit is not None and credit.total_credits is not None and credit.total_usage is not None:
        remaining: float = credit.total_credits - credit.total_usage
        print(remaining)
    charge = client.credits.create_coinbase_charge(
        security=operations.CreateCoinbaseChargeSecurity(bearer=os.getenv("OPENROUTER_BEARER", "")),
        amount=100,
        sender="0x1234567890123456789012345678901234567890",
        chain_id=1,
    )
    if charge.data is not None:
        charge_id: str | None = charge.data.id
        print(charge_id)


def generations(client: OpenRouter) -> None:
    generation = client.generations.get_generation(id="gen-3bhGkxlo4XFrqiabUM7NDtwDzWwG")
    data = generation.data
    if data is not None:
        print(data.model, data.provider_name, data.total_cost, data.latency)
        print(data.tokens_prompt, data.tokens_completion, data.finish_reason)


def providers_and_endpoints(client: OpenRouter) -> None:
    for provider in client.providers.list().data or ():
        print(f"{provider.name} ({provider.slug}) {provider.privacy_policy_url}")
    endpoints = client.endpoints.list(author="openai", slug="gpt-4")
    if endpoints.data is not None:
        print(f"Model: {endpoints.data.name}")
        for endpoint in endpoints.data.endpoints or ():
            print(endpoint.provider_name, endpoint.context_length, endpoint.uptime_last_30m)
            if endpoint.latency_last_30m is not None:
                print(endpoint.latency_last_30m.p50)
    print(len(client.endpoints.list_zdr_endpoints().data or ()))


def analytics(client: OpenRouter) -> None:
    activity = client.analytics.get_user_activity(date_="2025-01-15")
    for item in activity.data or ():
        if item.prompt_tokens is not None and item.completion_tokens is not None:
            tokens: int = item.prompt_tokens + item.completion_tokens
            print(item.date, item.model, item.provider_name, item.requests, item.usage, tokens)


def guardrails(client: OpenRouter) -> None:
    for g in client.guardrails.list().data or ():
        print(f"{g.name} (ID: {g.id})")
    new_guardrail = client.guardrails.create(
        name="Production Guardrail",
        description="Limit production API usage",
        limit_usd=100.0,
        reset_interval="monthly",
        allowed_providers=["openai", "anthropic"],
        allowed_models=["openai/gpt-4", "anthropic/claude-3.5-sonnet"],
        enforce_zdr=True,
    )
    assert new_guardrail.data is not None and new_guardrail.data.id is not None
    guardrail_id: str = new_guardrail.data.id
    client.guardrails.bulk_assign_keys(
        id=guardrail_id,
        key_hashes=["c56454edb818d6b14bc0d61c46025f1450b0f4012d12304ab40aacb519fcbc93"],
    )
    client.guardrails.bulk_assign_members(
        id=guardrail_id, member_user_ids=["user_abc123", "user_def456"]
    )
    client.guardrails.update(id=guardrail_id, limit_usd=150.0, name="Updated Production Guardrail")
    client.guardrails.delete(id=guardrail_id)


def oauth(client: OpenRouter) -> None:
    auth_response = client.o_auth.create_auth_code(
        callback_url="https://myapp.com/auth/callback",
        code_challenge="E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM",
        code_challenge_method="S256",
        limit=100.0,
    )
    if auth_response.data is not None:
        print(f"Auth Code ID: {auth_response.data.id}")
    key_response = client.o_auth.exchange_auth_code_for_api_key(
        code="auth_code_abc123def456",
        code_verifier="dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk",
        code_challenge_method="S256",
    )
    user_key: str | None = key_response.key
    print(user_key, key_response.user_id)


def error_handling(client: OpenRouter) -> None:
    try:
        client.chat.send(model="openai/gpt-4", messages=[{"role": "user", "content": "Hello!"}])
    except errors.UnauthorizedResponseError as e:
        print(f"Authentication failed: {e.data.error.message}")
    except errors.TooManyRequestsResponseError as e:
        print(f"Rate limited: {e.data.error.message}")
    except errors.ChatError as e:
        print(f"Chat error: {e.message}")
    except errors.OpenRouterError as e:
        print(f"API error: {e.message} {e.status_code}")


def main() -> None:
    with OpenRouter(api_key=os.getenv("OPENROUTER_API_KEY", "")) as client:
        for step in (chat, completions, responses, models, embeddings, api_keys, credits):
            step(client)
        for step in (generations, providers_and_endpoints, analytics, guardrails, oauth):
            step(client)
        error_handling(client)
    asyncio.run(chat_async())
