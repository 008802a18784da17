"""cases.jsonl is written once the first row is in, so the first requests do not wait behind
serialising a large suite's cases; a run stopped before any row still gets it."""

from __future__ import annotations

import json

import pytest

from evalkit.testing import RateLimit, StubServer
from stub_helpers import gold, isolate, openai_route, rows, run, write_suite


@pytest.fixture(autouse=True)
def _isolated(monkeypatch, tmp_path):
    isolate(monkeypatch, tmp_path)


def _holdout_ids(cases_file) -> list[str]:
    return [json.loads(line)["id"] for line in cases_file.read_text(encoding="utf-8").splitlines() if line]


def test_the_first_request_goes_out_before_cases_jsonl_is_written(tmp_path):
    out = tmp_path / "run"
    seen: list[bool] = []

    def responder(kind, body):
        seen.append((out / "cases.jsonl").exists())
        return gold(body)

    with StubServer(responder) as stub:
        result = run(write_suite(tmp_path, {"base": openai_route(stub)}, n=4), out, concurrency=1)
    assert result.exit_code == 0 and len(rows(out)) == 4
    assert seen[0] is False  # the first request did not wait for the cases file
    assert all(seen[1:])  # written once the first row was in
    assert _holdout_ids(out / "cases.jsonl") == ["c000", "c001", "c002", "c003"]


def test_a_run_stopped_before_its_first_row_still_writes_cases_jsonl(tmp_path):
    out = tmp_path / "run"
    with StubServer(lambda kind, body: gold(body), rate_limit=RateLimit(quota_after=0)) as stub:
        result = run(write_suite(tmp_path, {"base": openai_route(stub)}, n=3), out, concurrency=1)
    assert result.stopped is not None and "quota" in result.stopped
    assert not (out / "results.jsonl").exists() or rows(out) == []
    assert _holdout_ids(out / "cases.jsonl") == ["c000", "c001", "c002"]


def test_a_fully_resumed_run_writes_cases_jsonl_though_no_row_comes(tmp_path):
    out = tmp_path / "run"
    with StubServer(lambda kind, body: gold(body)) as stub:
        suite = write_suite(tmp_path, {"base": openai_route(stub)}, n=2)
        run(suite, out)
        (out / "cases.jsonl").unlink()
        result = run(suite, None, resume=out)
    assert result.exit_code == 0 and result.calls_made == 0
    assert _holdout_ids(out / "cases.jsonl") == ["c000", "c001"]
