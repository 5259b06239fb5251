"""The installed `mci` against running auth, catalog, pricing and offers: tables, --json,
exit codes."""

from __future__ import annotations

import http.server
import json
import os
import pty
import subprocess
import threading
import time
from pathlib import Path

import httpx
import orjson
import pytest

from mci_testing.bigbuy import BigBuyEmulatorHandle, allegro_order, bigbuy_orders, sellable
from mci_testing.bus import Bus
from mci_testing.infra import free_port, wait_until
from mci_testing.seedfiles import as_supplier_record, csv_lines, seed_products

from .conftest import MCI, Stack

RULES = {
    "strategy": "margin",
    "rules": [{"scope": "category", "value": "Toys", "percentage": "20"}],
    "default_rule": {"percentage": "30"},
}


@pytest.fixture(scope="module")
def account(stack: Stack) -> str:
    """An account made with `mci accounts add` (catalog and pricing ask auth about it)."""
    added = stack.mci("accounts", "add", "cli-shop", "--json")
    assert added.code == 0, added.stderr
    account_id: str = added.json()["id"]
    # No Allegro to map categories against here: the shop waives the mapping (and the GPSR
    # data its test products lack), so its selected products are listed (and priced).
    waived = httpx.put(
        f"{stack.services['catalog'].url}/accounts/{account_id}/listing",
        headers={"Authorization": f"Bearer {stack.admin_key}"},
        json={"not_blocking": ["no_category", "missing_gpsr"]},
    )
    assert waived.status_code == 200, waived.text
    return account_id


def no_traceback(text: str) -> None:
    assert "Traceback" not in text


def test_accounts_list_table_and_json(stack: Stack, account: str) -> None:
    listed = stack.mci("accounts", "list")
    assert listed.code == 0, listed.stderr
    assert "cli-shop" in listed.stdout and account in listed.stdout
    assert "alias" in listed.stdout  # a table header, not JSON
    as_json = stack.mci("accounts", "list", "--json")
    assert as_json.code == 0
    assert [a["alias"] for a in as_json.json() if a["id"] == account] == ["cli-shop"]

    shown = stack.mci("accounts", "show", account, "--json")
    assert shown.code == 0
    assert (shown.json()["alias"], shown.json()["status"]) == ("cli-shop", "needs_connection")
    human = stack.mci("accounts", "show", account)
    assert "needs_connection" in human.stdout and "connection" in human.stdout
    status = stack.mci("accounts", "status")
    assert status.code == 0 and account in status.stdout


def test_unknown_account_is_exit_1_with_the_code(stack: Stack) -> None:
    missing = stack.mci("accounts", "show", "no-such-account")
    assert missing.code == 1
    assert missing.stdout == ""
    line = missing.stderr.strip()
    assert "\n" not in line
    assert line == "mci: auth: 404 unknown_account: no such account"
    no_traceback(missing.stderr)

    unknown_in_catalog = stack.mci("catalog", "selection", "show", "no-such-account")
    assert unknown_in_catalog.code == 1
    assert "unknown_account" in unknown_in_catalog.stderr


def test_connect_prints_what_the_seller_must_do(stack: Stack, account: str) -> None:
    device = stack.mci("accounts", "connect", account, "--json")
    assert device.code == 0, device.stderr
    started = device.json()
    assert started["user_code"] and started["verification_uri"]
    human = stack.mci("accounts", "connect", account, "--flow", "login")
    assert human.code == 0, human.stderr
    assert "Open http" in human.stdout and "log in" in human.stdout
    shown = stack.mci("accounts", "show", account, "--json").json()
    reset = stack.mci("accounts", "reset", account, "--json")
    assert reset.code == 0, reset.stderr
    assert reset.json()["status"] == "needs_connection"
    assert (shown["connection"]["flow"], shown["connection"]["status"]) == (
        "authorization_code",
        "pending",
    )


