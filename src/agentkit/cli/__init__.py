"""The ``agentkit`` command: parse, call the library, print. One module per command group; user errors become
one red line and exit 2."""

from agentkit.cli import cache, chat, distill, evaluation, finetune, hw01, kb, mcp, plugins, qa, web  # noqa: F401  (registers the commands)
from agentkit.cli._common import app


def main() -> None:
    app()


__all__ = ["app", "main"]
