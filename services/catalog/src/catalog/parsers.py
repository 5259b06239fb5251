"""Streaming readers of import files: bytes in, batches of (line, raw row or RowError) out.

Memory is bounded whatever the file holds: bytes are split into physical lines (`\n`, `\r\n`
or a lone `\r`) without ever holding more than MAX_LINE_BYTES of one line; a longer line is
skipped to its end and reported with a short prefix. Each line is decoded with the declared
encoding (strictly: undecodable bytes are a per-row `bad_encoding`, never replacement
characters). CSV records are cut by the csv module (quote rules and all) from those lines;
a quoted field may span lines, but a record is bounded too (MAX_RECORD_BYTES, and csv's field
limit), and a record that cannot be trusted (an unbalanced quote running on, a field spanning
lines that may not, a runaway at the end of the file) is reported at its first line and reading
resumes at its second line, so the rows it swallowed are read again. Each reader maps its
format's columns onto the product's field names; validation is the domain's job
(catalog.domain.validation).
"""

from __future__ import annotations

import codecs
import csv
import re
from collections import deque
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass
from typing import Any, Literal, NamedTuple

import orjson

from catalog.domain.model import CATEGORY_SEPARATOR
from catalog.domain.validation import RowError

Format = Literal["jsonl", "csv", "bigbuy"]

MAX_LINE_BYTES = 1 << 20  # one physical line; a JSON Lines record
MAX_RECORD_BYTES = 1 << 20  # one CSV record, all its lines together
MAX_RECORD_LINES = 100  # lines one CSV record may span (bounds the re-reading after a runaway)
MAX_FIELD_CHARS = 131_072  # one CSV field (csv's own default limit, made explicit)
PREFIX_CHARS = 40  # of a bad value quoted in an error: never more
BOM = codecs.BOM_UTF8
# ASCII-compatible encodings only: line ends, quotes and delimiters are then the same bytes
# whatever the encoding, so lines can be cut before decoding. UTF-16 and such are refused.
ENCODINGS = {
    "utf-8": "utf-8",
    "utf-8-sig": "utf-8",
    "ascii": "ascii",
    "iso8859-1": "iso8859-1",
    "iso8859-2": "iso8859-2",
    "iso8859-15": "iso8859-15",
    "cp1250": "cp1250",
    "cp1252": "cp1252",
}
# Only free text may legitimately carry a line break inside a quoted CSV field; any other field
# spanning lines is taken for an unbalanced quote that swallowed the rows after it.
MULTILINE_COLUMNS = frozenset({"description", "DESCRIPTION", "FEATURE"})
_LINE_END = re.compile(rb"\r\n|\r|\n")

csv.field_size_limit(MAX_FIELD_CHARS)


class Row(NamedTuple):
    line: int  # the physical line where the record starts (1-based)
    value: dict[str, Any] | RowError
    size: int  # bytes the record took in the file


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
# Columns a file may add for a variation (the seed and most files have none).
OUR_CSV_VARIATION_COLUMNS = ("parent_sku", "variation")
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
    """The whole file is unusable: empty, not the announced format, or an unknown encoding."""

    def __init__(self, message: str, code: str = "bad_file") -> None:
        super().__init__(message)
        self.code = code


def resolve_encoding(name: str) -> str:
    """The codec for an `encoding` parameter; FormatError unless it is one we can read."""
    try:
        codec = codecs.lookup(name).name
    except LookupError:
        codec = ""
    if codec not in ENCODINGS:
        raise FormatError(
            f"unsupported encoding {prefix(name)!r}; use one of utf-8, iso-8859-1, iso-8859-2,"
            " iso-8859-15, windows-1250, windows-1252, ascii",
            "unsupported_encoding",
        )
    return ENCODINGS[codec]


def prefix(text: str) -> str:
    """At most PREFIX_CHARS of a value, for error messages: a bad value is never echoed whole."""
    return text if len(text) <= PREFIX_CHARS else text[:PREFIX_CHARS] + "…"


@dataclass(slots=True)
class Line:
    number: int
    data: bytes  # without its end; for a line over the limit only its first bytes
    end: bytes  # b"\n", b"\r\n", b"\r", or b"" at the end of the file
    too_long: bool = False


