"""Text out of the HTML that networks and feeds send (a Mastodon status, an RSS summary)."""

from __future__ import annotations

from html import unescape
from html.parser import HTMLParser


class _Text(HTMLParser):
    """The text of an HTML fragment; paragraphs and line breaks become newlines."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "br":
            self.parts.append("\n")
        elif tag == "p" and self.parts:
            self.parts.append("\n\n")

    def handle_data(self, data: str) -> None:
        self.parts.append(data)


def html_to_text(markup: str, *, one_line: bool = False) -> str:
    """The text of ``markup``, entities decoded: ``<p>``/``<br>`` as newlines, or all whitespace collapsed."""
    parser = _Text()
    parser.feed(markup)
    parser.close()
    text = unescape("".join(parser.parts))
    return " ".join(text.split()) if one_line else text.strip()