def test_a_bad_key_is_exit_1_with_the_servers_code(stack: Stack) -> None:
    bad = "mcik_nosuchkey_" + "x" * 40
    refused = stack.mci("accounts", "list", env=stack.env(MCI_API_KEY=bad))
    assert refused.code == 1
    assert refused.stderr.startswith("mci: auth: 401 ")
    assert "invalid" in refused.stderr or "unauthenticated" in refused.stderr
    assert bad not in refused.stdout + refused.stderr
    no_traceback(refused.stderr)


def test_an_unreachable_service_is_exit_3_naming_the_url(stack: Stack) -> None:
    url = f"http://127.0.0.1:{free_port()}"
    down = stack.mci("accounts", "list", env=stack.env(MCI_AUTH_URL=url))
    assert down.code == 3
    assert f"cannot reach auth at {url}/accounts" in down.stderr
    assert down.stderr.count("\n") == 1
    no_traceback(down.stderr)


def test_usage_errors_are_exit_2(stack: Stack, account: str, tmp_path: Path) -> None:
    wrong_format = stack.mci("catalog", "import", __file__, "--format", "xml")
    assert wrong_format.code == 2
    nothing = stack.mci("catalog", "selection", "set", account)
    assert nothing.code == 2 and "nothing to select" in nothing.stderr
    not_json = tmp_path / "rules.json"
    not_json.write_text("{not json")
    bad_file = stack.mci("pricing", "rules", "set", account, "--file", str(not_json))
    assert bad_file.code == 2 and "is not JSON" in bad_file.stderr
    no_key = stack.mci("accounts", "list", env=stack.env(MCI_API_KEY=""))
    assert no_key.code == 2 and "no API key" in no_key.stderr
    for result in (wrong_format, nothing, bad_file, no_key):
        no_traceback(result.stderr)


def test_keys_create_list_revoke(stack: Stack) -> None:
    created = stack.mci("keys", "create", "cli viewer", "--role", "viewer", "--json")
    assert created.code == 0, created.stderr
    key = created.json()
    assert key["api_key"].startswith("mcik_") and key["role"] == "viewer"
    # The new key works, and is not an admin's.
    as_viewer = stack.env(MCI_API_KEY=key["api_key"])
    assert stack.mci("accounts", "list", env=as_viewer).code == 0
    forbidden = stack.mci("keys", "list", env=as_viewer)
    assert forbidden.code == 1 and "403 forbidden" in forbidden.stderr

    listed = stack.mci("keys", "list")
    assert listed.code == 0 and key["id"] in listed.stdout
    assert key["api_key"] not in listed.stdout
    revoked = stack.mci("keys", "revoke", key["id"])
    assert revoked.code == 0 and f"revoked {key['id']}" in revoked.stdout
    again = stack.mci("keys", "revoke", key["id"])
    assert again.code == 1 and "404" in again.stderr


def test_import_reports_a_bad_row(stack: Stack, tmp_path: Path) -> None:
    records = [as_supplier_record(p) for p in seed_products(3)]
    records[1]["ean"] = "not-an-ean"
    records[1]["cost"] = {"amount": "-5", "currency": "PLN"}
    file = tmp_path / "products.jsonl"
    file.write_bytes(b"".join(orjson.dumps(r) + b"\n" for r in records))
    errors = tmp_path / "errors.jsonl"

    human = stack.mci("catalog", "import", str(file), "--format", "jsonl")
    assert human.code == 0, human.stderr
    assert "bad rows (" in human.stdout and records[1]["sku"] in human.stdout

    result = stack.mci(
        "catalog", "import", str(file), "--format", "jsonl", "--errors-out", str(errors), "--json"
    )
    assert result.code == 0, result.stderr
    report = result.json()
    assert (report["rows"], report["valid"], report["invalid"]) == (3, 2, 1)
    assert {e["line"] for e in report["errors"]} == {2}
    saved = [json.loads(line) for line in errors.read_text().splitlines()]
    assert saved and {e["line"] for e in saved} == {2}
    assert {e["sku"] for e in saved} == {records[1]["sku"]}

    strict = stack.mci("catalog", "import", str(file), "--format", "jsonl", "--strict")
    assert strict.code == 1 and "1 of 3 rows were refused" in strict.stderr

    refused = tmp_path / "empty.jsonl"
    refused.write_bytes(b"")
    empty = stack.mci("catalog", "import", str(refused), "--format", "jsonl")
    assert empty.code == 1 and "422 empty_file" in empty.stderr


