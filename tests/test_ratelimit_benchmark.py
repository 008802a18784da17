"""The rate-limit benchmark's own arithmetic and tables (structure only: nothing is timed)."""

from __future__ import annotations

import sys
from pathlib import Path
from types import SimpleNamespace

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from benchmarks.ratelimit import _medians, render  # noqa: E402

from evalkit.testing.stub_server.ratelimit import request_tokens  # noqa: E402


def _record(wall, rejected, rows=200, tool="evalkit", flags=""):
    return {
        "case": "OpenAI 600 RPM, retry-after",
        "tool": tool,
        "flags": flags,
        "wall_s": wall,
        "allowed_s": 20.0,
        "ratio": wall / 20.0,
        "rejected": rejected,
        "share_429": rejected / 210,
        "rows": rows,
        "calls": 200,
        "exit": 0,
    }


def test_the_table_reports_the_median_repetition_and_the_worst_429s():
    bench = SimpleNamespace(
        calls=200, tokens=876.0, records=[_record(22.0, 1), _record(21.0, 0), _record(25.0, 4, rows=199)]
    )
    [chosen] = _medians(bench.records)
    assert chosen["wall_s"] == 22.0 and chosen["rejected_max"] == 4 and chosen["rows_min"] == 199
    assert (
        "| OpenAI 600 RPM, retry-after | evalkit | 1.10x (1.05–1.25) | 22.0 s | - | 1 (0.5%) [4] | 200 / 200 [199] | 0 |"  # noqa: E501 - one table row, verbatim
        in render(bench)
    )


def test_the_stub_counts_a_request_as_its_serialised_messages_over_four_plus_max_tokens():
    body = {"messages": [{"role": "user", "content": "x" * 100}], "system": "be brief", "max_tokens": 50}
    chars = len('[{"role": "user", "content": "' + "x" * 100 + '"}]') + len('"be brief"')
    assert request_tokens(body) == (chars // 4 + 1, 50)
