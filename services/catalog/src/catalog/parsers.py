"""Streaming readers of import files: bytes in, (line number, raw row) out, in chunks.

Nothing holds more than one chunk of the file: bytes are decoded incrementally (a BOM is
dropped), split into physical lines, and joined into records while a quoted CSV field spans
lines. Each reader maps its format's columns onto the product's field names; validation is the
domain's job (catalog.domain.validation).
"""

from __future__ import annotations

import codecs
import csv
from collections.abc import AsyncIterator, Callable, Iterable
from typing import Any, Literal

import orjson

from catalog.domain.model import CATEGORY_SEPARATOR
from catalog.domain.validation import RowError

Format = Literal["jsonl", "csv", "bigbuy"]
Row = tuple[int, dict[str, Any] | RowError]

OUR_CSV_COLUMNS = (
    "sku",
    "ean",
    "title",
    "description",
    "images",
    "category_path",
    "brand",
    "weight_kg",
    "cost_amount",
    "cost_currency",
    "rrp_amount",
    "rrp_currency",
    "stock",
    "attributes",
    "updated_at",
)
BIGBUY_COLUMNS = [
    "ID",
    "CATEGORY",
    "NAME",
    "ATTRIBUTE1",
    "ATTRIBUTE2",
    "VALUE1",
    "VALUE2",
    "DESCRIPTION",
    "BRAND",
    "FEATURE",
    "PRICE",
    "PVP_BIGBUY",
    "PVD",
    "IVA",
    "VIDEO",
    "EAN13",
    "WIDTH",
    "HEIGHT",
    "DEPTH",
    "WEIGHT",
    "STOCK",
    "DATE_ADD",
    "DATE_UPD",
    "IMAGE1",
    "IMAGE2",
    "IMAGE3",
    "IMAGE4",
    "IMAGE5",
    "IMAGE6",
    "IMAGE7",
    "IMAGE8",
    "CONDITION",
    "INTRASTAT",
]


class FormatError(ValueError):
    """The file is not of the announced format at all (e.g. a CSV header is missing)."""


async def records(
    chunks: AsyncIterator[bytes], quoted: bool
) -> AsyncIterator[list[tuple[int, str]]]:
    """Batches of (first line number, record text) from a byte stream.

    With `quoted` (CSV), a record continues over line breaks inside double quotes.
    """
    decoder = codecs.getincrementaldecoder("utf-8-sig")(errors="replace")
    tail = ""
    line_no = 0
    pending: list[str] = []
    pending_start = 0
    quotes = 0
    async for chunk in chunks:
        text = tail + decoder.decode(chunk)
        lines = text.split("\n")
        tail = lines.pop()
        batch: list[tuple[int, str]] = []
        for line in lines:
            line_no += 1
            if not pending:
                pending_start = line_no
            pending.append(line)
            if quoted:
                quotes += line.count('"')
                if quotes % 2:
                    continue
            batch.append((pending_start, "\n".join(pending).rstrip("\r")))
            pending = []
            quotes = 0
        if batch:
            yield batch
    tail += decoder.decode(b"", final=True)
    if tail or pending:
        line_no += 1
        if not pending:
            pending_start = line_no
        pending.append(tail)
        text = "\n".join(pending).rstrip("\r")
        if text.strip():
            yield [(pending_start, text)]


def _split_attributes(value: str) -> dict[str, str] | str:
    value = value.strip()
    if not value:
        return {}
    if value.startswith("{"):
        try:
            parsed = orjson.loads(value)
        except orjson.JSONDecodeError:
            return value
        return parsed if isinstance(parsed, dict) else value
    out: dict[str, str] = {}
    for pair in value.split("|"):
        name, sep, val = pair.partition("=")
        if not sep:
            return value
        out[name.strip()] = val.strip()
    return out


def our_csv_row(cells: dict[str, str]) -> dict[str, Any]:
    row: dict[str, Any] = {k: v for k, v in cells.items() if k in OUR_CSV_COLUMNS}
    if "attributes" in row:
        row["attributes"] = _split_attributes(row["attributes"])
    return row


