"""`GET /metrics`: the emulator's request counters in Prometheus' text format, written here
rather than through a client library (the emulator keeps its counts anyway, for
`/__admin/counters`; a reset there starts these counters again from 0, which Prometheus reads
as a counter reset)."""

from __future__ import annotations

from collections.abc import Mapping

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"


def _label(value: str) -> str:
    return value.replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')


def exposition(counters: Mapping[tuple[str, int], int]) -> bytes:
    """API requests by operation (the endpoint with its ids as `{}`: `catalog/product/{}`) and
    status; the 429s sent (the emulated rate limits and forced errors)."""
    lines = [
        "# HELP bigbuy_emulator_requests_total API requests the emulator answered, by operation"
        " (endpoint, ids as {}) and status.",
        "# TYPE bigbuy_emulator_requests_total counter",
    ]
    for (operation, status), count in sorted(counters.items()):
        lines.append(
            f'bigbuy_emulator_requests_total{{operation="{_label(operation)}",'
            f'status="{status}"}} {count}'
        )
    too_many = sum(n for (_, status), n in counters.items() if status == 429)
    lines += [
        "# HELP bigbuy_emulator_too_many_requests_total Answers with status 429 the emulator"
        " sent (rate limits and forced errors).",
        "# TYPE bigbuy_emulator_too_many_requests_total counter",
        f"bigbuy_emulator_too_many_requests_total {too_many}",
    ]
    return ("\n".join(lines) + "\n").encode()
