"""The model generator: OpenAPI spec → attrs models under ``src/openrouter_async/models``.

Run it from the project root with ``uv run python -m tools.codegen`` (see README.md).
"""
