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


IDEMPOTENCE_CASES = [
    "http://a.b/x?b=2&a=1#f", "HTTP://A.B:80/%7Efoo/é?utm_source=x&q=a+b", "http://a.b/p%2Fq?x=%20",
    "http://a.b/?a=&b", "http://a.b/Сибирь?q=Москва", "http://a.b/a b", "http://a.b/%e9", "http://a.b/x?q=%zz",
    "http://a.b/x;p?q#f", "https://fr.rbth.com/economie/82005-russie?xtor=RSS-1&page=2", "http://127.0.0.1:8123/éco/",
]


@pytest.mark.parametrize("url", IDEMPOTENCE_CASES)
def test_a_canonical_url_is_its_own_canonical_form(url: str) -> None:
    """normalize_url remembers each result as its own canonical form: that must be true."""
    from crawler.urls import _normalize_url

    canonical = _normalize_url(url)
    assert _normalize_url(canonical) == canonical
    assert normalize_url(url) == canonical and normalize_url(canonical) == canonical
