"""Supplier HTML descriptions in Allegro's description format.

Allegro's description is sections of items: TEXT items whose HTML uses only h1, h2, p, ul, ol,
li and b (no attributes, no bare text outside a block), and IMAGE items. A supplier's HTML
(BigBuy's: divs, spans, tables, br, strong, inline styles, now and then a script) goes through
nh3 (the ammonia sanitiser) twice: first to a small known set of tags, so that what the walk
below reads is well-formed and holds no script, style or attribute but an http(s) image
source; then, after the walk has mapped it to Allegro's tags (h3-h6 -> h2, strong -> b, br
and table cells -> paragraphs), to exactly Allegro's tags, as a guarantee.

What is stored is that HTML with the images left in place as `<img src>`; `allegro_sections`
cuts it into Allegro's sections at the images.
"""

from __future__ import annotations

import html
import re
from html.parser import HTMLParser
from typing import Any

import nh3

ALLEGRO_TAGS = frozenset({"h1", "h2", "p", "ul", "ol", "li", "b"})
_READ_TAGS = ALLEGRO_TAGS | {
    "h3",
    "h4",
    "h5",
    "h6",
    "strong",
    "br",
    "img",
    "div",
    "section",
    "article",
    "table",
    "tbody",
    "thead",
    "tr",
    "td",
    "th",
    "blockquote",
    "dl",
    "dt",
    "dd",
    "hr",
}
_HEADINGS = {"h1": "h1", "h2": "h2", "h3": "h2", "h4": "h2", "h5": "h2", "h6": "h2"}
_BOLD = {"b", "strong"}
_LISTS = {"ul", "ol"}
_IMG = re.compile(r'<img src="([^"]*)">')
_SPACES = re.compile(r"\s+")


class _Walk(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.out: list[str] = []
        self.buffer: list[str] = []
        self.block = "p"
        self.bold = False
        self.list_tag: str | None = None
        self.items: list[str] = []
        self.in_item = False

    def flush(self) -> None:
        if self.bold:
            self.buffer.append("</b>")
            self.bold = False
        text = _SPACES.sub(" ", "".join(self.buffer)).strip()
        self.buffer = []
        if not re.sub(r"</?b>", "", text).strip():
            self.block = "p"
            return
        if self.in_item:
            self.items.append(f"<li>{text}</li>")
        else:
            self.out.append(f"<{self.block}>{text}</{self.block}>")
        self.block = "p"

    def end_list(self) -> None:
        self.flush()
        self.in_item = False
        if self.items and self.list_tag:
            self.out.append(f"<{self.list_tag}>{''.join(self.items)}</{self.list_tag}>")
        self.items = []
        self.list_tag = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in _BOLD:
            if not self.bold:
                self.buffer.append("<b>")
                self.bold = True
        elif tag == "img":
            src = dict(attrs).get("src")
            if src:
                if self.list_tag:
                    self.end_list()
                self.flush()
                self.out.append(f'<img src="{html.escape(src)}">')
        elif tag in _HEADINGS:
            self.flush()
            self.block = _HEADINGS[tag] if not self.in_item else "p"
        elif tag in _LISTS:
            if self.list_tag:  # a nested list joins its parent: Allegro nests none
                self.flush()
                return
            self.flush()
            self.list_tag = tag
        elif tag == "li":
            self.flush()
            self.in_item = self.list_tag is not None
        else:  # a block or a line break: the text so far is a paragraph
            self.flush()

    def handle_endtag(self, tag: str) -> None:
        if tag in _BOLD:
            if self.bold:
                self.buffer.append("</b>")
                self.bold = False
        elif tag in _LISTS and self.list_tag == tag:
            self.end_list()
        elif tag in _HEADINGS or tag == "li" or tag not in _BOLD:
            self.flush()

    def handle_data(self, data: str) -> None:
        # Runs of whitespace are one space (kept at the edges: "Lampa <b>LED</b>").
        self.buffer.append(html.escape(_SPACES.sub(" ", data), quote=False))

    def close(self) -> None:
        super().close()
        if self.list_tag:
            self.end_list()
        self.flush()


def sanitise_description(source: str) -> str:
    """Allegro's tags only, images as `<img src>`; plain text becomes paragraphs by line."""
    if not nh3.is_html(source):
        # Entities read as text first, so "a &amp; b" is not escaped twice.
        lines = [" ".join(html.unescape(line).split()) for line in source.splitlines()]
        return "".join(f"<p>{html.escape(line, quote=False)}</p>" for line in lines if line)
    read = nh3.clean(
        source,
        tags=set(_READ_TAGS),
        attributes={"img": {"src"}},
        url_schemes={"http", "https"},
        link_rel=None,
    )
    walk = _Walk()
    walk.feed(read)
    walk.close()
    # The guarantee: whatever the walk made, only Allegro's tags (and the image markers) stay.
    return nh3.clean(
        "".join(walk.out),
        tags=set(ALLEGRO_TAGS | {"img"}),
        attributes={"img": {"src"}},
        url_schemes={"http", "https"},
        link_rel=None,
    )


def allegro_sections(description: str | None) -> list[dict[str, Any]]:
    """The stored description as Allegro's `description.sections`: TEXT runs, IMAGE items."""
    if not description:
        return []
    sections: list[dict[str, Any]] = []
    parts = _IMG.split(description)
    for i, part in enumerate(parts):
        if i % 2:  # a captured image URL
            sections.append({"items": [{"type": "IMAGE", "url": html.unescape(part)}]})
        elif part.strip():
            sections.append({"items": [{"type": "TEXT", "content": part}]})
    return sections
