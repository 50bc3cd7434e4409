"""Errors a user can cause. Each carries one line naming the cause and a hint with the fix.

The CLI prints ``str(error)`` and exits non-zero; library callers can catch the specific class.
"""

from __future__ import annotations


class AgentkitError(Exception):
    """Base for every user-facing error: ``message`` says what went wrong, ``hint`` how to fix it."""

    exit_code = 2

    def __init__(self, message: str, hint: str = "") -> None:
        self.message = message
        self.hint = hint
        super().__init__(f"{message} — {hint}" if hint else message)


class ConfigError(AgentkitError):
    """A bad spec, option or argument."""


class ModelNotFoundError(AgentkitError):
    """A model file or model name that does not exist."""


class BackendUnavailableError(AgentkitError):
    """A server that cannot be reached or answered with an error."""


class LLMTimeoutError(AgentkitError):
    """A model call that ran past its timeout."""


class ContextOverflowError(AgentkitError):
    """Input that cannot fit the model's context window."""


class InputError(AgentkitError):
    """Bad user input: empty question, missing file, unreadable document."""


class KnowledgeBaseError(AgentkitError):
    """A knowledge base that cannot be opened or written as asked."""


class SearchError(AgentkitError):
    """A web search that failed: engine unreachable, blocked us, or answered garbage."""


class FetchError(AgentkitError):
    """A page that could not be fetched: refused by the URL guard, timed out, too many redirects, not text."""


class PrivateAddressError(FetchError):
    """A URL refused because it leads to a loopback, private, link-local or metadata address (``allow_private``
    lifts the guard)."""


class MissingExtraError(AgentkitError):
    """A feature whose optional dependencies are not installed; the hint names the pip extra."""


class PluginError(AgentkitError):
    """A plugin that cannot be registered or loaded (duplicate name, broken entry point)."""
