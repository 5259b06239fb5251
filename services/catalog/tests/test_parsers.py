"""The streaming readers, fed in awkward pieces: no I/O."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest

from catalog.domain.validation import RowError
from catalog.parsers import (
    MAX_FIELD_CHARS,
    MAX_LINE_BYTES,
    FormatError,
    LineSplitter,
    rows,
)


async def collect(
    body: bytes, fmt: Any, piece: int = 7, encoding: str = "utf-8"
) -> list[tuple[int, Any]]:
    async def chunks() -> AsyncIterator[bytes]:
        for i in range(0, len(body), piece):
            yield body[i : i + piece]

    out: list[tuple[int, Any]] = []
    async for batch in rows(chunks(), fmt, encoding=encoding):
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


# --- bad files: every good row before and after a bad one is kept ------------------------------

HEADER = b"sku,title,description,cost_amount,cost_currency\n"


def good(n: int, end: bytes = b"\n") -> bytes:
    return f"G-{n},Grabie {n},opis,{n}.5,PLN".encode() + end


def kept(parsed: list[tuple[int, Any]]) -> list[str]:
    return [value["sku"] for _, value in parsed if not isinstance(value, RowError)]


def errors(parsed: list[tuple[int, Any]]) -> list[tuple[int, str]]:
    return [(line, value.code) for line, value in parsed if isinstance(value, RowError)]


async def test_an_unbalanced_quote_at_the_end_swallows_nothing() -> None:
    body = HEADER + good(1) + b'B-1,"Sekator,opis,3,PLN\n' + b"".join(good(n) for n in (2, 3, 4))
    for piece in (5, 64, 4096):
        parsed = await collect(body, "csv", piece)
        assert kept(parsed) == ["G-1", "G-2", "G-3", "G-4"]
        assert errors(parsed) == [(3, "unbalanced_quote")]
        assert parsed[1][1].sku == "B-1"
    # Open on the very last line, with no line end.
    parsed = await collect(HEADER + good(1) + b'B-2,"Sekator,opis,3,PLN', "csv")
    assert kept(parsed) == ["G-1"] and errors(parsed) == [(3, "unbalanced_quote")]


async def test_an_unbalanced_quote_closed_by_a_later_stray_quote() -> None:
    # The quote opened on line 3 is "closed" by the inch mark on line 6, column count and all:
    # a title may not span lines, so lines 4.. are read again and the inch row is kept as is.
    body = (
        HEADER
        + good(1)
        + b'B-1,"Sekator,opis,3,PLN\n'
        + good(2)
        + good(3)
        + b'M-1,Monitor 15",opis,400,PLN\n'
        + good(4)
    )
    parsed = await collect(body, "csv", 11)
    assert kept(parsed) == ["G-1", "G-2", "G-3", "M-1", "G-4"]
    assert errors(parsed) == [(3, "unbalanced_quote")]
    assert parsed[4][1]["title"] == 'Monitor 15"'


async def test_a_description_left_open_is_not_allowed_to_swallow_rows() -> None:
    # The description opened on line 3 is "closed" on line 5 with the right column count;
    # line 4 reads as a row of its own, so the record is not trusted.
    body = HEADER + good(1) + b'B-1,T,"broken,3,PLN\n' + good(2) + b'B-2,T,end",7,PLN\n' + good(3)
    parsed = await collect(body, "csv", 13)
    assert kept(parsed) == ["G-1", "G-2", "B-2", "G-3"]
    assert errors(parsed) == [(3, "unbalanced_quote")]
    # A description that really spans lines (commas and all) is kept whole.
    body = (
        HEADER + b'D-1,T,"one, two\nFeatures: red, big, soft, warm, cheap\nseven",3,PLN\n' + good(1)
    )
    parsed = await collect(body, "csv")
    assert kept(parsed) == ["D-1", "G-1"]
    assert parsed[0][1]["description"] == "one, two\nFeatures: red, big, soft, warm, cheap\nseven"


async def test_a_runaway_quoted_field_is_cut_and_reading_resumes() -> None:
    # 300 good rows after a quote that never closes: the record stops at MAX_RECORD_LINES and
    # the rows it swallowed are read again.
    body = (
        HEADER
        + good(0)
        + b'B-1,"never closed,opis,3,PLN\n'
        + b"".join(good(n) for n in range(1, 301))
    )
    parsed = await collect(body, "csv", 1000)
    assert kept(parsed) == [f"G-{n}" for n in range(301)]
    assert errors(parsed) == [(3, "unbalanced_quote")]
    # A runaway field inside one line: cut at the field limit, the next line is read.
    long_field = b'B-2,"' + b"x" * (MAX_FIELD_CHARS + 10) + b",opis,3,PLN\n"
    parsed = await collect(HEADER + good(1) + long_field + good(2), "csv", 65536)
    assert kept(parsed) == ["G-1", "G-2"] and errors(parsed) == [(3, "field_too_long")]


async def test_a_field_over_the_limit_nul_bytes_and_misplaced_quotes_are_row_errors() -> None:
    big = b"B-1,T," + b"x" * (MAX_FIELD_CHARS + 1) + b",3,PLN\n"
    body = (
        HEADER + good(1) + big + b"B-2,T\x00,opis,3,PLN\n" + b'B-3,"T" extra,opis,3,PLN\n' + good(2)
    )
    parsed = await collect(body, "csv", 4096)
    assert kept(parsed) == ["G-1", "G-2"]
    assert errors(parsed) == [(3, "field_too_long"), (4, "nul_byte"), (5, "bad_quote")]
    assert [v.sku for _, v in parsed if isinstance(v, RowError)] == ["B-1", "B-2", "B-3"]
    # An escaped NUL in a CSV cell's JSON is no attribute object (validation refuses the row).
    body = b'sku,attributes\nA-1,"{""k"": ""a\\u0000b""}"\nA-2,"{""k"": ""v""}"\n'
    parsed = await collect(body, "csv")
    assert [v["attributes"] for _, v in parsed] == ['{"k": "a\\u0000b"}', {"k": "v"}]


async def test_cr_only_line_ends_and_a_bare_cr_inside_a_description() -> None:
    body = HEADER.replace(b"\n", b"\r") + good(1, b"\r") + b'B-1,T,"a\rb",3,PLN\r' + good(2, b"\r")
    for piece in (1, 2, 7, 4096):
        parsed = await collect(body, "csv", piece)
        assert kept(parsed) == ["G-1", "B-1", "G-2"]
        assert [line for line, _ in parsed] == [2, 3, 5]
        assert parsed[1][1]["description"] == "a\rb"
    # In a \n file a bare CR still ends a line outside quotes and is data inside them.
    body = HEADER + good(1) + b'B-1,T,"a\rb",3,PLN\n' + good(2)
    assert kept(await collect(body, "csv", 3)) == ["G-1", "B-1", "G-2"]


async def test_undecodable_bytes_are_a_per_row_error_unless_the_encoding_is_declared() -> None:
    body = HEADER + good(1) + "B-1,Łódka żółta,opis,3,PLN\n".encode("cp1250") + good(2)
    parsed = await collect(body, "csv", 9)
    assert kept(parsed) == ["G-1", "G-2"]
    assert errors(parsed) == [(3, "bad_encoding")]
    assert "0xa3" in parsed[1][1].reason and "encoding" in parsed[1][1].reason
    parsed = await collect(body, "csv", 9, encoding="windows-1250")
    assert [v["title"] for _, v in parsed] == ["Grabie 1", "Łódka żółta", "Grabie 2"]
    # JSON Lines too: the bad line is reported, the others kept.
    jsonl = b'{"sku": "J1"}\n{"sku": "J\xe9"}\n{"sku": "J3"}\n'
    parsed = await collect(jsonl, "jsonl")
    assert kept(parsed) == ["J1", "J3"] and errors(parsed) == [(2, "bad_encoding")]
    assert kept(await collect(jsonl, "jsonl", encoding="latin-1"))[1] == "Jé"


async def test_whole_file_problems() -> None:
    cases: list[tuple[bytes, str, str, str]] = [
        (b"", "csv", "utf-8", "empty_file"),
        (b"\n\r\n  \n", "jsonl", "utf-8", "empty_file"),
        (b"\xef\xbb\xbf", "bigbuy", "utf-8", "empty_file"),
        (HEADER, "csv", "utf-8", "empty_file"),
        (b'{"sku": "J1"}\n', "csv", "utf-8", "bad_file"),  # JSON Lines announced as CSV
        (HEADER + good(1), "jsonl", "utf-8", "bad_file"),  # CSV announced as JSON Lines
        (HEADER + good(1), "csv", "utf-16", "unsupported_encoding"),
        (HEADER + good(1), "csv", "no-such-codec", "unsupported_encoding"),
        (b"\xef\xbb\xbf" + HEADER + good(1), "csv", "latin-1", "bad_encoding"),
        ("sku,tytuł\n".encode("utf-16-le"), "csv", "utf-8", "bad_encoding"),
        (b'sku,"title\n' + good(1), "csv", "utf-8", "bad_file"),  # the header's quote
    ]
    for body, fmt, encoding, code in cases:
        with pytest.raises(FormatError) as caught:
            await collect(body, fmt, encoding=encoding)
        assert caught.value.code == code, (body[:30], caught.value)


async def test_an_overlong_json_line_is_skipped_and_never_echoed() -> None:
    huge = b'{"sku": "' + b"S" * (3 * MAX_LINE_BYTES) + b'"}\n'
    body = b'{"sku": "J1"}\n' + huge + b'{"sku": "J3", "title": "a\\u0000b"}\n{"sku": "J4"}\n'
    for piece in (65536, len(body)):
        parsed = await collect(body, "jsonl", piece)
        assert kept(parsed) == ["J1", "J4"]
        assert errors(parsed) == [(2, "line_too_long"), (3, "nul_byte")]
        assert len(parsed[1][1].reason) < 200


def test_the_line_splitter_never_holds_more_than_its_limit() -> None:
    splitter = LineSplitter(max_bytes=1000)
    chunk = b"y" * 4096
    lines = splitter.feed(b"first\r")
    for _ in range(100):
        lines += splitter.feed(chunk)
        assert len(splitter.buffer) <= 1000
    lines += splitter.feed(b"\r\nlast", final=True)
    assert [(line.number, line.too_long, line.end) for line in lines] == [
        (1, False, b"\r"),
        (2, True, b"\r\n"),
        (3, False, b""),
    ]
    assert lines[1].data.startswith(b"yyy") and len(lines[1].data) <= 200
