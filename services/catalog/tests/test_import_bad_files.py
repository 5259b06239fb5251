"""Bad import files on the real service and database: every good row is kept, every bad one is
reported with its line and code, whole-file problems are a 4xx, memory stays bounded."""

from __future__ import annotations

import asyncio
import os
import sys
from collections.abc import AsyncIterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest

from catalog import ingest
from catalog.ingest import ImportFailed, run_import
from catalog.parsers import MAX_FIELD_CHARS, MAX_LINE_BYTES
from mci_testing.fixtures import MakeDatabase
from mci_testing.infra import free_port
from mci_testing.seedfiles import csv_lines, jsonl_lines, seed_products
from shared.security import issue_token
from shared.uow import UnitsOfWork

from .conftest import Catalog

HEADER = b"sku,title,cost_amount,cost_currency\n"


def row(sku: str, title: str = "Grabie", cost: str = "10.5") -> bytes:
    return f"{sku},{title},{cost},PLN\n".encode()


async def product_count(catalog: Catalog) -> int:
    return int(await catalog.scalar("SELECT count(*) FROM products"))


async def test_every_bad_csv_row_is_reported_and_every_good_row_kept(catalog: Catalog) -> None:
    lines = list(csv_lines(seed_products(20_000, 0, 40)))  # a header and 40 good rows
    bad = {
        6: b'B-QUOTE,"never closed,broken,x,,,,,10,PLN,,,1,,\n',
        12: b"B-FIELD," + b"x" * (MAX_FIELD_CHARS + 5) + b",,,,,,,10,PLN,,,1,,\n",
        18: b"B-NUL,T\x00itle,,,,,,,10,PLN,,,1,,\n",
        24: "B-ENC,Łódka,,,,,,,10,PLN,,,1,,\n".encode("cp1250"),
        30: b"B-LONG," + b"y" * (MAX_LINE_BYTES + 1) + b"\n",
        36: b"B-COLS,too,few\n",
    }
    body = b""
    line = 0
    good = iter(lines)
    while True:
        line += 1
        if line in bad:
            body += bad[line]
            continue
        item = next(good, None)
        if item is None:
            break
        body += item
    response = await catalog.import_bytes("csv", body)
    assert response.status_code == 200, response.text[:500]
    report = response.json()
    assert report["valid"] == 40 and report["invalid"] == 6 and report["rows"] == 46
    assert [(e["line"], e["code"]) for e in report["errors"]] == [
        (6, "unbalanced_quote"),
        (12, "field_too_long"),
        (18, "nul_byte"),
        (24, "bad_encoding"),
        (30, "line_too_long"),
        (36, "column_count"),
    ]
    assert await product_count(catalog) == 40
    assert await catalog.scalar("SELECT count(*) FROM products WHERE sku LIKE 'B-%'") == 0
    # The answer quotes no more than a prefix of the 1 MB values.
    assert len(response.content) < 20_000
    stored = (await catalog.http.get(f"/imports/{report['import_id']}/errors")).json()["items"]
    assert [(e["line"], e["code"]) for e in stored] == [
        (e["line"], e["code"]) for e in report["errors"]
    ]


async def test_a_huge_json_line_is_skipped_not_held_nor_echoed(catalog: Catalog) -> None:
    good = list(jsonl_lines(seed_products(20_000, 0, 10)))
    huge = orjson.loads(good[4])
    huge["description"] = "z" * (5 * MAX_LINE_BYTES)
    huge["sku"] = "S" * 200_000  # a bad value echoed by each of its errors, once upon a time
    body = b"".join(good[:4]) + orjson.dumps(huge) + b"\n" + b"".join(good[5:])
    response = await catalog.import_bytes("jsonl", body)
    report = response.json()
    assert response.status_code == 200
    assert (report["valid"], report["invalid"]) == (9, 1)
    [error] = report["errors"]
    assert error["line"] == 5 and error["code"] == "line_too_long"
    assert len(response.content) < 5_000
    # A long SKU in a line under the limit: one row error, the SKU quoted by its prefix only.
    long_sku = orjson.loads(good[4])
    long_sku["sku"] = "S" * 200_000
    body = b"".join(good[:4]) + orjson.dumps(long_sku) + b"\n"
    report = (await catalog.import_bytes("jsonl", body)).json()
    assert report["invalid"] == 1 and all(len(e["sku"]) <= 41 for e in report["errors"])
    assert await catalog.scalar("SELECT max(length(sku) + length(reason)) FROM import_errors") < 600
    assert await product_count(catalog) == 9


