"""``POST /embeddings``: deterministic vectors.

The vector of an input depends only on the model and the input's text: unit length, the
model's dimension (1536 for ``openai/text-embedding-ada-002``; ``dimensions`` shortens it for
the models that allow it), drawn from SHAKE-256 of ``model + text``. ``input`` is a string, a
list of strings, a list of token ids, a list of lists of token ids, or multimodal items (their
text parts and image URLs). ``encoding_format: "base64"`` gives little-endian float32 bytes in
base64. The model must be an embedding model of the catalogue (404 if unknown, 400 if it does
not embed).
"""

from __future__ import annotations

import base64
import hashlib
import math
import struct
from typing import Any

from ._answer import (
    complete_json,
    error_200,
    fault_prelude,
    new_generation,
    record_call,
    request_faults,
)
from ._app import HTTPError, Request, Response
from ._catalogue import find_model, price_of
from ._routing import route

__all__ = ["embed", "embeddings", "register"]


def embed(model: str, text: str, dimensions: int) -> list[float]:
    """The unit vector of ``text`` for ``model`` (its first ``dimensions`` components,
    renormalised)."""
    raw = hashlib.shake_256(f"{model}\0{text}".encode()).digest(2 * dimensions)
    values = [value / 32767.5 - 1.0 for value in struct.unpack(f"<{dimensions}H", raw)]
    norm = math.sqrt(sum(value * value for value in values)) or 1.0
    return [round(value / norm, 8) for value in values]


def _texts(given: Any) -> list[str]:
    """The texts to embed, one per input."""
    if isinstance(given, str):
        if not given:
            raise HTTPError(400, "Invalid parameter input: an empty string cannot be embedded")
        return [given]
    if not isinstance(given, list) or not given:
        raise HTTPError(400, "Missing required parameter: input (a string or a non-empty array)")
    if all(isinstance(item, str) for item in given):
        if not all(given):
            raise HTTPError(400, "Invalid parameter input: an empty string cannot be embedded")
        return list(given)
    if all(isinstance(item, (int, float)) and not isinstance(item, bool) for item in given):
        return [" ".join(str(token) for token in given)]
    if all(isinstance(item, list) for item in given):
        return [" ".join(str(token) for token in item) for item in given]
    if all(isinstance(item, dict) for item in given):
        texts: list[str] = []
        for item in given:
            parts: list[str] = []
            for part in item.get("content") or ():
                if not isinstance(part, dict):
                    continue
                if isinstance(part.get("text"), str):
                    parts.append(part["text"])
                elif isinstance(part.get("image_url"), dict):
                    parts.append(str(part["image_url"].get("url", "")))
            texts.append(" ".join(parts))
        return texts
    raise HTTPError(400, "Invalid parameter input: mixed input types")


async def embeddings(request: Request) -> Response | None:
    faults = request_faults(request)
    body = request.json_object()
    model_id = body.get("model")
    if not isinstance(model_id, str) or not model_id:
        raise HTTPError(400, "Missing required parameter: model")
    if find_model(model_id) is None:
        raise HTTPError(404, f"Model {model_id} not found")
    routing = route(
        request,
        body,
        require=lambda entry: (
            None
            if entry.dimensions is not None
            else f"Model {entry.id} does not support embeddings"
        ),
        # The spec lists no 403 for POST /embeddings: a guardrail's refusal is the 404 of a
        # model with no endpoint left for this key (one of the statuses it lists).
        guardrail_status=404,
    )
    model = routing.entry
    assert model is not None and model.dimensions is not None
    model_id = routing.model
    texts = _texts(body.get("input"))
    dimensions = model.dimensions
    wanted = body.get("dimensions")
    if wanted is not None:
        if isinstance(wanted, bool) or not isinstance(wanted, int) or wanted < 1:
            raise HTTPError(400, "Invalid parameter dimensions: a positive integer")
        if wanted != dimensions and not (model.flexible_dimensions and wanted < dimensions):
            raise HTTPError(
                400, f"Model {model_id} does not support dimensions={wanted} (it has {dimensions})"
            )
        dimensions = wanted
    encoding = body.get("encoding_format", "float")
    if encoding not in ("float", "base64"):
        raise HTTPError(400, "Invalid parameter encoding_format: 'float' or 'base64'")

    await fault_prelude(request, faults, model_id)
    generation_id, _, _ = new_generation(request)
    headers = [("x-generation-id", generation_id)]
    if faults.error_200:
        return error_200(faults, model_id, headers)

    data: list[dict[str, Any]] = []
    for index, text in enumerate(texts):
        vector = embed(model.id, text, model.dimensions)[:dimensions]
        if dimensions != model.dimensions:
            norm = math.sqrt(sum(value * value for value in vector)) or 1.0
            vector = [round(value / norm, 8) for value in vector]
        embedding: list[float] | str = vector
        if encoding == "base64":
            embedding = base64.b64encode(struct.pack(f"<{dimensions}f", *vector)).decode()
        data.append({"object": "embedding", "embedding": embedding, "index": index})
    prompt_tokens = sum(max(1, len(text.split())) for text in texts)
    cost = price_of(model.id, prompt_tokens, 0)
    record_call(
        request,
        generation_id=generation_id,
        model=model.id,
        api_type="embeddings",
        prompt_tokens=prompt_tokens,
        completion_tokens=0,
        cost=cost,
        finish_reason=None,
        streamed=False,
        faults=faults,
        provider_name=routing.provider,
        body=body,
    )
    result = {
        "id": generation_id,
        "object": "list",
        "data": data,
        "model": model.id,
        "usage": {
            "prompt_tokens": prompt_tokens,
            "total_tokens": prompt_tokens,
            "cost": cost,
            "is_byok": False,
        },
    }
    if request.realistic:
        from ._realistic import embeddings_result

        result = embeddings_result(result, routing.provider)
    return await complete_json(request, faults, result, len(texts), headers)


def register(app: Any) -> None:
    app.add_route("POST", "/embeddings", embeddings, limited=True)