def test_selection_and_pricing(stack: Stack, account: str, tmp_path: Path) -> None:
    records = [as_supplier_record(p) for p in seed_products(5)]
    skus = [r["sku"] for r in records]
    file = tmp_path / "products.jsonl"
    file.write_bytes(b"".join(orjson.dumps(r) + b"\n" for r in records))
    assert stack.mci("catalog", "import", str(file), "--format", "jsonl").code == 0

    saved = stack.mci("catalog", "selection", "set", account, "--sku", skus[0], "--sku", skus[1])
    assert saved.code == 0, saved.stderr
    shown = stack.mci("catalog", "selection", "show", account, "--json")
    assert shown.code == 0
    assert shown.json()["selection"]["include"]["skus"] == sorted(skus[:2])
    assert shown.json()["listed"] == 2
    table = stack.mci("catalog", "selection", "show", account)
    assert "2 products listed" in table.stdout and skus[0] in table.stdout

    preview = stack.mci("catalog", "selection", "set", account, "--sku", skus[2], "--preview")
    assert preview.code == 0, preview.stderr
    assert "count.entering" in preview.stdout and skus[2] in preview.stdout
    assert stack.mci("catalog", "selection", "show", account, "--json").json()["listed"] == 2

    # No Allegro token for the account here: the report fails, and says why.
    no_report = stack.mci("catalog", "coverage", account)
    assert no_report.code == 1 and "404 not_found" in no_report.stderr
    failed = stack.mci("catalog", "coverage", account, "--start")
    assert failed.code == 1 and "failed: AccountUnavailable" in failed.stderr
    assert "progress" in failed.stdout
    latest = stack.mci("catalog", "coverage", account, "--json")
    assert latest.code == 0 and latest.json()["status"] == "failed"

    rules = tmp_path / "rules.json"
    rules.write_text(json.dumps(RULES))
    put = stack.mci("pricing", "rules", "set", account, "--file", str(rules), "--json")
    assert put.code == 0, put.stderr
    current = stack.mci("pricing", "rules", "show", account, "--json")
    assert current.code == 0
    assert current.json()["rules"]["rules"][0]["value"] == "Toys"
    assert "Toys" in stack.mci("pricing", "rules", "show", account).stdout

    simulated = stack.mci("pricing", "simulate", account, "--file", str(rules), "--json")
    assert simulated.code == 0, simulated.stderr
    assert "would_trip_circuit_breaker" in simulated.json()

    bad = tmp_path / "bad-rules.json"
    bad.write_text(json.dumps({"rules": [{"scope": "nowhere", "value": "x", "percentage": "1"}]}))
    refused = stack.mci("pricing", "simulate", account, "--file", str(bad))
    assert refused.code == 1 and "422 unknown_scope" in refused.stderr

    # pricing prices the selection from catalog's CatalogUpdated (outbox, broker, consumer).
    deadline = time.monotonic() + 60
    prices = stack.mci("pricing", "explain", account, skus[0], "--json")
    while prices.code != 0 and time.monotonic() < deadline:
        time.sleep(0.5)
        prices = stack.mci("pricing", "explain", account, skus[0], "--json")
    assert prices.code == 0, prices.stderr
    assert prices.json()["sku"] == skus[0]
    assert prices.json()["marketplaces"]["allegro-pl"]["currency"] == "PLN"
    every = stack.mci("pricing", "explain", account, skus[0])
    assert "allegro-pl" in every.stdout and "PLN" in every.stdout
    chain = stack.mci("pricing", "explain", account, skus[0], "--marketplace", "allegro-pl")
    assert chain.code == 0, chain.stderr
    assert "chain" in chain.stdout and "cost" in chain.stdout and "rule" in chain.stdout
    chain_json = stack.mci(
        "pricing", "explain", account, skus[0], "--marketplace", "allegro-pl", "--json"
    ).json()
    assert chain_json["chain"][0]["step"] == "cost"

    unpriced = stack.mci("pricing", "explain", account, "NO-SUCH-SKU")
    assert unpriced.code == 1 and "404" in unpriced.stderr
    wrong_market = stack.mci("pricing", "explain", account, skus[0], "--marketplace", "ebay-de")
    assert wrong_market.code == 1 and "422" in wrong_market.stderr
    # The fee check reads Allegro as the account: this stack's pricing holds no token for it.
    check = stack.mci("pricing", "fee-check", account, "--price", "100")
    assert check.code == 1 and "409 account_unavailable" in check.stderr
    zero = stack.mci("pricing", "fee-check", account, "--price", "0")
    assert zero.code == 1 and "422 invalid_prices" in zero.stderr