async def test_the_declared_encoding_is_used_and_nothing_is_stored_as_mojibake(
    catalog: Catalog,
) -> None:
    body = (HEADER + "P-1,Łódka żółta,10,PLN\n".encode("cp1250") + row("P-2")).decode("cp1250")
    data = body.encode("cp1250")
    report = (await catalog.import_bytes("csv", data)).json()
    assert (report["valid"], report["invalid"]) == (1, 1)
    assert report["errors"][0]["code"] == "bad_encoding" and report["errors"][0]["line"] == 2
    assert await catalog.scalar("SELECT count(*) FROM products WHERE title LIKE '%\ufffd%'") == 0
    report = (await catalog.import_bytes("csv", data, encoding="windows-1250")).json()
    assert (report["valid"], report["invalid"], report["encoding"]) == (2, 0, "cp1250")
    assert (await catalog.http.get("/products/P-1")).json()["title"] == "Łódka żółta"
    # The Content-Type's charset serves when no encoding parameter is given.
    latin = HEADER + "P-3,Café,10,PLN\n".encode("latin-1")
    response = await catalog.http.post(
        "/imports",
        params={"format": "csv"},
        content=latin,
        headers={"Content-Type": "text/csv; charset=ISO-8859-1"},
    )
    assert response.json()["valid"] == 1
    assert (await catalog.http.get("/products/P-3")).json()["title"] == "Café"


async def test_whole_file_problems_are_4xx_with_a_clear_code(catalog: Catalog) -> None:
    async def refused(fmt: str, body: bytes, status: int, code: str, **kw: Any) -> None:
        headers = kw.pop("headers", {})
        response = await catalog.http.post(
            "/imports", params={"format": fmt, **kw}, content=body, headers=headers
        )
        assert response.status_code == status, response.text
        error = response.json()["error"]
        assert error["code"] == code and error["message"] and isinstance(error["details"], list)

    await refused("csv", b"", 422, "empty_file")
    await refused("jsonl", b"\n\n", 422, "empty_file")
    await refused("csv", HEADER, 422, "empty_file")
    await refused("csv", b'{"sku": "J-1", "title": "T"}\n', 422, "bad_file")
    await refused("jsonl", HEADER + row("C-1"), 422, "bad_file")
    json_type = {"Content-Type": "application/json"}
    await refused("csv", HEADER + row("C-1"), 415, "bad_file", headers=json_type)
    await refused(
        "jsonl", b'{"sku": "J-1"}\n', 415, "bad_file", headers={"Content-Type": "text/csv"}
    )
    form = {"Content-Type": "multipart/form-data; boundary=x"}
    await refused("csv", HEADER + row("C-1"), 415, "bad_file", headers=form)
    await refused("csv", HEADER + row("C-1"), 422, "unsupported_encoding", encoding="utf-16")
    assert await product_count(catalog) == 0
    # The refused files that started are kept as failed reports.
    reports = (await catalog.http.get("/imports")).json()["items"]
    assert reports and all(r["status"] == "failed" and r["error"] for r in reports)
    # A JSON Lines file declared as such is read.
    response = await catalog.http.post(
        "/imports",
        params={"format": "jsonl"},
        content=b'{"sku": "J-1", "title": "T", "cost": {"amount": "1", "currency": "PLN"}}\n',
        headers={"Content-Type": "application/x-ndjson"},
    )
    assert response.status_code == 200 and response.json()["valid"] == 1


