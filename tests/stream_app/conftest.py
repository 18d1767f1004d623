"""Fixtures of the stream app's tests: `media_site`, a Chromium page's aiortc answerer (support.media_browser)."""

from support.media_browser import media_site

__all__ = ["media_site"]
