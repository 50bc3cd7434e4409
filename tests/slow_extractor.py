"""An HTML extractor for tests that is slow on marked pages: ``Fetcher(html_extractor="tests.slow_extractor:html_to_text")``.

It runs in the fetcher's worker process, so it must stay cheap to import (no test fixtures here).
"""

from __future__ import annotations

import time

from agentkit.loaders import html_to_text as real_html_to_text

SLOW_MARK = "<!-- agentkit-test: slow to extract -->"
SPIN_MARK = "<!-- agentkit-test: spins while extracting -->"


def html_to_text(html: str) -> tuple[str, str]:
    """The real extractor, except on pages with a test mark: those sleep, or spin a core, for a minute."""
    if SLOW_MARK in html:
        time.sleep(60)
    if SPIN_MARK in html:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            pass
    return real_html_to_text(html)