def test_dlq_list_show_replay(stack: Stack) -> None:
    depths = stack.mci("dlq", "list", "--service", "catalog", "--json")
    assert depths.code == 0, depths.stderr
    queues = depths.json()["catalog"]
    assert queues and all(depth == 0 for depth in queues.values())
    queue = next(iter(queues))
    table = stack.mci("dlq", "list", "--service", "catalog")
    assert queue in table.stdout

    shown = stack.mci("dlq", "show", "catalog", queue, "--json")
    assert shown.code == 0 and shown.json() == []
    replayed = stack.mci("dlq", "replay", "catalog", queue)
    assert replayed.code == 0 and f"replayed 0 from {queue}" in replayed.stdout

    unknown = stack.mci("dlq", "show", "catalog", "no-such-queue")
    assert unknown.code == 1 and "404 unknown_queue" in unknown.stderr
    wrong_service = stack.mci("dlq", "show", "billing", queue)
    assert wrong_service.code == 2
    # A service that cannot be reached is named, exit 3, and the others are still listed.
    everywhere = stack.mci("dlq", "list", env=stack.env(MCI_OFFERS_URL=stack.closed))
    assert everywhere.code == 3
    assert f"cannot reach offers at {stack.closed}/admin/dlq" in everywhere.stderr
    assert "cannot reach orders" not in everywhere.stderr
    assert queue in everywhere.stdout and "orders.shipments" in everywhere.stdout


def test_config_file_and_no_secret_printed(stack: Stack, tmp_path: Path) -> None:
    config = tmp_path / "mci.toml"
    urls = "\n".join(f'{name}_url = "{s.url}"' for name, s in stack.services.items())
    config.write_text(f'api_key = "{stack.admin_key}"\n{urls}\n')
    env = {"PATH": "/usr/bin:/bin", "HOME": str(tmp_path), "COLUMNS": "200"}
    listed = stack.mci("--config", str(config), "accounts", "list", "--json", env=env)
    assert listed.code == 0, listed.stderr
    described = stack.mci("--config", str(config), "config", env=env)
    assert described.code == 0 and str(config) in described.stdout
    assert stack.admin_key not in described.stdout + described.stderr
    missing = stack.mci("--config", str(tmp_path / "nope.toml"), "accounts", "list", env=env)
    assert missing.code == 2 and "does not exist" in missing.stderr


def test_local_stack_key_file_is_the_fallback(stack: Stack, tmp_path: Path) -> None:
    (tmp_path / ".run").mkdir()
    (tmp_path / ".run" / "bootstrap-admin-key").write_text(stack.admin_key + "\n")
    work = tmp_path / "deeper"
    work.mkdir()
    listed = stack.mci("accounts", "list", env=stack.env(MCI_API_KEY=""), cwd=work)
    assert listed.code == 0, listed.stderr


