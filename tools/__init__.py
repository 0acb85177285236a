"""Developer tools (not shipped): the model generator lives in ``tools.codegen``."""