async def test_the_last_row_of_a_sku_wins_and_the_report_counts_the_superseded(
    catalog: Catalog, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(ingest, "IMPORT_CHUNK", 4)  # repeats within and across chunks
    body = HEADER + b"".join(
        [
            row("D-1", "first"),
            row("D-2", "only"),
            row("D-1", "second"),
            row("D-3", "a"),
            row("D-4", "x"),
            row("D-3", "b"),
            row("D-1", "third", "5"),
            row("D-5", "bad", "-1"),  # invalid: not counted as a row that supersedes
            row("D-3", "c"),
        ]
    )
    report = (await catalog.import_bytes("csv", body)).json()
    assert (report["valid"], report["invalid"], report["superseded"]) == (8, 1, 4)
    d1 = (await catalog.http.get("/products/D-1")).json()
    assert d1["title"] == "third" and Decimal(d1["cost"]["amount"]) == 5
    assert (await catalog.http.get("/products/D-3")).json()["title"] == "c"
    assert await product_count(catalog) == 4
    assert await catalog.scalar("SELECT count(*) FROM import_seen_skus") == 0
    kept = (await catalog.http.get(f"/imports/{report['import_id']}")).json()
    assert kept["superseded"] == 4 and kept["status"] == "done"


async def test_rows_the_database_refuses_are_row_errors_and_the_rest_is_applied(
    catalog: Catalog, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(ingest, "IMPORT_CHUNK", 10)
    # A rule of the database that validation does not know: its refusals must cost one row
    # each, not the chunk (nor the import).
    async with catalog.engine.begin() as conn:
        await conn.exec_driver_sql(
            "ALTER TABLE products ADD CONSTRAINT no_boom CHECK (title <> 'boom') NOT VALID"
        )
    body = HEADER + b"".join(row(f"R-{n}", "boom" if n in (4, 14) else "ok") for n in range(25))
    response = await catalog.import_bytes("csv", body)
    assert response.status_code == 200, response.text
    report = response.json()
    assert (report["valid"], report["invalid"], report["applied"]) == (23, 2, 23)
    assert [(e["line"], e["sku"], e["code"]) for e in report["errors"]] == [
        (6, "R-4", "refused_by_database"),
        (16, "R-14", "refused_by_database"),
    ]
    assert "no_boom" in report["errors"][0]["reason"]
    assert await product_count(catalog) == 23


async def test_an_import_failing_midway_keeps_a_failed_report_of_what_was_applied(
    catalog: Catalog, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(ingest, "IMPORT_CHUNK", 10)

    async def database_lost_midway() -> AsyncIterator[bytes]:
        yield HEADER + b"".join(row(f"F-{n}") for n in range(12))
        # The first chunk (rows 2..11) is committed by now; the next one cannot be.
        async with catalog.engine.begin() as conn:
            await conn.exec_driver_sql("ALTER TABLE products RENAME TO products_gone")
        yield b"".join(row(f"F-{n}") for n in range(12, 25))

    response = await catalog.http.post(
        "/imports", params={"format": "csv"}, content=database_lost_midway(), timeout=60
    )
    assert response.status_code == 503, response.text
    error = response.json()["error"]
    assert error["code"] == "import_failed"
    [summary] = error["details"]
    assert summary["status"] == "failed" and summary["applied"] == 10
    assert summary["applied_through_line"] == 11
    async with catalog.engine.begin() as conn:
        await conn.exec_driver_sql("ALTER TABLE products_gone RENAME TO products")
    assert await product_count(catalog) == 10
    kept = (await catalog.http.get(f"/imports/{summary['import_id']}")).json()
    assert kept["status"] == "failed" and kept["applied"] == 10 and "line 11" in kept["error"]

    # An upload cut off midway: the same, and the client's fault.
    async def cut_off() -> AsyncIterator[bytes]:
        yield HEADER + b"".join(row(f"U-{n}") for n in range(23))
        raise ConnectionResetError("the client went away")

    with pytest.raises(ImportFailed) as caught:
        await run_import(UnitsOfWork(catalog.engine, "catalog"), cut_off(), "csv")
    report = caught.value.report
    assert caught.value.upload and report.status == "failed" and report.applied == 20
    assert await catalog.scalar("SELECT count(*) FROM products WHERE sku LIKE 'U-%'") == 20
    stored = (await catalog.http.get(f"/imports/{report.id}")).json()
    assert stored["status"] == "failed" and stored["applied"] == 20
    assert "ConnectionResetError" in stored["error"]


# --- memory: the service's own process, fed a 50 MB line and a runaway quote ------------------


def _peak_rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    raise AssertionError("no VmHWM in /proc/<pid>/status")


async def _pieces(parts: list[bytes | tuple[bytes, int]]) -> AsyncIterator[bytes]:
    """The body in 256 KB pieces; (piece, n) repeats a piece n times (never built whole)."""
    for part in parts:
        if isinstance(part, tuple):
            piece, times = part
            for _ in range(times):
                yield piece
        else:
            yield part


async def test_peak_memory_of_the_service_stays_bounded_on_huge_lines(
    make_database: MakeDatabase, amqp_url: str
) -> None:
    database_url = await make_database("catalog")
    secret = "rss-test-secret-" + os.urandom(8).hex()
    port = free_port()
    env = {
        **os.environ,
        "CATALOG_DATABASE_URL": database_url,
        "CATALOG_AMQP_URL": amqp_url,
        "CATALOG_LOG_LEVEL": "WARNING",
        "MCI_SERVICE_TOKEN_SECRET": secret,
    }
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "catalog", "--port", str(port), env=env
    )
    url = f"http://127.0.0.1:{port}"
    headers = {"Authorization": f"Bearer {issue_token(secret, 'rss', 'operator', 3600)}"}
    try:
        async with httpx.AsyncClient(base_url=url, headers=headers, timeout=600) as http:
            for _ in range(600):
                try:
                    if (await http.get("/health/ready")).status_code == 200:
                        break
                except httpx.HTTPError:
                    pass
                await asyncio.sleep(0.1)
            else:
                raise AssertionError("the catalog service did not start")
            baseline = _peak_rss_mb(process.pid)
            mb = b"z" * (256 * 1024)
            good = list(jsonl_lines(seed_products(20_000, 0, 20)))
            # JSON Lines: a 50 MB line (no line break in it) between good rows.
            jsonl: list[bytes | tuple[bytes, int]] = [
                b"".join(good[:10]),
                b'{"sku": "HUGE", "description": "',
                (mb, 200),
                b'"}\n',
                b"".join(good[10:]),
            ]
            response = await http.post(
                "/imports", params={"format": "jsonl"}, content=_pieces(jsonl)
            )
            report = response.json()
            assert (report["valid"], report["invalid"]) == (20, 1), response.text[:500]
            assert report["errors"][0]["code"] == "line_too_long"
            assert len(response.content) < 5_000
            # CSV: a quote that never closes, followed by 50 MB of 1 KB lines of text.
            para = (b"q" * 1023 + b"\n") * 256
            rows = list(csv_lines(seed_products(20_000, 20, 40)))
            csv_body: list[bytes | tuple[bytes, int]] = [
                b"".join(rows[:11]),
                b'RUNAWAY,"',
                (para, 200),
                b"".join(rows[11:]),
            ]
            response = await http.post(
                "/imports", params={"format": "csv"}, content=_pieces(csv_body)
            )
            report = response.json()
            assert report["valid"] == 20, response.text[:500]
            assert report["errors"][0]["code"] == "unbalanced_quote"
            assert report["errors"][0]["sku"] == "RUNAWAY"
            peak = _peak_rss_mb(process.pid)
    finally:
        process.terminate()
        try:
            await asyncio.wait_for(process.wait(), 30)
        except TimeoutError:
            process.kill()
            await process.wait()
    # Holding either 50 MB part (let alone echoing it) would take far more than this.

    assert peak < 300, (baseline, peak)
