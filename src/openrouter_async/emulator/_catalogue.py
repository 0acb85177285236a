"""The model catalogue: a small, realistic set of models and providers, and the routes that
show it.

``GET /models`` (filters: ``category``, ``supported_parameters``, ``output_modalities``,
``input_modalities``, ``q``, ``model_authors``, ``providers``, ``arch``, ``context``, prices,
``zdr``; ``sort``; ``offset``/``limit`` pages with ``links.next``), ``GET /models/count``,
``GET /models/user``, ``GET /model/{author}/{slug}``, ``GET /models/{author}/{slug}/endpoints``,
``GET /endpoints/zdr``, ``GET /providers``, ``GET /embeddings/models``.

Prices are strings of dollars per token, as OpenRouter publishes them; the emulator charges
the calls it serves with them (:func:`price_of`; models it does not know cost $1/M prompt
and $2/M completion tokens).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

from ._app import API_PREFIX, HTTPError, Request, Response, json_response

__all__ = [
    "MODELS",
    "PROVIDERS",
    "CatalogueModel",
    "endpoint_stat",
    "find_model",
    "price_of",
    "register",
]

_FALLBACK_PROMPT_PRICE = 1e-6
_FALLBACK_COMPLETION_PRICE = 2e-6


@dataclass(frozen=True)
class Provider:
    name: str  # the spec's ProviderName
    slug: str
    privacy_policy_url: str
    terms_of_service_url: str
    status_page_url: str | None
    headquarters: str
    datacenters: tuple[str, ...]
    #: Zero data retention endpoints.
    zdr: bool


PROVIDERS: tuple[Provider, ...] = (
    Provider(
        "OpenAI",
        "openai",
        "https://openai.com/policies/privacy-policy/",
        "https://openai.com/policies/row-terms-of-use/",
        "https://status.openai.com/",
        "US",
        ("US",),
        False,
    ),
    Provider(
        "Anthropic",
        "anthropic",
        "https://www.anthropic.com/legal/privacy",
        "https://www.anthropic.com/legal/commercial-terms",
        "https://status.anthropic.com/",
        "US",
        ("US",),
        True,
    ),
    Provider(
        "Google",
        "google-vertex",
        "https://cloud.google.com/terms/cloud-privacy-notice",
        "https://cloud.google.com/terms/",
        "https://status.cloud.google.com/",
        "US",
        ("US", "BE", "NL"),
        True,
    ),
    Provider(
        "Google AI Studio",
        "google-ai-studio",
        "https://policies.google.com/privacy",
        "https://ai.google.dev/gemini-api/terms",
        "https://aistudio.google.com/status",
        "US",
        ("US",),
        False,
    ),
    Provider(
        "Amazon Bedrock",
        "amazon-bedrock",
        "https://aws.amazon.com/privacy/",
        "https://aws.amazon.com/service-terms/",
        "https://health.aws.amazon.com/health/status",
        "US",
        ("US", "DE", "IE"),
        True,
    ),
    Provider(
        "Azure",
        "azure",
        "https://www.microsoft.com/en-us/privacy/privacystatement",
        "https://www.microsoft.com/en-us/legal/terms-of-use",
        "https://azure.status.microsoft/",
        "US",
        ("US", "SE"),
        True,
    ),
    Provider(
        "Mistral",
        "mistral",
        "https://mistral.ai/terms/#privacy-policy",
        "https://mistral.ai/terms/#terms-of-use",
        "https://status.mistral.ai/",
        "FR",
        ("FR", "SE"),
        False,
    ),
    Provider(
        "Together",
        "together",
        "https://www.together.ai/privacy",
        "https://www.together.ai/terms-of-service",
        "https://status.together.ai/",
        "US",
        ("US",),
        True,
    ),
    Provider(
        "DeepInfra",
        "deepinfra",
        "https://deepinfra.com/privacy",
        "https://deepinfra.com/terms",
        "https://status.deepinfra.com/",
        "US",
        ("US",),
        True,
    ),
    Provider(
        "Groq",
        "groq",
        "https://groq.com/privacy-policy/",
        "https://groq.com/terms-of-use/",
        "https://groqstatus.com/",
        "US",
        ("US",),
        True,
    ),
    Provider(
        "Fireworks",
        "fireworks",
        "https://fireworks.ai/privacy-policy",
        "https://fireworks.ai/terms-of-service",
        "https://status.fireworks.ai/",
        "US",
        ("US",),
        True,
    ),
)
_PROVIDERS_BY_NAME = {provider.name: provider for provider in PROVIDERS}

_OPENAI_PARAMETERS = (
    "temperature",
    "top_p",
    "max_tokens",
    "stop",
    "frequency_penalty",
    "presence_penalty",
    "seed",
    "logit_bias",
    "logprobs",
    "top_logprobs",
    "response_format",
    "structured_outputs",
    "tools",
    "tool_choice",
)
_INSTRUCT_PARAMETERS = (
    "temperature",
    "top_p",
    "max_tokens",
    "stop",
    "frequency_penalty",
    "presence_penalty",
    "seed",
    "logit_bias",
    "logprobs",
    "top_logprobs",
)
_CLAUDE_PARAMETERS = ("temperature", "top_p", "top_k", "max_tokens", "stop", "tools", "tool_choice")
_GEMINI_PARAMETERS = (
    "temperature",
    "top_p",
    "max_tokens",
    "stop",
    "seed",
    "response_format",
    "structured_outputs",
    "tools",
    "tool_choice",
)
_OPEN_WEIGHTS_PARAMETERS = (
    "temperature",
    "top_p",
    "top_k",
    "min_p",
    "max_tokens",
    "stop",
    "frequency_penalty",
    "presence_penalty",
    "repetition_penalty",
    "seed",
    "response_format",
    "tools",
    "tool_choice",
)


@dataclass(frozen=True)
class CatalogueModel:
    id: str
    name: str
    created: int
    description: str
    context_length: int
    max_completion_tokens: int | None
    prompt_price: str
    completion_price: str
    input_modalities: tuple[str, ...]
    output_modalities: tuple[str, ...]
    tokenizer: str
    instruct_type: str | None
    categories: tuple[str, ...]
    supported_parameters: tuple[str, ...]
    providers: tuple[str, ...]
    hugging_face_id: str | None = None
    #: Embedding models: the length of a vector.
    dimensions: int | None = None
    #: Embedding models: ``dimensions`` may ask for shorter vectors.
    flexible_dimensions: bool = False

    @property
    def author(self) -> str:
        return self.id.split("/", 1)[0]

    @property
    def modality(self) -> str:
        return f"{'+'.join(self.input_modalities)}->{'+'.join(self.output_modalities)}"

    @property
    def average_price(self) -> float:
        return (float(self.prompt_price) + float(self.completion_price)) / 2


MODELS: tuple[CatalogueModel, ...] = (
    CatalogueModel(
        "openai/gpt-4",
        "OpenAI: GPT-4",
        1685232000,
        "OpenAI's flagship model, GPT-4 is a large-scale multimodal language model capable of "
        "solving difficult problems with greater accuracy than previous models.",
        8191,
        4096,
        "0.00003",
        "0.00006",
        ("text",),
        ("text",),
        "GPT",
        None,
        ("programming", "technology", "science", "academia", "legal"),
        _OPENAI_PARAMETERS,
        ("OpenAI", "Azure"),
    ),
    CatalogueModel(
        "openai/gpt-4o",
        "OpenAI: GPT-4o",
        1715558400,
        'GPT-4o ("o" for "omni") is OpenAI\'s versatile, high-intelligence flagship model. '
        "It takes text and image inputs and produces text outputs.",
        128000,
        16384,
        "0.0000025",
        "0.00001",
        ("text", "image", "file"),
        ("text",),
        "GPT",
        None,
        ("programming", "technology", "marketing", "translation", "finance", "health"),
        _OPENAI_PARAMETERS,
        ("OpenAI", "Azure"),
    ),
    CatalogueModel(
        "openai/gpt-4o-mini",
        "OpenAI: GPT-4o-mini",
        1721260800,
        "GPT-4o mini is OpenAI's affordable small model for fast, lightweight tasks.",
        128000,
        16384,
        "0.00000015",
        "0.0000006",
        ("text", "image", "file"),
        ("text",),
        "GPT",
        None,
        ("marketing", "marketing/seo", "trivia", "translation", "roleplay"),
        _OPENAI_PARAMETERS,
        ("OpenAI", "Azure"),
    ),
    CatalogueModel(
        "openai/gpt-3.5-turbo-instruct",
        "OpenAI: GPT-3.5 Turbo Instruct",
        1695859200,
        "This model is a variant of GPT-3.5 Turbo tuned for instructional prompts and "
        "omitting chat-related optimizations. It is served by the legacy completions API.",
        4095,
        4096,
        "0.0000015",
        "0.000002",
        ("text",),
        ("text",),
        "GPT",
        "chatml",
        ("marketing", "trivia"),
        _INSTRUCT_PARAMETERS,
        ("OpenAI",),
    ),
    CatalogueModel(
        "openai/text-embedding-ada-002",
        "OpenAI: Text Embedding Ada 002",
        1671148800,
        "OpenAI's second-generation embedding model: 1536-dimension vectors.",
        8192,
        None,
        "0.0000001",
        "0",
        ("text",),
        ("embeddings",),
        "GPT",
        None,
        (),
        (),
        ("OpenAI",),
        dimensions=1536,
    ),
    CatalogueModel(
        "openai/text-embedding-3-small",
        "OpenAI: Text Embedding 3 Small",
        1706140800,
        "A small, efficient embedding model: 1536-dimension vectors, shortened on request.",
        8192,
        None,
        "0.00000002",
        "0",
        ("text",),
        ("embeddings",),
        "GPT",
        None,
        (),
        (),
        ("OpenAI",),
        dimensions=1536,
        flexible_dimensions=True,
    ),
    CatalogueModel(
        "openai/text-embedding-3-large",
        "OpenAI: Text Embedding 3 Large",
        1706140800,
        "OpenAI's most capable embedding model: 3072-dimension vectors, shortened on request.",
        8192,
        None,
        "0.00000013",
        "0",
        ("text",),
        ("embeddings",),
        "GPT",
        None,
        (),
        (),
        ("OpenAI",),
        dimensions=3072,
        flexible_dimensions=True,
    ),
    CatalogueModel(
        "anthropic/claude-3.5-sonnet",
        "Anthropic: Claude 3.5 Sonnet",
        1718841600,
        "Claude 3.5 Sonnet delivers better-than-Opus capabilities, faster-than-Sonnet speeds, "
        "at the same Sonnet prices. It is particularly good at coding and data science.",
        200000,
        8192,
        "0.000003",
        "0.000015",
        ("text", "image", "file"),
        ("text",),
        "Claude",
        None,
        ("programming", "roleplay", "technology", "science", "legal", "academia"),
        _CLAUDE_PARAMETERS,
        ("Anthropic", "Amazon Bedrock", "Google"),
    ),
    CatalogueModel(
        "anthropic/claude-3-haiku",
        "Anthropic: Claude 3 Haiku",
        1710288000,
        "Claude 3 Haiku is Anthropic's fastest and most compact model for near-instant "
        "responsiveness.",
        200000,
        4096,
        "0.00000025",
        "0.00000125",
        ("text", "image"),
        ("text",),
        "Claude",
        None,
        ("roleplay", "trivia", "translation"),
        _CLAUDE_PARAMETERS,
        ("Anthropic", "Amazon Bedrock"),
    ),
    CatalogueModel(
        "anthropic/claude-3-opus",
        "Anthropic: Claude 3 Opus",
        1709596800,
        "Claude 3 Opus is Anthropic's most powerful model for highly complex tasks.",
        200000,
        4096,
        "0.000015",
        "0.000075",
        ("text", "image"),
        ("text",),
        "Claude",
        None,
        ("science", "academia", "legal", "finance"),
        _CLAUDE_PARAMETERS,
        ("Anthropic",),
    ),
    CatalogueModel(
        "google/gemini-2.0-flash-001",
        "Google: Gemini 2.0 Flash",
        1738713600,
        "Gemini Flash 2.0 offers a significantly faster time to first token than Gemini "
        "Flash 1.5, with quality on par with larger models.",
        1048576,
        8192,
        "0.0000001",
        "0.0000004",
        ("text", "image", "file", "audio", "video"),
        ("text",),
        "Gemini",
        None,
        ("programming", "technology", "translation", "science"),
        _GEMINI_PARAMETERS,
        ("Google AI Studio", "Google"),
    ),
    CatalogueModel(
        "google/gemini-pro-1.5",
        "Google: Gemini 1.5 Pro",
        1712620800,
        "Google's Gemini 1.5 Pro: a two-million-token context window for long documents.",
        2000000,
        8192,
        "0.00000125",
        "0.000005",
        ("text", "image"),
        ("text",),
        "Gemini",
        None,
        ("academia", "science", "health"),
        _GEMINI_PARAMETERS,
        ("Google",),
    ),
    CatalogueModel(
        "google/gemma-2-9b-it",
        "Google: Gemma 2 9B",
        1719532800,
        "Gemma 2 9B by Google is an advanced, open-source language model.",
        8192,
        8192,
        "0.00000003",
        "0.00000006",
        ("text",),
        ("text",),
        "Gemini",
        "gemma",
        ("trivia",),
        _OPEN_WEIGHTS_PARAMETERS,
        ("DeepInfra", "Together"),
        hugging_face_id="google/gemma-2-9b-it",
    ),
    CatalogueModel(
        "meta-llama/llama-3.1-70b-instruct",
        "Meta: Llama 3.1 70B Instruct",
        1721692800,
        "Meta's Llama 3.1 70B instruct-tuned model, optimized for high-quality dialogue.",
        131072,
        16384,
        "0.0000001",
        "0.00000028",
        ("text",),
        ("text",),
        "Llama3",
        "llama3",
        ("roleplay", "programming", "marketing"),
        _OPEN_WEIGHTS_PARAMETERS,
        ("DeepInfra", "Together", "Fireworks"),
        hugging_face_id="meta-llama/Llama-3.1-70B-Instruct",
    ),
    CatalogueModel(
        "meta-llama/llama-3.1-8b-instruct",
        "Meta: Llama 3.1 8B Instruct",
        1721692800,
        "Meta's Llama 3.1 8B instruct-tuned model: fast and efficient.",
        131072,
        8192,
        "0.00000002",
        "0.00000005",
        ("text",),
        ("text",),
        "Llama3",
        "llama3",
        ("trivia", "translation", "roleplay"),
        _OPEN_WEIGHTS_PARAMETERS,
        ("DeepInfra", "Groq"),
        hugging_face_id="meta-llama/Llama-3.1-8B-Instruct",
    ),
    CatalogueModel(
        "mistralai/mistral-large",
        "Mistral Large",
        1708905600,
        "Mistral AI's flagship model, with strong multilingual and reasoning capabilities.",
        128000,
        None,
        "0.000002",
        "0.000006",
        ("text",),
        ("text",),
        "Mistral",
        None,
        ("programming", "finance", "legal", "translation"),
        _OPEN_WEIGHTS_PARAMETERS,
        ("Mistral",),
    ),
    CatalogueModel(
        "mistralai/codestral-2501",
        "Mistral: Codestral 2501",
        1736899200,
        "Mistral's cutting-edge language model for coding: fill-in-the-middle, code "
        "correction and test generation.",
        262144,
        None,
        "0.0000003",
        "0.0000009",
        ("text",),
        ("text",),
        "Mistral",
        None,
        ("programming", "technology"),
        _OPEN_WEIGHTS_PARAMETERS,
        ("Mistral",),
    ),
    CatalogueModel(
        "mistralai/mistral-7b-instruct",
        "Mistral: Mistral 7B Instruct",
        1716768000,
        "A high-performing, industry-standard 7.3B parameter model, optimized for speed and "
        "context length.",
        32768,
        16384,
        "0.000000028",
        "0.000000054",
        ("text",),
        ("text",),
        "Mistral",
        "mistral",
        ("roleplay", "trivia"),
        _OPEN_WEIGHTS_PARAMETERS,
        ("DeepInfra", "Together"),
        hugging_face_id="mistralai/Mistral-7B-Instruct-v0.3",
    ),
)
_MODELS_BY_ID = {model.id: model for model in MODELS}


def find_model(model_id: str) -> CatalogueModel | None:
    """A catalogue model by id (a ``:variant`` suffix such as ``:free`` is ignored)."""
    return _MODELS_BY_ID.get(model_id) or _MODELS_BY_ID.get(model_id.split(":", 1)[0])


def price_of(model_id: str, prompt_tokens: int, completion_tokens: int) -> float:
    """What a call costs, in dollars (nothing for a ``:free`` variant)."""
    if model_id.endswith(":free"):
        return 0.0
    model = find_model(model_id)
    if model is None:
        prompt, completion = _FALLBACK_PROMPT_PRICE, _FALLBACK_COMPLETION_PRICE
    else:
        prompt, completion = float(model.prompt_price), float(model.completion_price)
    return round(prompt_tokens * prompt + completion_tokens * completion, 12)


def provider_of(model_id: str) -> str:
    """The provider that serves a model (the first endpoint's), ``Emulator`` for unknown
    models."""
    model = find_model(model_id)
    return model.providers[0] if model is not None else "Emulator"


# -- JSON ------------------------------------------------------------------------------------


def _pricing(model: CatalogueModel) -> dict[str, Any]:
    pricing: dict[str, Any] = {
        "prompt": model.prompt_price,
        "completion": model.completion_price,
        "request": "0",
        "image": "0",
        "web_search": "0",
        "internal_reasoning": "0",
    }
    return pricing


def _architecture(model: CatalogueModel) -> dict[str, Any]:
    return {
        "modality": model.modality,
        "input_modalities": list(model.input_modalities),
        "output_modalities": list(model.output_modalities),
        "tokenizer": model.tokenizer,
        "instruct_type": model.instruct_type,
    }


def model_json(model: CatalogueModel) -> dict[str, Any]:
    """A model as the spec's ``Model``."""
    return {
        "id": model.id,
        "canonical_slug": model.id,
        "hugging_face_id": model.hugging_face_id,
        "name": model.name,
        "created": model.created,
        "description": model.description,
        "context_length": model.context_length,
        "architecture": _architecture(model),
        "pricing": _pricing(model),
        "top_provider": {
            "context_length": model.context_length,
            "max_completion_tokens": model.max_completion_tokens,
            "is_moderated": model.author in ("openai", "anthropic"),
        },
        "per_request_limits": None,
        "supported_parameters": list(model.supported_parameters),
        "default_parameters": {"temperature": None, "top_p": None, "frequency_penalty": None},
        "supported_voices": None,
        "expiration_date": None,
        "knowledge_cutoff": None,
        "links": {"details": f"{API_PREFIX}/models/{model.id}/endpoints"},
    }


def _stat(model: CatalogueModel, provider: str, salt: str, low: float, high: float) -> float:
    digest = hashlib.sha256(f"{model.id}|{provider}|{salt}".encode()).digest()
    fraction = int.from_bytes(digest[:4], "big") / 2**32
    return round(low + (high - low) * fraction, 2)


def endpoint_stat(
    model: CatalogueModel, provider: str, salt: str, low: float, high: float
) -> float:
    """A made-up but stable statistic of one endpoint (``latency``: 180-900 ms,
    ``throughput``: 35-180 tokens/s), as the endpoints route publishes it."""
    return _stat(model, provider, salt, low, high)


def _endpoint_json(model: CatalogueModel, provider_name: str) -> dict[str, Any]:
    """One provider's endpoint of a model as the spec's ``PublicEndpoint``. The statistics are
    made up, but stable."""
    provider = _PROVIDERS_BY_NAME[provider_name]
    p50 = _stat(model, provider_name, "latency", 180, 900)
    throughput = _stat(model, provider_name, "throughput", 35, 180)
    return {
        "name": f"{provider_name} | {model.id}",
        "model_id": model.id,
        "model_name": model.name,
        "context_length": model.context_length,
        "pricing": _pricing(model),
        "provider_name": provider_name,
        "tag": provider.slug,
        "quantization": None if model.hugging_face_id is None else "fp8",
        "max_completion_tokens": model.max_completion_tokens,
        "max_prompt_tokens": None,
        "supported_parameters": list(model.supported_parameters),
        "status": 0,
        "uptime_last_30m": _stat(model, provider_name, "uptime30m", 98.5, 100),
        "uptime_last_5m": 100.0,
        "uptime_last_1d": _stat(model, provider_name, "uptime1d", 99, 100),
        "supports_implicit_caching": provider_name in ("OpenAI", "Google AI Studio", "DeepInfra"),
        "latency_last_30m": {
            "p50": p50,
            "p75": round(p50 * 1.4, 2),
            "p90": round(p50 * 2.1, 2),
            "p99": round(p50 * 4.5, 2),
        },
        "throughput_last_30m": {
            "p50": throughput,
            "p75": round(throughput * 0.8, 2),
            "p90": round(throughput * 0.6, 2),
            "p99": round(throughput * 0.35, 2),
        },
        # Newer than the spec (the official SDK >= 1.3 requires them): extra fields here.
        "native_tools": {},
        "service_tier": None,
        "supports_diarization": False,
        "supports_tool_choice": {
            "auto": "tool_choice" in model.supported_parameters,
            "function": "tool_choice" in model.supported_parameters,
            "none": "tool_choice" in model.supported_parameters,
            "required": "tool_choice" in model.supported_parameters,
        },
    }


def _provider_json(provider: Provider) -> dict[str, Any]:
    return {
        "name": provider.name,
        "slug": provider.slug,
        "privacy_policy_url": provider.privacy_policy_url,
        "terms_of_service_url": provider.terms_of_service_url,
        "status_page_url": provider.status_page_url,
        "headquarters": provider.headquarters,
        "datacenters": list(provider.datacenters),
    }


# -- filters ---------------------------------------------------------------------------------


def _csv(value: str | None) -> list[str]:
    return [part.strip().lower() for part in (value or "").split(",") if part.strip()]


def _number(request: Request, name: str) -> float | None:
    value = request.query_value(name)
    if value is None or value == "":
        return None
    try:
        return float(value)
    except ValueError:
        raise HTTPError(400, f"Invalid query parameter {name}: {value!r} is not a number") from None


def _wants_output(model: CatalogueModel, output: str | None) -> bool:
    wanted = _csv(output) or ["text"]
    return "all" in wanted or any(kind in wanted for kind in model.output_modalities)


def _select(request: Request, *, embeddings: bool = False) -> list[CatalogueModel]:
    """The models a ``GET /models`` query asks for, sorted."""
    query = request.query_value
    models: list[CatalogueModel] = []
    category = query("category")
    supported = _csv(query("supported_parameters"))
    inputs = _csv(query("input_modalities"))
    text = (query("q") or "").strip().lower()
    authors = _csv(query("model_authors"))
    providers = _csv(query("providers"))
    arch = (query("arch") or "").strip().lower()
    context = _number(request, "context")
    min_price, max_price = _number(request, "min_price"), _number(request, "max_price")
    min_out, max_out = _number(request, "min_output_price"), _number(request, "max_output_price")
    zdr = query("zdr") == "true"
    for model in MODELS:
        if embeddings:
            if "embeddings" not in model.output_modalities:
                continue
        elif not _wants_output(model, query("output_modalities")):
            continue
        if category and category.lower() not in model.categories:
            continue
        if any(name not in model.supported_parameters for name in supported):
            continue
        if any(kind not in model.input_modalities for kind in inputs):
            continue
        if text and text not in model.id.lower() and text not in model.name.lower():
            continue
        if authors and model.author not in authors:
            continue
        if providers and not any(
            name.lower() in providers or _PROVIDERS_BY_NAME[name].slug in providers
            for name in model.providers
        ):
            continue
        if arch and model.tokenizer.lower() != arch:
            continue
        if context is not None and model.context_length < context:
            continue
        per_million = float(model.prompt_price) * 1e6
        if (min_price is not None and per_million < min_price) or (
            max_price is not None and per_million > max_price
        ):
            continue
        out_per_million = float(model.completion_price) * 1e6
        if (min_out is not None and out_per_million < min_out) or (
            max_out is not None and out_per_million > max_out
        ):
            continue
        if zdr and not any(_PROVIDERS_BY_NAME[name].zdr for name in model.providers):
            continue
        models.append(model)
    sort = query("sort")
    if sort == "pricing-low-to-high":
        models.sort(key=lambda m: m.average_price)
    elif sort == "pricing-high-to-low":
        models.sort(key=lambda m: -m.average_price)
    elif sort == "context-high-to-low":
        models.sort(key=lambda m: -m.context_length)
    elif sort == "throughput-high-to-low":
        models.sort(key=lambda m: -_stat(m, m.providers[0], "throughput", 35, 180))
    elif sort == "latency-low-to-high":
        models.sort(key=lambda m: _stat(m, m.providers[0], "latency", 180, 900))
    else:  # newest first (also "newest"); the other sorts keep this order
        models.sort(key=lambda m: -m.created)
    return models


def _page(
    request: Request, models: list[CatalogueModel], *, default_limit: int = 500
) -> dict[str, Any]:
    """A ``ModelsListResponse``: the whole list when neither ``offset`` nor ``limit`` is given,
    else one page and ``links.next``."""
    offset_text, limit_text = request.query_value("offset"), request.query_value("limit")
    total = len(models)
    next_url: str | None = None
    if offset_text is None and limit_text is None:
        page = models
    else:
        try:
            offset = int(offset_text) if offset_text not in (None, "", "null") else 0
            limit = int(limit_text) if limit_text not in (None, "") else default_limit
        except ValueError:
            raise HTTPError(
                400, "Invalid pagination parameters: offset and limit are integers"
            ) from None
        if offset < 0 or not 1 <= limit <= 1000:
            raise HTTPError(400, "Invalid pagination parameters: offset >= 0, 1 <= limit <= 1000")
        page = models[offset : offset + limit]
        if offset + limit < total:
            params = {k: v[-1] for k, v in request.query.items()}
            params.update(offset=str(offset + limit), limit=str(limit))
            next_url = f"{request.path}?{urlencode(params)}"
    result = {
        "data": [model_json(model) for model in page],
        "total_count": total,
        "links": {"next": next_url},
    }
    if request.realistic:
        from ._realistic import models_page

        return models_page(result)
    return result


# -- handlers --------------------------------------------------------------------------------


async def list_models(request: Request) -> Response:
    return json_response(_page(request, _select(request)))


async def count_models(request: Request) -> Response:
    output = request.query_value("output_modalities")
    count = sum(1 for model in MODELS if _wants_output(model, output))
    return json_response({"data": {"count": count}})


async def list_models_for_user(request: Request) -> Response:
    # The account has no provider preferences: every text model is available to it.
    return json_response(_page(request, _select(request)))


def _path_model(request: Request) -> CatalogueModel:
    model_id = f"{request.path_params['author']}/{request.path_params['slug']}"
    model = find_model(model_id)
    if model is None:
        raise HTTPError(404, f"Model {model_id} not found")
    return model


async def get_model(request: Request) -> Response:
    return json_response({"data": model_json(_path_model(request))})


async def list_endpoints(request: Request) -> Response:
    model = _path_model(request)
    return json_response(
        {
            "data": {
                "id": model.id,
                "name": model.name,
                "created": model.created,
                "description": model.description,
                "architecture": _architecture(model),
                "endpoints": [_endpoint_json(model, name) for name in model.providers],
            }
        }
    )


async def list_zdr_endpoints(request: Request) -> Response:
    endpoints = [
        _endpoint_json(model, name)
        for model in MODELS
        for name in model.providers
        if _PROVIDERS_BY_NAME[name].zdr
    ]
    return json_response({"data": endpoints})


async def list_providers(request: Request) -> Response:
    return json_response({"data": [_provider_json(provider) for provider in PROVIDERS]})


async def list_embedding_models(request: Request) -> Response:
    return json_response(_page(request, _select(request, embeddings=True)))


def register(app: Any) -> None:
    """Add the catalogue routes to an :class:`~._app.EmulatorApp` (public, like OpenRouter's,
    except ``/models/user``)."""
    app.add_route("GET", "/models", list_models, auth=False)
    app.add_route("GET", "/models/count", count_models, auth=False)
    app.add_route("GET", "/models/user", list_models_for_user)
    app.add_route("GET", "/model/{author}/{slug}", get_model, auth=False)
    app.add_route("GET", "/models/{author}/{slug}/endpoints", list_endpoints, auth=False)
    app.add_route("GET", "/endpoints/zdr", list_zdr_endpoints, auth=False)
    app.add_route("GET", "/providers", list_providers, auth=False)
    app.add_route("GET", "/embeddings/models", list_embedding_models, auth=False)
