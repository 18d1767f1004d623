"""The browser client: static files (HTML, ES modules, CSS) served by the proxy."""

from pathlib import Path

STATIC_DIR = Path(__file__).resolve().parent
