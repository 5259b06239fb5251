"""Supplier HTML to Allegro's description format, by the sanitiser (no I/O)."""

from __future__ import annotations

import re
from datetime import UTC, datetime

from catalog.domain.description import ALLEGRO_TAGS, allegro_sections, sanitise_description
from catalog.domain.items import item_content
from catalog.domain.model import merge
from catalog.domain.validation import validate_row

# A BigBuy-like description: styled divs, a table, strong, br, a script, an event handler, a
# javascript: image, a nested list, an entity.
BIGBUY = """<div style="font-family:Arial"><h3>Características</h3>
<p>Lampa <strong>LED</strong> &amp; bateria<br>druga linia</p><script>alert(1)</script>
<ul><li>Moc: 5 W</li><li><b>Kolor</b>: biały<ul><li>ciepły</li></ul></li></ul>
<img src="https://cdn.bigbuy.eu/images/1.jpg" onerror="steal()">
<img src="javascript:alert(1)"><table><tr><td>Waga</td></tr></table>
<a href="http://x.example" onclick="x()">więcej</a><style>p{color:red}</style></div>"""


def test_only_allegro_s_tags_stay_and_no_script_survives() -> None:
    out = sanitise_description(BIGBUY)
    assert set(re.findall(r"</?([a-z0-9]+)", out)) <= ALLEGRO_TAGS | {"img"}
    for bad in ("script", "alert", "onerror", "steal", "style", "javascript", "href", "color"):
        assert bad not in out
    assert out == (
        "<h2>Características</h2><p>Lampa <b>LED</b> &amp; bateria</p><p>druga linia</p>"
        "<ul><li>Moc: 5 W</li><li><b>Kolor</b>: biały</li><li>ciepły</li></ul>"
        '<img src="https://cdn.bigbuy.eu/images/1.jpg"><p>Waga</p><p>więcej</p>'
    )


def test_sections_are_text_runs_and_images() -> None:
    sections = allegro_sections(sanitise_description(BIGBUY))
    assert [[i["type"] for i in s["items"]] for s in sections] == [["TEXT"], ["IMAGE"], ["TEXT"]]
    assert sections[1]["items"][0]["url"] == "https://cdn.bigbuy.eu/images/1.jpg"
    assert sections[2]["items"][0]["content"] == "<p>Waga</p><p>więcej</p>"


def test_plain_text_becomes_paragraphs_and_is_escaped() -> None:
    assert sanitise_description("Linia 1\n\n a < b & c ") == "<p>Linia 1</p><p>a &lt; b &amp; c</p>"
    assert sanitise_description("a &amp; b") == "<p>a &amp; b</p>"
    assert sanitise_description("<b>bare</b> text") == "<p><b>bare</b> text</p>"
    assert sanitise_description("<script>x</script>") == ""


def test_the_source_is_kept_for_audit_and_the_item_carries_the_sections() -> None:
    row = {"sku": "S", "title": "T", "cost_amount": "1", "cost_currency": "EUR"}
    record = validate_row(row | {"description": BIGBUY}, 2, datetime(2026, 11, 1, tzinfo=UTC))
    assert not isinstance(record, list)
    product = merge(None, record, "test").product
    assert product.received["description"] == BIGBUY
    assert "<script>" not in (product.description or "")
    content = item_content(product, None, 1)
    assert content["description"] == product.description
    assert len(content["description_sections"]) == 3
    plain = validate_row(row | {"description": "Zwykły opis."}, 2, datetime.now(UTC))
    assert not isinstance(plain, list)
    plain_product = merge(None, plain, "test").product
    assert plain_product.description == "<p>Zwykły opis.</p>" and plain_product.received == {}