def test_import_shows_a_progress_bar_on_a_terminal(stack: Stack, tmp_path: Path) -> None:
    """stderr on a pseudo-terminal: the upload's progress bar is drawn there, the report
    still goes to stdout (and with stderr not a terminal, as above, no bar at all)."""
    records = [as_supplier_record(p) for p in seed_products(200)]
    file = tmp_path / "products.jsonl"
    file.write_bytes(b"".join(orjson.dumps(r) + b"\n" for r in records))
    leader, follower = pty.openpty()
    env = stack.env(TERM="xterm-256color")
    process = subprocess.Popen(
        [str(MCI), "catalog", "import", str(file), "--format", "jsonl", "--json"],
        env=env,
        cwd=stack.home,
        stdout=subprocess.PIPE,
        stderr=follower,
    )
    os.close(follower)
    terminal = b""
    while True:
        try:
            chunk = os.read(leader, 65536)
        except OSError:  # EIO: the child closed the terminal
            break
        if not chunk:
            break
        terminal += chunk
    os.close(leader)
    stdout = process.stdout.read() if process.stdout else b""
    assert process.wait(timeout=120) == 0
    assert json.loads(stdout)["rows"] == 200
    drawn = terminal.decode("utf-8", "replace")
    assert "upload" in drawn
    assert "kB" in drawn  # the bytes sent so far, of the file's size


class OddServer(http.server.BaseHTTPRequestHandler):
    """Answers 200 with JSON of a shape mci does not expect (another version of auth)."""

    def do_GET(self) -> None:
        body = b'{"items": [{"unexpected": true}], "next": null}'
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *_: object) -> None:
        pass


def test_an_unexpected_answer_is_one_line_not_a_traceback(stack: Stack) -> None:
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), OddServer)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        env = stack.env(MCI_AUTH_URL=f"http://127.0.0.1:{server.server_address[1]}")
        odd = stack.mci("accounts", "status", env=env)
        debug = stack.mci("accounts", "status", env={**env, "MCI_DEBUG": "1"})
    finally:
        server.shutdown()
    assert odd.code == 1
    assert odd.stderr.startswith("mci: unexpected error (KeyError: 'id')")
    assert odd.stderr.count("\n") == 1
    no_traceback(odd.stderr)
    assert "Traceback" in debug.stderr  # asked for


def test_import_a_csv_in_another_encoding(stack: Stack, tmp_path: Path) -> None:
    text = b"".join(csv_lines(seed_products(4, seed=7))).decode("utf-8")
    assert any(ord(c) > 127 for c in text)  # Polish titles: the encoding matters
    file = tmp_path / "products.csv"
    file.write_bytes(text.encode("cp1250"))
    sent = stack.mci("catalog", "import", str(file), "--format", "csv", "--encoding", "cp1250")
    assert sent.code == 0, sent.stderr
    as_json = stack.mci(
        "catalog", "import", str(file), "--format", "csv", "--encoding", "cp1250", "--json"
    ).json()
    assert (as_json["encoding"], as_json["rows"], as_json["invalid"]) == ("cp1250", 4, 0)
    wrong = stack.mci("catalog", "import", str(file), "--format", "csv", "--encoding", "utf-16")
    assert wrong.code == 1 and "422 unsupported_encoding" in wrong.stderr


