"""Which model and which provider serve a generation request: the ``models`` fallback list,
the ``provider`` preferences, and the key's guardrail.

Models
    The candidates are ``model`` then the ``models`` fallback list (duplicates dropped;
    ``models`` alone when ``model`` is absent; ``EmulatorConfig.default_model`` when both
    are). The first candidate that the catalogue has, that the key's guardrail allows and
    that has an endpoint left after the provider preferences serves the request, and is the
    ``model`` of the answer. A model the catalogue does not have is skipped, unless no
    candidate is known and ``EmulatorConfig.strict_models`` is off: then the first candidate
    is served anyway, by the provider ``Emulator`` (no provider preferences apply to it).
    When no candidate can serve, the error is the first candidate's: 400 ``<model> is not a
    valid model ID``, 403 (guardrail), or 404 (no endpoint left).

Providers (``provider`` of the body; names or slugs, any case: ``"OpenAI"``, ``"openai"``,
``"google-vertex"``, ``"deepinfra/fp8"``)
    A model's endpoints are its catalogue providers in catalogue order (the first one is the
    default, as ``GET /models/{author}/{slug}/endpoints`` lists them). The key's guardrail
    filters them first (``allowed_providers``, ``ignored_providers``, ``enforce_zdr_*``:
    nothing left is a 403), then the preferences (nothing left is a 404 ``No allowed
    providers are available for the selected model.``):

    - ``only`` / ``ignore``: keep / drop the endpoints of these providers;
    - ``zdr: true``, ``data_collection: "deny"``: zero-data-retention endpoints only;
    - ``require_parameters: true``: only if the model supports every sampling parameter the
      request sets (``tools``, ``response_format``, ``top_k``...);
    - ``quantizations``: endpoints whose quantization is listed (``fp8`` for open-weights
      models, ``unknown`` for the others);
    - ``max_price`` (``prompt``, ``completion``: dollars per million tokens): endpoints no
      dearer;
    - ``sort`` (``"price"``, ``"throughput"``, ``"latency"``, or ``{"by": ...}``): orders
      the endpoints by the statistics the endpoints route publishes (every endpoint of a model
      has the same price, so ``price`` keeps the catalogue order);
    - ``order``: these providers first, in this order; with ``allow_fallbacks: false``
      only them.

    The first endpoint left serves the request: its provider is the answer's ``provider``
    and the generation's ``provider_name``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from ._app import HTTPError, Request
from ._catalogue import PROVIDERS, CatalogueModel, endpoint_stat, find_model
from ._state import ApiKey

__all__ = ["Routing", "budget_problem", "candidates", "route"]

EMULATOR_PROVIDER = "Emulator"
_BY_NAME = {provider.name: provider for provider in PROVIDERS}

#: Request fields ``require_parameters`` checks against a model's ``supported_parameters``.
SAMPLING_PARAMETERS = (
    "temperature",
    "top_p",
    "top_k",
    "min_p",
    "top_a",
    "max_tokens",
    "stop",
    "frequency_penalty",
    "presence_penalty",
    "repetition_penalty",
    "seed",
    "logit_bias",
    "logprobs",
    "top_logprobs",
    "response_format",
    "structured_outputs",
    "tools",
    "tool_choice",
)

NO_PROVIDERS = "No allowed providers are available for the selected model."
NO_PARAMETERS = "No endpoints found that can handle the requested parameters."
NO_PRICE = "No endpoints found matching your price limits."


@dataclass(frozen=True)
class Routing:
    """The model and provider that serve a request."""

    #: The model as the answer reports it (a candidate as given, ``:free`` suffix kept).
    model: str
    #: The provider's name (``provider`` of the answer, ``provider_name`` of the generation).
    provider: str
    #: The catalogue entry (``None`` for an unknown model served anyway).
    entry: CatalogueModel | None


def candidates(body: dict[str, Any], default_model: str | None) -> list[str]:
    """``model`` then the ``models`` fallbacks (400 when there is none at all)."""
    found: list[str] = []
    model = body.get("model")
    if isinstance(model, str) and model:
        found.append(model)
    models = body.get("models")
    if models is not None:
        if not isinstance(models, list) or not all(isinstance(m, str) and m for m in models):
            raise HTTPError(400, "Invalid parameter models: an array of model IDs")
        found.extend(m for m in models if m not in found)
    if not found:
        if default_model:
            return [default_model]
        raise HTTPError(400, "Missing required parameter: model")
    return found


def _matches(provider_name: str, wanted: Any) -> bool:
    if not isinstance(wanted, str):
        return False
    text = wanted.strip().lower()
    provider = _BY_NAME.get(provider_name)
    names = {provider_name.lower()}
    if provider is not None:
        names.add(provider.slug)
    return text in names or text.split("/", 1)[0] in names


def _strings(preferences: dict[str, Any], name: str) -> list[str] | None:
    value = preferences.get(name)
    if value is None:
        return None
    if not isinstance(value, list) or not all(isinstance(item, str) for item in value):
        raise HTTPError(400, f"Invalid parameter provider.{name}: an array of provider slugs")
    return value


def _zdr(provider_name: str) -> bool:
    provider = _BY_NAME.get(provider_name)
    return provider is not None and provider.zdr


def _price_limit(max_price: Any, name: str) -> float | None:
    if not isinstance(max_price, dict) or max_price.get(name) is None:
        return None
    try:
        return float(max_price[name])
    except (TypeError, ValueError):
        raise HTTPError(
            400, f"Invalid parameter provider.max_price.{name}: dollars per million tokens"
        ) from None


def _preferred(
    entry: CatalogueModel, endpoints: list[str], body: dict[str, Any]
) -> tuple[list[str], str]:
    """The endpoints the ``provider`` preferences keep, best first, and why none when
    none."""
    preferences = body.get("provider")
    if preferences is None:
        return endpoints, NO_PROVIDERS
    if not isinstance(preferences, dict):
        raise HTTPError(400, "Invalid parameter provider: an object")
    reason = NO_PROVIDERS
    only = _strings(preferences, "only")
    if only is not None:
        endpoints = [e for e in endpoints if any(_matches(e, w) for w in only)]
    ignore = _strings(preferences, "ignore")
    if ignore:
        endpoints = [e for e in endpoints if not any(_matches(e, w) for w in ignore)]
    if preferences.get("zdr") is True or preferences.get("data_collection") == "deny":
        endpoints = [e for e in endpoints if _zdr(e)]
    quantizations = _strings(preferences, "quantizations")
    if quantizations is not None:
        quantization = "fp8" if entry.hugging_face_id is not None else "unknown"
        if quantization not in [q.lower() for q in quantizations]:
            endpoints = []
    if preferences.get("require_parameters") is True and endpoints:
        wanted = [name for name in SAMPLING_PARAMETERS if body.get(name) is not None]
        if any(name not in entry.supported_parameters for name in wanted):
            endpoints, reason = [], NO_PARAMETERS
    max_price = preferences.get("max_price")
    if max_price is not None and endpoints:
        prompt_limit = _price_limit(max_price, "prompt")
        completion_limit = _price_limit(max_price, "completion")
        if (prompt_limit is not None and float(entry.prompt_price) * 1e6 > prompt_limit) or (
            completion_limit is not None and float(entry.completion_price) * 1e6 > completion_limit
        ):
            endpoints, reason = [], NO_PRICE
    sort = preferences.get("sort")
    if isinstance(sort, dict):
        sort = sort.get("by")
    if sort == "throughput":
        endpoints.sort(key=lambda e: -endpoint_stat(entry, e, "throughput", 35, 180))
    elif sort == "latency":
        endpoints.sort(key=lambda e: endpoint_stat(entry, e, "latency", 180, 900))
    elif sort not in (None, "price", "exacto"):
        raise HTTPError(400, f"Invalid parameter provider.sort: {sort!r}")
    order = _strings(preferences, "order")
    if order:
        first = [e for wanted in order for e in endpoints if _matches(e, wanted)]
        first = list(dict.fromkeys(first))
        rest = [e for e in endpoints if e not in first]
        endpoints = first if preferences.get("allow_fallbacks") is False else first + rest
    return endpoints, reason


def _guardrail_allows_model(guardrail: dict[str, Any], model_id: str) -> bool:
    ids = {model_id, model_id.split(":", 1)[0]}
    allowed = guardrail.get("allowed_models")
    if allowed and not ids & set(allowed):
        return False
    ignored = guardrail.get("ignored_models")
    return not (ignored and ids & set(ignored))


def _zdr_flag(guardrail: dict[str, Any], entry: CatalogueModel) -> bool:
    family = {
        "anthropic": "enforce_zdr_anthropic",
        "openai": "enforce_zdr_openai",
        "google": "enforce_zdr_google",
        "x-ai": "enforce_zdr_xai",
    }.get(entry.author, "enforce_zdr_other")
    flag = guardrail.get(family)
    if flag is None:
        flag = guardrail.get("enforce_zdr")
    return flag is True


def _guardrail_endpoints(
    guardrail: dict[str, Any] | None, entry: CatalogueModel, endpoints: list[str]
) -> list[str]:
    if guardrail is None:
        return endpoints
    allowed = guardrail.get("allowed_providers")
    if allowed:
        endpoints = [e for e in endpoints if any(_matches(e, w) for w in allowed)]
    ignored = guardrail.get("ignored_providers")
    if ignored:
        endpoints = [e for e in endpoints if not any(_matches(e, w) for w in ignored)]
    if _zdr_flag(guardrail, entry):
        endpoints = [e for e in endpoints if _zdr(e)]
    return endpoints


def _guardrail_error(guardrail: dict[str, Any], message: str, status: int = 403) -> HTTPError:
    return HTTPError(
        status,
        message,
        metadata={"guardrail_id": guardrail["id"], "guardrail_name": guardrail.get("name")},
    )


def route(
    request: Request,
    body: dict[str, Any],
    *,
    default_model: str | None = None,
    require: Callable[[CatalogueModel], str | None] | None = None,
    guardrail_status: int = 403,
) -> Routing:
    """Choose the model and provider for a generation request (see the module docstring).
    ``require(entry)`` may return why a known model cannot serve this kind of request (400),
    e.g. an embeddings request for a chat model. ``guardrail_status`` is the status of a
    guardrail's refusal: 403, where the spec lists it for the route."""
    names = candidates(body, default_model)
    store = request.state.store
    guardrail = store.guardrail_of(request.key)
    strict = request.state.config.strict_models
    errors: list[HTTPError] = []
    for name in names:
        entry = find_model(name)
        if entry is None:
            errors.append(HTTPError(400, f"{name} is not a valid model ID"))
            continue
        if require is not None:
            problem = require(entry)
            if problem is not None:
                errors.append(HTTPError(400, problem))
                continue
        if guardrail is not None and not _guardrail_allows_model(guardrail, name):
            errors.append(
                _guardrail_error(
                    guardrail, f"Model {name} is not allowed by your guardrail", guardrail_status
                )
            )
            continue
        endpoints = _guardrail_endpoints(guardrail, entry, list(entry.providers))
        if not endpoints:
            assert guardrail is not None
            errors.append(
                _guardrail_error(
                    guardrail,
                    f"No provider of {name} is allowed by your guardrail",
                    guardrail_status,
                )
            )
            continue
        endpoints, reason = _preferred(entry, endpoints, body)
        if not endpoints:
            errors.append(HTTPError(404, reason))
            continue
        return Routing(name, endpoints[0], entry)
    if not strict and all(find_model(name) is None for name in names):
        first = names[0]
        if guardrail is not None and not _guardrail_allows_model(guardrail, first):
            raise _guardrail_error(
                guardrail, f"Model {first} is not allowed by your guardrail", guardrail_status
            )
        return Routing(first, EMULATOR_PROVIDER, None)
    raise errors[0]


def budget_problem(request: Request) -> str | None:
    """Why the key's guardrail refuses any more spending (402), or ``None``: its
    ``limit_usd`` applies to each key it is assigned to, against what the key spent since
    the emulator started."""
    key: ApiKey | None = request.key
    guardrail = request.state.store.guardrail_of(key)
    if key is None or guardrail is None:
        return None
    limit = guardrail.get("limit_usd")
    if limit is None or key.spent < limit:
        return None
    return (
        f"Guardrail budget exceeded: this key spent ${key.spent:.6f} of the "
        f"${limit:g} allowed by guardrail {guardrail.get('name')!r}"
    )