class LineSplitter:
    """Physical lines of a byte stream, each at most `max_bytes`; longer ones are skipped.

    Holds at most one partial line (<= max_bytes) between chunks: a line found to be too long is
    remembered by its number and first bytes only, and its bytes are dropped until its end.
    """

    def __init__(self, max_bytes: int = MAX_LINE_BYTES) -> None:
        self.max_bytes = max_bytes
        self.buffer = b""
        self.number = 0
        self.skipping: Line | None = None

    def feed(self, chunk: bytes, final: bool = False) -> list[Line]:
        buf = self.buffer + chunk if self.buffer else chunk
        size = len(buf)
        out: list[Line] = []
        pos = 0
        if self.skipping is None and b"\r" not in buf:
            # The common case, \n only: split at C speed.
            parts = buf.split(b"\n")
            last = parts.pop()
            number = self.number
            limit = self.max_bytes
            for part in parts:
                number += 1
                if len(part) > limit:
                    out.append(Line(number, part[: 4 * PREFIX_CHARS], b"\n", True))
                else:
                    out.append(Line(number, part, b"\n"))
            self.number = number
            pos = size - len(last)
        while True:
            match = _LINE_END.search(buf, pos)
            # A \r at the very end may be the first half of a \r\n split across chunks.
            if match is None or (not final and match.end() == size and buf[size - 1] == 13):
                break
            if self.skipping is not None:
                line, self.skipping = self.skipping, None
                line.end = match.group()
            else:
                self.number += 1
                start, stop = pos, match.start()
                if stop - start > self.max_bytes:
                    line = Line(self.number, buf[start : start + 4 * PREFIX_CHARS], b"", True)
                    line.end = match.group()
                else:
                    line = Line(self.number, buf[start:stop], match.group())
            out.append(line)
            pos = match.end()
        if self.skipping is None and size - pos > self.max_bytes:
            self.number += 1
            self.skipping = Line(self.number, buf[pos : pos + 4 * PREFIX_CHARS], b"", True)
        if self.skipping is not None:
            self.buffer = b"\r" if not final and buf.endswith(b"\r") else b""
        else:
            self.buffer = buf[pos:]
        if final:
            if self.skipping is not None:
                out.append(self.skipping)
                self.skipping = None
            elif self.buffer:
                self.number += 1
                out.append(Line(self.number, self.buffer, b""))
            self.buffer = b""
        return out


def _decode_error(exc: UnicodeDecodeError, codec: str) -> str:
    byte = exc.object[exc.start : exc.start + 1].hex()
    return (
        f"byte 0x{byte} at offset {exc.start} of the line is not valid {codec};"
        " declare the file's encoding with ?encoding="
    )


def _strip_bom(line: Line, codec: str) -> bytes:
    if line.number != 1 or not line.data.startswith(BOM):
        return line.data
    if codec != "utf-8":
        # A UTF-8 file declared as a single-byte encoding would be stored as mojibake.
        raise FormatError(
            f"the file starts with a UTF-8 byte order mark but was declared {codec}",
            "bad_encoding",
        )
    return line.data[len(BOM) :]


def _split_attributes(value: str) -> dict[str, str] | str:
    value = value.strip()
    if not value:
        return {}
    if value.startswith("{"):
        try:
            parsed = orjson.loads(value)
        except orjson.JSONDecodeError:
            return value
        # A "\u0000" in the JSON would be refused by PostgreSQL's jsonb, failing the chunk.
        return parsed if isinstance(parsed, dict) and not _has_nul(parsed) else value
    out: dict[str, str] = {}
    for pair in value.split("|"):
        name, sep, val = pair.partition("=")
        if not sep:
            return value
        out[name.strip()] = val.strip()
    return out


def our_csv_row(cells: dict[str, str]) -> dict[str, Any]:
    row: dict[str, Any] = {
        k: v for k, v in cells.items() if k in OUR_CSV_COLUMNS or k in OUR_CSV_VARIATION_COLUMNS
    }
    for name in ("attributes", "variation"):
        if name in row:
            row[name] = _split_attributes(row[name])
    return row


def bigbuy_row(cells: dict[str, str], currency: str) -> dict[str, Any]:
    """BigBuy's product CSV (docs/bigbuy.md, product files) in our field names.

    PVD is the cost (EUR, ex-VAT), PVP_BIGBUY the recommended retail price; CATEGORY is a
    comma-separated path of BigBuy category ids; an empty or "0" EAN13 is a missing EAN.
    """
    category = [c.strip() for c in cells.get("CATEGORY", "").split(",") if c.strip()]
    variation = {}
    for n in ("1", "2"):
        name, value = cells.get(f"ATTRIBUTE{n}", "").strip(), cells.get(f"VALUE{n}", "").strip()
        if name and value:
            variation[name] = value
    attributes = dict(variation)
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
        **variation_of(cells.get("ID", "").strip(), variation),
        "updated_at": date.replace(" ", "T") if date else "",
    }


