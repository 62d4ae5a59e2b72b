"""The read-only web interface to the archive (``newsarchive serve``)."""
from __future__ import annotations

from newsarchive.web.app import ARTICLE_EXTRAS, create_app, serve

__all__ = ["ARTICLE_EXTRAS", "create_app", "serve"]
