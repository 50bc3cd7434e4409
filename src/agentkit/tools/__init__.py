"""Tools an agent can use: web search (``search``), safe page fetching (``fetch``), the URL guard
(``safety``) and the on-disk cache they share (``cache``)."""

from agentkit.tools.cache import WebCache
from agentkit.tools.fetch import Fetcher, Page, decode_body
from agentkit.tools.safety import check_url, is_public_address
from agentkit.tools.search import (
    CachedSearch,
    DuckDuckGoSearch,
    GoogleSearch,
    LocalSearch,
    Politeness,
    SearchBackend,
    SearchResult,
    SearxngSearch,
    clean_query,
    load_search,
)

__all__ = [
    "WebCache", "Fetcher", "Page", "decode_body", "check_url", "is_public_address", "CachedSearch", "DuckDuckGoSearch",
    "GoogleSearch", "LocalSearch", "Politeness", "SearchBackend", "SearchResult", "SearxngSearch", "clean_query",
    "load_search",
]