def variation_of(sku: str, variation: dict[str, str]) -> dict[str, Any]:
    """A row with attribute values is one variation of a product with attributes; the file has
    no parent column, but BigBuy names a variation `<parent SKU>-<value>` (`Z7000002-M`), so
    the parent is the SKU before its first `-`. A row without values is a product of its own
    (or says nothing about a group)."""
    parent, dash, suffix = sku.partition("-")
    if not variation or not dash or not parent or not suffix:
        return {"parent_sku": "", "variation": {}}
    return {"parent_sku": parent, "variation": variation}


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


def _error(line: int, code: str, reason: str, sku: str | None = None) -> RowError:
    return RowError(line, None if sku is None else prefix(sku), "line", reason, code)


def _has_nul(value: Any) -> bool:
    if isinstance(value, str):
        return "\x00" in value
    if isinstance(value, dict):
        return any(_has_nul(k) or _has_nul(v) for k, v in value.items())
    if isinstance(value, list):
        return any(_has_nul(v) for v in value)
    return False


def _too_long(line: Line) -> RowError:
    start = line.data.decode("utf-8", "replace")
    return _error(
        line.number,
        "line_too_long",
        f"the line is longer than {MAX_LINE_BYTES} bytes (starts {prefix(start)!r}); skipped",
    )


class JsonLinesReader:
    """One JSON object per line; each line is parsed on its own, so a bad one spoils nothing."""

    def __init__(self, codec: str) -> None:
        self.codec = codec
        self.records = 0

    def feed(self, lines: list[Line], final: bool = False) -> list[Row]:
        out: list[Row] = []
        for line in lines:
            if line.too_long:
                self.records += 1
                out.append(Row(line.number, _too_long(line), MAX_LINE_BYTES))
                continue
            data = _strip_bom(line, self.codec)
            if not data.strip():
                continue
            if not self.records and not data.lstrip().startswith(b"{"):
                raise FormatError(
                    f"line {line.number} is not a JSON object: not a JSON Lines file"
                    " (CSV? then send format=csv)"
                )
            self.records += 1
            out.append(Row(line.number, self.parse(line.number, data), len(data)))
        return out

    def parse(self, number: int, data: bytes) -> dict[str, Any] | RowError:
        if b"\x00" in data:
            return _error(number, "nul_byte", "the line holds a NUL byte")
        try:
            text = data.decode(self.codec)
        except UnicodeDecodeError as exc:
            return _error(number, "bad_encoding", _decode_error(exc, self.codec))
        try:
            value = orjson.loads(text)
        except orjson.JSONDecodeError as exc:
            # orjson's message names the position only, never the document.
            return _error(number, "not_json", f"not valid JSON: {exc}")
        sku = value.get("sku") if isinstance(value, dict) else None
        sku = sku if isinstance(sku, str) else None
        if "\\u0000" in text and _has_nul(value):
            return _error(number, "nul_byte", "a value holds a NUL character (\\u0000)", sku)
        parsed = jsonl_row(value)
        if isinstance(parsed, str):
            return _error(number, "not_a_product", parsed, sku)
        return parsed


class _NeedMore(Exception):
    """The csv reader wants a line that has not arrived yet."""


class _LineTooLong(Exception):
    """The next line is over MAX_LINE_BYTES: it ends the record being read."""


class _RecordTooLong(Exception):
    """The record being read would grow over MAX_RECORD_BYTES."""


@dataclass(slots=True)
class _Decoded:
    line: Line
    text: str
    flaw: tuple[str, str] | None  # (code, reason) of a line that cannot be trusted


class _LineFeed:
    """The csv reader's input: decoded lines from a queue, remembering those of this record.

    Raises instead of blocking when no line is there yet (the record is put back and parsed
    again once more lines arrive): csv's reader resets itself on the next call.
    """

    def __init__(self) -> None:
        self.queue: deque[_Decoded] = deque()
        self.taken: list[_Decoded] = []
        self.size = 0
        self.final = False

    def __iter__(self) -> Iterator[str]:
        return self

    def __next__(self) -> str:
        if not self.queue:
            if self.final:
                raise StopIteration
            raise _NeedMore
        head = self.queue[0]
        if head.line.too_long:
            raise _LineTooLong
        size = len(head.line.data) + len(head.line.end)
        if self.taken and (
            self.size + size > MAX_RECORD_BYTES or len(self.taken) >= MAX_RECORD_LINES
        ):
            raise _RecordTooLong
        self.queue.popleft()
        self.taken.append(head)
        self.size += size
        return head.text

    def start_record(self) -> None:
        self.taken = []
        self.size = 0

    def put_back(self, lines: list[_Decoded]) -> None:
        self.queue.extendleft(reversed(lines))