def bigbuy_row(cells: dict[str, str], currency: str) -> dict[str, Any]:
    """BigBuy's product CSV (docs/bigbuy.md, product files) in our field names.

    PVD is the cost (EUR, ex-VAT), PVP_BIGBUY the recommended retail price; CATEGORY is a
    comma-separated path of BigBuy category ids; an empty or "0" EAN13 is a missing EAN.
    """
    category = [c.strip() for c in cells.get("CATEGORY", "").split(",") if c.strip()]
    attributes = {}
    for n in ("1", "2"):
        name, value = cells.get(f"ATTRIBUTE{n}", "").strip(), cells.get(f"VALUE{n}", "").strip()
        if name and value:
            attributes[name] = value
    for column, name in (("IVA", "vat_rate"), ("CONDITION", "condition"), ("INTRASTAT", "hs_code")):
        if cells.get(column, "").strip():
            attributes[name] = cells[column].strip()
    date = cells.get("DATE_UPD", "").strip()
    return {
        "sku": cells.get("ID", ""),
        "ean": cells.get("EAN13", ""),
        "title": cells.get("NAME", ""),
        "description": cells.get("DESCRIPTION", ""),
        "images": [cells.get(f"IMAGE{i}", "") for i in range(1, 9)],
        "category_path": CATEGORY_SEPARATOR.join(category),
        "brand": cells.get("BRAND", ""),
        "weight_kg": cells.get("WEIGHT", ""),
        "cost_amount": cells.get("PVD", ""),
        "cost_currency": currency,
        "rrp_amount": cells.get("PVP_BIGBUY", "") or cells.get("PRICE", ""),
        "rrp_currency": currency,
        "stock": cells.get("STOCK", ""),
        "attributes": attributes,
        "updated_at": date.replace(" ", "T") if date else "",
    }


def jsonl_row(value: Any) -> dict[str, Any] | str:
    """One JSON object in the SupplierProduct shape of the upstream contract."""
    if not isinstance(value, dict):
        return "not a JSON object"
    row = dict(value)
    for kind in ("cost", "rrp"):
        money = row.pop(kind, None)
        if isinstance(money, dict):
            row[f"{kind}_amount"] = money.get("amount")
            row[f"{kind}_currency"] = money.get("currency")
        elif money is not None:
            return f"{kind} must be an object with amount and currency"
    return row


async def rows(
    chunks: AsyncIterator[bytes], fmt: Format, currency: str = "EUR"
) -> AsyncIterator[list[Row]]:
    """Batches of (line, raw row or RowError) in the product's field names."""
    header: list[str] | None = None
    convert: Callable[[dict[str, str]], dict[str, Any]]
    if fmt == "bigbuy":
        delimiter = ";"

        def convert(cells: dict[str, str]) -> dict[str, Any]:
            return bigbuy_row(cells, currency)

    else:
        delimiter = ","
        convert = our_csv_row
    async for batch in records(chunks, quoted=fmt != "jsonl"):
        out: list[Row] = []
        if fmt == "jsonl":
            for line, text in batch:
                if not text.strip():
                    continue
                try:
                    parsed = jsonl_row(orjson.loads(text))
                except orjson.JSONDecodeError as exc:
                    parsed = f"not valid JSON: {exc}"
                out.append(
                    (
                        line,
                        RowError(line, None, "line", parsed) if isinstance(parsed, str) else parsed,
                    )
                )
            yield out
            continue
        parsed_rows: Iterable[list[str]] = csv.reader((t for _, t in batch), delimiter=delimiter)
        for (line, text), cells in zip(batch, parsed_rows, strict=True):
            if not text.strip():
                continue
            if header is None:
                header = [h.strip().lstrip("\ufeff") for h in cells]
                if fmt == "csv":
                    header = [h.lower() for h in header]
                    if "sku" not in header:
                        raise FormatError("the CSV header has no sku column")
                elif "ID" not in header:
                    raise FormatError("not a BigBuy product CSV: its header has no ID column")
                continue
            if len(cells) != len(header):
                out.append(
                    (
                        line,
                        RowError(
                            line,
                            cells[0] if cells else None,
                            "line",
                            f"{len(cells)} columns where the header has {len(header)}",
                        ),
                    )
                )
                continue
            out.append((line, convert(dict(zip(header, cells, strict=True)))))
        yield out
