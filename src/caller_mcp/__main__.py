"""``python -m caller_mcp`` is the ``caller-mcp`` console script."""

from .cli import main

if __name__ == "__main__":
    raise SystemExit(main())
