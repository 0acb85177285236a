"""``uv run python -m tools.codegen [--check] [--spec PATH] [--out DIR]`` — see README.md."""

from __future__ import annotations

import sys

from .cli import main

if __name__ == "__main__":
    sys.exit(main())