def test_orders_reimport_list_show_status_and_write_backs(stack: Stack) -> None:
    order, account = stack.order_id, stack.orders_account
    assert stack.mci("orders", "list", "--json").json()["items"] == []
    missing = stack.mci("orders", "show", order)
    assert missing.code == 1 and "not_found" in missing.stderr
    # Never imported: re-imported from Allegro (the emulator) by id and account.
    imported = stack.mci("orders", "reimport", order, "--account", account, "--json")
    assert imported.code == 0, imported.stderr
    assert imported.json()["received"] == 1
    listed = stack.mci("orders", "list", "--account", account, "--sku", "CLI-SKU-1")
    assert listed.code == 0 and order in listed.stdout and "READY_FOR_PROCESSING" in listed.stdout
    assert stack.mci("orders", "list", "--sku", "NOPE", "--json").json()["items"] == []
    shown = stack.mci("orders", "show", order)
    assert shown.code == 0 and "imported" in shown.stdout and "reimported" in shown.stdout
    set_status = stack.mci("orders", "set-status", order, "PROCESSING", "--json")
    assert set_status.code == 0 and set_status.json()["state"] == "pending"
    refused = stack.mci("orders", "set-status", order, "RETURNED")
    assert refused.code == 1 and "validation_failed" in refused.stderr
    # The account is not connected in orders (no AccountConnected here): it waits, pending.
    pending = stack.mci("orders", "write-backs", "--order", order, "--json").json()["items"]
    assert [(w["fulfillment_status"], w["state"]) for w in pending] == [("PROCESSING", "pending")]
    not_failed = stack.mci("orders", "retry", str(pending[0]["id"]))
    assert not_failed.code == 1 and "not_failed" in not_failed.stderr
    # Accounts other tests connected on the shared broker are failed here (orders has no
    # token for them), each with its reason; this test's account is not among them.
    failures = stack.mci("orders", "failures", "--json").json()
    assert all(f["status"] == "tokens_failed" and f["status_reason"] for f in failures)
    assert account not in {f["account_id"] for f in failures}
    unknown = stack.mci("orders", "retry-import", "nobody")
    assert unknown.code == 1 and "unknown_account" in unknown.stderr


def test_offers_readiness_progress_and_pause(stack: Stack, account: str) -> None:
    shown = stack.mci("offers", "readiness", account, "--json")
    assert shown.code == 0, shown.stderr
    assert shown.json()["readiness"] in ("unknown", "not_ready")
    # No Allegro token for this account here: the check says so, with how to fix it.
    checked = stack.mci("offers", "readiness", account, "--safety-text", "Keep away from fire.")
    assert checked.code == 0, checked.stderr
    assert "not_ready" in checked.stdout and "allegro_connection" in checked.stdout
    paused = stack.mci("offers", "pause", account, "--json")
    assert paused.code == 0 and paused.json()["paused"] is True
    progress = stack.mci("offers", "progress", account, "--json")
    assert progress.code == 0 and progress.json()["paused"] is True
    assert stack.mci("offers", "resume", account).stdout.strip() == f"{account}: resumed"
    listed = stack.mci("offers", "list", account, "--state", "failed")
    assert listed.code == 0 and "nothing" in listed.stdout
    retried = stack.mci("offers", "retry", account)
    assert retried.code == 0 and "retried 0 offer(s)" in retried.stdout
    plan = stack.mci("offers", "dry-run", account, "--json")
    assert plan.code == 0 and plan.json()["would"]["create"]["count"] == 0
    refused = stack.mci("offers", "refused-images", account)
    assert refused.code == 0 and "nothing" in refused.stdout, refused.stderr
    forgot = stack.mci("offers", "forget-refused-images", account, "--url", "https://x.example/1")
    assert forgot.code == 0 and "forgot 0 refused image(s)" in forgot.stdout, forgot.stderr
    forgot_all = stack.mci("offers", "forget-refused-images", account, "--json")
    assert forgot_all.json() == {"forgotten": 0, "urls": [], "offers_to_edit": []}
    bad_url = stack.mci("offers", "forget-refused-images", account, "--url", "")
    assert bad_url.code == 1 and "offers: 422" in bad_url.stderr
    no_traceback(bad_url.stderr)
    missing = stack.mci("offers", "show", account, "SKU-NONE")
    assert missing.code == 1 and "offers: 404 not_found" in missing.stderr
    no_traceback(missing.stderr)


