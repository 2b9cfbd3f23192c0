"""Markdown written by admins (a workflow's guidelines) as HTML that is safe to put in a page.

markdown-it-py with raw HTML turned off: a ``<script>`` in the text comes out as escaped text,
and its link check refuses ``javascript:``, ``vbscript:``, ``file:`` and ``data:`` URLs.
"""

from functools import lru_cache

from django.utils.safestring import SafeString, mark_safe
from markdown_it import MarkdownIt

_renderer = MarkdownIt("commonmark", {"html": False, "typographer": False}).enable("table")


@lru_cache(maxsize=256)
def markdown_html(text: str) -> SafeString:
    """Rendered once per distinct text: guidelines are read on every review page."""
    return mark_safe(_renderer.render(text))  # noqa: S308 - raw HTML is off, see above
