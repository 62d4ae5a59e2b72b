"""URL normalisation: one article, one URL."""
import pytest

from crawler.urls import normalize_url


@pytest.mark.parametrize("url, expected", [
    ("https://fr.rbth.com/%C3%A9ducation/81910-x", "https://fr.rbth.com/%C3%A9ducation/81910-x"),
    ("https://fr.rbth.com/éducation/81910-x?utm_source=rss&utm_medium=feed#top", "https://fr.rbth.com/%C3%A9ducation/81910-x"),
    ("https://fr.rbth.com/e\u0301ducation/81910-x", "https://fr.rbth.com/%C3%A9ducation/81910-x"),
    ("http://127.0.0.1:8000/business/123?utm_source=topmain", "http://127.0.0.1:8000/business/123"),
    ("https://www.kommersant.ru/doc/7712345?from=burger", "https://www.kommersant.ru/doc/7712345"),
    ("HTTPS://WWW.Interfax.RU:443/business/1?b=2&a=1&fbclid=x", "https://www.interfax.ru/business/1?a=1&b=2"),
    ("https://fr.sputniknews.africa/20180718/x-1037253268.html?chat_room_id=1037253268",
     "https://fr.sputniknews.africa/20180718/x-1037253268.html"),
])
def test_normalize(url: str, expected: str) -> None:
    assert normalize_url(url) == expected
