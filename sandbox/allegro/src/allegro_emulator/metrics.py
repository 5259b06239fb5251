"""`GET /metrics`: the emulator's request counters in Prometheus' text format, written here
rather than through a client library (the emulator keeps its counts anyway, for
`/__admin/counters`; a reset there starts these counters again from 0, which Prometheus reads
as a counter reset)."""

from __future__ import annotations

from collections.abc import Mapping

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"


def _label(value: str) -> str:
    return value.replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')


def exposition(counters: Mapping[tuple[str, str, int], int], rate_limit_rejections: int) -> bytes:
    """Requests by method, operation (the route template, `(unmatched)` for no route) and
    status; the 429s sent; the calls the emulated rate limits refused."""
    lines = [
        "# HELP allegro_emulator_requests_total Requests the emulator answered, by method,"
        " operation (route template) and status.",
        "# TYPE allegro_emulator_requests_total counter",
    ]
    for (method, operation, status), count in sorted(counters.items()):
        lines.append(
            f'allegro_emulator_requests_total{{method="{_label(method)}",'
            f'operation="{_label(operation)}",status="{status}"}} {count}'
        )
    too_many = sum(n for (_, _, status), n in counters.items() if status == 429)
    lines += [
        "# HELP allegro_emulator_too_many_requests_total Answers with status 429 the emulator"
        " sent (rate limits and injected faults).",
        "# TYPE allegro_emulator_too_many_requests_total counter",
        f"allegro_emulator_too_many_requests_total {too_many}",
        "# HELP allegro_emulator_rate_limit_rejections_total Calls the emulated rate limits"
        " refused.",
        "# TYPE allegro_emulator_rate_limit_rejections_total counter",
        f"allegro_emulator_rate_limit_rejections_total {rate_limit_rejections}",
    ]
    return ("\n".join(lines) + "\n").encode()
