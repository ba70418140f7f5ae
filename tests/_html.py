"""Reading published HTML as a browser does (the standard library's parser, not string matching)."""
from __future__ import annotations

from html.parser import HTMLParser


class _Tags(HTMLParser):
    def __init__(self):
        super().__init__()
        self.tags: list[tuple[str, dict]] = []

    def handle_starttag(self, tag, attrs):
        self.tags.append((tag, dict(attrs)))


def tags(page: str, name: str) -> list[dict]:
    """The attributes of every ``<name>`` element of ``page``."""
    parser = _Tags()
    parser.feed(page)
    return [attrs for tag, attrs in parser.tags if tag == name]


def embedded_pngs(page: str) -> list[str]:
    """The ``src`` of every ``<img>`` that embeds a PNG (``data:image/png;base64,...``)."""
    return [a["src"] for a in tags(page, "img") if (a.get("src") or "").startswith("data:image/png;base64,")]


def fetched_urls(page: str) -> list[str]:
    """What loading ``page`` fetches: script, stylesheet, image and frame sources."""
    urls = [a.get("src") for t in ("script", "img", "iframe") for a in tags(page, t)]
    urls += [a.get("href") for a in tags(page, "link") if "stylesheet" in (a.get("rel") or "")]
    return [u for u in urls if u]