def test_offers_drift_and_reconcile(stack: Stack, account: str) -> None:
    shown = stack.mci("offers", "drift", account)
    assert shown.code == 0, shown.stderr
    assert "drift of" in shown.stdout and "missing_on_allegro" in shown.stdout
    assert "differences, newest first: nothing" in shown.stdout
    as_json = stack.mci("offers", "drift", account, "--kind", "price", "--json").json()
    assert as_json["total"] == 0 and as_json["items"] == [] and as_json["next"] is None
    assert set(as_json["by_kind"]) >= {"price", "stock", "ended", "unknown_to_us"}
    bad = stack.mci("offers", "drift", account, "--kind", "colour")
    assert bad.code == 1 and "422 invalid_kind" in bad.stderr
    # No Allegro token for this account here: the reconcile is refused, and says why.
    refused = stack.mci("offers", "reconcile", account)
    assert refused.code == 1 and "409 account_unavailable" in refused.stderr
    no_traceback(refused.stderr)
    unknown = stack.mci("offers", "reconcile", "nobody")
    assert unknown.code == 1 and "unknown_account" in unknown.stderr


async def test_supplier_orders_address_correction_and_wallet(
    stack: Stack, cli_bigbuy: BigBuyEmulatorHandle
) -> None:
    """An order BigBuy refuses for its postcode is listed with BigBuy's words, corrected with
    `mci supplier resend --postcode`, and sent once; the wallet shows the balance."""
    cli_bigbuy.admin("PUT", "/wallet", {"balance": "100000.00"})
    order = allegro_order(sellable(cli_bigbuy)["sku"], zipCode="3O-OO1")
    bus = await Bus.open(stack.amqp_url)
    try:
        await bus.publish(order, source="orders")
    finally:
        await bus.close()

    async def refused() -> bool:
        found = stack.mci("supplier", "show", order.order_id, "--json")
        return found.code == 0 and found.json()["state"] == "bad_address"

    await wait_until(refused, within=60, interval=0.5)
    listed = stack.mci("supplier", "list", "--state", "bad_address")
    assert listed.code == 0, listed.stderr
    assert order.order_id in listed.stdout and "ER004" in listed.stdout
    shown = stack.mci("supplier", "show", order.order_id)
    assert shown.code == 0 and "3O-OO1" in shown.stdout and "refusal" in shown.stdout

    # A postcode BigBuy would refuse too is refused here, in words, and nothing is sent.
    wrong = stack.mci("supplier", "resend", order.order_id, "--postcode", "30001")
    assert wrong.code == 1, wrong.stdout
    assert "invalid_address" in wrong.stderr and "Traceback" not in wrong.stderr
    empty = stack.mci("supplier", "resend", order.order_id, "--town", " ")
    assert empty.code == 2 and "must not be empty" in empty.stderr
    assert bigbuy_orders(cli_bigbuy, order.order_id) == []

    fixed = stack.mci("supplier", "resend", order.order_id, "--postcode", "30-001", "--json")
    assert fixed.code == 0, fixed.stderr
    assert fixed.json()["shipping_address"]["postcode"] == "30-001"

    async def sent() -> bool:
        found = stack.mci("supplier", "show", order.order_id, "--json")
        return bool(found.json()["state"] == "sent")

    await wait_until(sent, within=60, interval=0.5)
    (placed,) = bigbuy_orders(cli_bigbuy, order.order_id)
    assert placed["shippingAddress"]["postcode"] == "30-001"
    again = stack.mci("supplier", "resend", order.order_id)
    assert again.code == 1 and "not_resendable" in again.stderr

    wallet = stack.mci("supplier", "wallet", "--json")
    assert wallet.code == 0, wallet.stderr
    assert wallet.json()["balance"] is not None and wallet.json()["currency"] == "EUR"
    human = stack.mci("supplier", "wallet")
    assert human.code == 0 and "balance" in human.stdout and "sent" in human.stdout