class CsvReader:
    """Our CSV or BigBuy's: header first, then one record per row, bounded and resumable."""

    def __init__(self, fmt: Format, codec: str, currency: str) -> None:
        self.fmt = fmt
        self.codec = codec
        self.delimiter = ";" if fmt == "bigbuy" else ","
        self.convert: Callable[[dict[str, str]], dict[str, Any]]
        if fmt == "bigbuy":
            self.convert = lambda cells: bigbuy_row(cells, currency)
        else:
            self.convert = our_csv_row
        self.feed_ = _LineFeed()
        self.reader = csv.reader(self.feed_, delimiter=self.delimiter, strict=True)
        self.header: list[str] | None = None
        self.sku_column = 0
        self.records = 0

    def decode(self, line: Line) -> _Decoded:
        if line.too_long:
            return _Decoded(line, "", None)
        data = _strip_bom(line, self.codec)
        flaw = None
        if b"\x00" in data:
            flaw = ("nul_byte", f"line {line.number} holds a NUL byte")
        try:
            text = data.decode(self.codec)
        except UnicodeDecodeError as exc:
            text = data.decode(self.codec, "replace")  # for the csv reader only; never stored
            flaw = ("bad_encoding", f"line {line.number}: {_decode_error(exc, self.codec)}")
        return _Decoded(line, text + line.end.decode("ascii"), flaw)

    def sku_hint(self, text: str) -> str | None:
        try:
            cells = next(csv.reader([text], delimiter=self.delimiter))
        except (csv.Error, StopIteration):
            # e.g. a field over the limit: the first cell is still the SKU in most files
            cells = text.split(self.delimiter, 1)[:1] if self.sku_column == 0 else []
        return cells[self.sku_column] if len(cells) > self.sku_column else None

    def reads_as_a_row(self, text: str) -> bool:
        """A line that parses alone into the header's columns, with a SKU-like first key."""
        assert self.header is not None
        if text.count(self.delimiter) < len(self.header) - 1:
            return False  # the common case, cheaply
        try:
            cells = next(csv.reader([text], delimiter=self.delimiter))
        except (csv.Error, StopIteration):
            return False
        if len(cells) != len(self.header):
            return False
        sku = cells[self.sku_column].strip()
        return 0 < len(sku) <= 64 and not any(c.isspace() or c == '"' for c in sku)

    def feed(self, lines: list[Line], final: bool = False) -> list[Row]:
        feed = self.feed_
        feed.queue.extend(self.decode(line) for line in lines)
        feed.final = final
        out: list[Row] = []
        while True:
            feed.start_record()
            try:
                cells = next(self.reader)
            except _NeedMore:
                feed.put_back(feed.taken)  # read again, whole, once more lines are in
                return out
            except StopIteration:
                return out
            except _LineTooLong:
                if feed.taken:
                    self.untrusted(out, feed.taken, f"runs into line {feed.queue[0].line.number}")
                    continue
                line = feed.queue.popleft().line
                if self.header is None:
                    raise FormatError(f"the header is longer than {MAX_LINE_BYTES} bytes") from None
                self.records += 1
                out.append(Row(line.number, _too_long(line), MAX_LINE_BYTES))
                continue
            except _RecordTooLong:
                why = f"runs over {MAX_RECORD_BYTES} bytes or {MAX_RECORD_LINES} lines"
                self.untrusted(out, feed.taken, why)
                continue
            except csv.Error as exc:
                if not feed.taken:
                    return out  # nothing was read: nothing to report
                if len(feed.taken) > 1 or self.header is None:
                    self.untrusted(out, feed.taken, f"cannot be read ({exc})")
                else:
                    first = feed.taken[0]
                    if "field limit" in str(exc):
                        code = "field_too_long"
                        reason = f"a field is longer than {MAX_FIELD_CHARS} characters"
                    elif "end of data" in str(exc):
                        code = "unbalanced_quote"
                        reason = "a quoted field opened on this line is still open at the end"
                    else:
                        code, reason = "bad_quote", f"misplaced quote: {exc}"
                    self.records += 1
                    sku = self.sku_hint(first.text)
                    out.append(
                        Row(
                            first.line.number,
                            _error(first.line.number, code, reason, sku),
                            feed.size,
                        )
                    )
                continue
            self.record(out, cells, feed.taken, feed.size)

    def untrusted(self, out: list[Row], taken: list[_Decoded], why: str) -> None:
        """A record that swallowed lines it should not have: report it, read the rest again."""
        first = taken[0]
        if self.header is None:
            raise FormatError(f"the header (line 1) {why}: an unbalanced quote?")
        self.records += 1
        reason = (
            f"a quoted field opened on this line {why}"
            f" (through line {taken[-1].line.number}): an unbalanced quote?"
            " The lines after it are read again as rows."
        )
        if len(taken) == 1:
            reason = f"a quoted field opened on this line {why}: an unbalanced quote?"
        out.append(
            Row(
                first.line.number,
                _error(first.line.number, "unbalanced_quote", reason, self.sku_hint(first.text)),
                len(first.line.data),
            )
        )
        self.feed_.put_back(taken[1:])

    def record(self, out: list[Row], cells: list[str], taken: list[_Decoded], size: int) -> None:
        if not taken or (len(cells) <= 1 and not (cells and cells[0].strip())):
            return  # a blank line
        first = taken[0]
        number = first.line.number
        if self.header is None:
            self.set_header(cells, taken)
            return
        if len(taken) == 1:
            flaw = first.flaw
        else:
            spanning = [i for i, c in enumerate(cells) if "\n" in c or "\r" in c]
            if len(cells) != len(self.header) or any(
                self.header[i] not in MULTILINE_COLUMNS for i in spanning
            ):
                self.untrusted(out, taken, "spans lines where it may not")
                return
            if any(self.reads_as_a_row(t.text) for t in taken[1:]):
                # A description does not hold whole rows: a quote opened in it ran on.
                self.untrusted(out, taken, "swallows lines that read as rows of their own")
                return
            flaw = next((t.flaw for t in taken if t.flaw), None)
        self.records += 1
        sku = cells[self.sku_column] if len(cells) > self.sku_column else None
        if flaw is not None:
            out.append(Row(number, _error(number, flaw[0], flaw[1], sku), size))
            return
        if len(cells) != len(self.header):
            reason = f"{len(cells)} columns where the header has {len(self.header)}"
            out.append(Row(number, _error(number, "column_count", reason, sku), size))
            return
        out.append(Row(number, self.convert(dict(zip(self.header, cells, strict=True))), size))

    def set_header(self, cells: list[str], taken: list[_Decoded]) -> None:
        flaw = next((t.flaw for t in taken if t.flaw), None)
        if flaw is not None:
            raise FormatError(f"the header cannot be read: {flaw[1]}", "bad_encoding")
        if cells[0].lstrip().startswith(("{", "[")):
            raise FormatError("the file is JSON, not CSV (JSON Lines? then send format=jsonl)")
        if len(taken) > 1:
            raise FormatError("the header spans lines: an unbalanced quote?")
        header = [h.strip().lstrip("\ufeff") for h in cells]
        if self.fmt == "csv":
            header = [h.lower() for h in header]
            if "sku" not in header:
                raise FormatError("the CSV header has no sku column")
            self.sku_column = header.index("sku")
        elif "ID" not in header:
            raise FormatError("not a BigBuy product CSV: its header has no ID column")
        else:
            self.sku_column = header.index("ID")
        self.header = header


async def rows(
    chunks: AsyncIterator[bytes],
    fmt: Format,
    currency: str = "EUR",
    encoding: str = "utf-8",
) -> AsyncIterator[list[Row]]:
    """Batches of rows in the product's field names, or per-row errors; FormatError if the
    whole file is unusable (empty, not the announced format, an encoding we cannot read)."""
    codec = resolve_encoding(encoding)
    splitter = LineSplitter()
    reader: JsonLinesReader | CsvReader = (
        JsonLinesReader(codec) if fmt == "jsonl" else CsvReader(fmt, codec, currency)
    )
    async for chunk in chunks:
        if chunk:
            batch = reader.feed(splitter.feed(chunk))
            if batch:
                yield batch
    batch = reader.feed(splitter.feed(b"", final=True), final=True)
    if batch:
        yield batch
    if not reader.records:
        if isinstance(reader, CsvReader) and reader.header is not None:
            raise FormatError("the file has a header and no rows", "empty_file")
        raise FormatError("the file is empty", "empty_file")
