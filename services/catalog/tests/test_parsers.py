"""The streaming readers, fed in awkward pieces: no I/O."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest

from catalog.domain.validation import RowError
from catalog.parsers import FormatError, rows


async def collect(body: bytes, fmt: Any, piece: int = 7) -> list[tuple[int, Any]]:
    async def chunks() -> AsyncIterator[bytes]:
        for i in range(0, len(body), piece):
            yield body[i : i + piece]

    out: list[tuple[int, Any]] = []
    async for batch in rows(chunks(), fmt):
        out.extend((row.line, row.value) for row in batch)
    return out


async def test_csv_with_crlf_quotes_and_multibyte_characters_split_anywhere() -> None:
    body = (
        "sku,title,description,cost_amount,cost_currency,attributes\r\n"
        'A-1,Łódka żółta,"wiersz 1\r\nwiersz ""2""",10.5,PLN,kolor=zielony|rozmiar=M\r\n'
        "A-2,Grabie,,3,EUR,\r\n"
        "A-3,too,few\r\n"
    ).encode()
    for piece in (1, 3, 7, 64):
        parsed = await collect(body, "csv", piece)
        assert [line for line, _ in parsed] == [2, 4, 5]
        first = parsed[0][1]
        assert first["title"] == "Łódka żółta"
        assert first["description"] == 'wiersz 1\r\nwiersz "2"'
        assert first["attributes"] == {"kolor": "zielony", "rozmiar": "M"}
        bad = parsed[2][1]
        assert isinstance(bad, RowError) and bad.field == "line" and bad.sku == "A-3"


async def test_bigbuy_header_with_bom_and_our_field_names() -> None:
    body = (
        "\ufeffID;CATEGORY;NAME;EAN13;PVD;PVP_BIGBUY;STOCK;IMAGE1;IMAGE2;DATE_UPD\n"
        "Z1;2491,2493;Koszulka;0;6.10;14.90;12;https://c/1.jpg;;2026-11-20 06:00:00\n"
    ).encode("utf-8")
    [(line, row)] = await collect(body, "bigbuy", 5)
    assert line == 2
    assert row["sku"] == "Z1" and row["category_path"] == "2491 > 2493"
    assert row["ean"] == "0" and row["cost_amount"] == "6.10" and row["cost_currency"] == "EUR"
    assert row["updated_at"] == "2026-11-20T06:00:00"
    assert [u for u in row["images"] if u] == ["https://c/1.jpg"]


async def test_jsonl_money_objects_and_broken_lines() -> None:
    body = (
        b'{"sku": "J1", "title": "T", "cost": {"amount": "1.5", "currency": "PLN"}}\n'
        b"\n"
        b'{"sku": "J2", "cost": 5}\n'
        b"[1, 2]\n"
        b'{"sku": "J3"}'  # no final newline
    )
    parsed = await collect(body, "jsonl", 4)
    assert [line for line, _ in parsed] == [1, 3, 4, 5]
    assert parsed[0][1]["cost_amount"] == "1.5"
    assert isinstance(parsed[1][1], RowError) and "cost" in parsed[1][1].reason
    assert isinstance(parsed[2][1], RowError)
    assert parsed[3][1] == {"sku": "J3"}


async def test_a_file_that_is_not_the_announced_format() -> None:
    with pytest.raises(FormatError):
        await collect(b"a;b\n1;2\n", "bigbuy")
    with pytest.raises(FormatError):
        await collect(b"title,cost\nx,1\n", "csv")
