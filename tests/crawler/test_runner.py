"""crawler.runner's import of Scrapy's HTTP download handler (without inspect.stack's source reads)."""
from __future__ import annotations

import subprocess
import sys

from tests.helpers import ROOT


def test_the_http_handler_is_imported_with_scrapy_naming_its_deprecated_classes_as_usual() -> None:
    code = ("import inspect, sys, warnings\n"
            "warnings.simplefilter('error')\n"  # scrapy warns when it cannot name the module
            "stack = inspect.stack\n"
            "import crawler.runner\n"
            "from scrapy.core.downloader import contextfactory, tls\n"
            "assert 'scrapy.core.downloader.handlers.http11' in sys.modules\n"
            "print(contextfactory.ScrapyClientContextFactory.__module__,\n"
            "      contextfactory.AcceptableProtocolsContextFactory.__module__,\n"
            "      tls.ScrapyClientTLSOptions.__module__, inspect.stack is stack)\n")
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert out.stdout.split() == ["scrapy.core.downloader.contextfactory", "scrapy.core.downloader.contextfactory",
                                  "scrapy.core.downloader.tls", "True"], out.stderr
