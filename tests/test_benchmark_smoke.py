"""The benchmark's code path on a handful of calls, so it cannot rot (`make bench` runs the
full one). Structure only: nothing here is timed or compared with a threshold."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from benchmarks.run import Bench, Config, figures, machine, render_markdown  # noqa: E402
from benchmarks.stub_process import LocalStub  # noqa: E402

CASES, CONCURRENCY = 2, 4
CALLS = CASES * 4  # four routes


class RecordingStub(LocalStub):
    """The in-process stub, keeping the completion bodies of each measured run."""

    def __init__(self):
        super().__init__(record_requests=True)
        self.bodies: list[list[dict]] = []

    def stats(self):
        self.bodies.append([r["json"] for r in self.server.requests if r["path"] == "/v1/chat/completions"])
        return super().stats()


@pytest.fixture(scope="module")
def bench(tmp_path_factory):
    config = Config(cases=CASES, concurrencies=(CONCURRENCY,), reps={CONCURRENCY: 1}, cached_reps=1, cold_starts=1,
                    latency_ms=20.0, warmup=False, scale=False)
    stub = RecordingStub()
    bench = Bench(config, stub, tmp_path_factory.mktemp("bench"), log=lambda message: None)
    try:
        bench.run()
        # the fast-server round's two bare loops, through `create` and through `post`
        bench.pairs(bench.prepare("support_triage", CASES), CONCURRENCY, 1, "post_smoke", ("sdk", "sdk-post"))
    finally:
        stub.close()
    return bench


def records(bench, figure, tool):
    return [r for r in bench.records if r["figure"] == figure and r["tool"] == tool]


def test_evalkit_and_the_sdk_loop_each_make_every_planned_call(bench):
    for tool in ("evalkit", "sdk"):
        (record,) = records(bench, "calls", tool)
        assert (record["calls"], record["completions"], record["rows"], record["returncode"]) == (
            CALLS,
            CALLS,
            CALLS,
            0,
        )
        assert 1 <= record["max_in_flight"] <= CONCURRENCY
        assert record["misses"] == 0  # every request was one of the suite's cases


def test_both_send_the_same_requests(bench):
    evalkit, sdk = (sorted(json.dumps(b, sort_keys=True) for b in bodies) for bodies in bench.stub.bodies[:2])
    assert len(evalkit) == CALLS and evalkit == sdk


def test_the_loop_through_post_sends_what_the_loop_through_create_sends(bench):
    (record,) = records(bench, "post_smoke", "sdk-post")
    assert (record["completions"], record["rows"], record["returncode"]) == (CALLS, CALLS, 0)
    create, post = (sorted(json.dumps(b, sort_keys=True) for b in bodies) for bodies in bench.stub.bodies[-2:])
    assert len(post) == CALLS and post == create


def test_the_sdk_floor_imports_the_sdk_and_builds_its_client(bench):
    record = bench.sdk_floor(0)
    assert (record["figure"], record["tool"], record["returncode"]) == ("sdk_floor", "sdk", 0)


def test_every_measurement_has_wall_cpu_and_peak_rss(bench):
    for record in bench.records:
        assert record["wall_s"] > 0 and record["cpu_s"] >= 0 and record["maxrss_mb"] > 0, record["figure"]


def test_the_cached_rerun_sends_no_request(bench):
    (record,) = records(bench, "cached", "evalkit")
    assert (record["completions"], record["requests"], record["rows"]) == (0, 0, CALLS)


def test_the_cold_start_runs_evalkit_version(bench):
    assert records(bench, "cold_start", "evalkit")[0]["returncode"] == 0


def test_the_markdown_table_has_a_row_per_figure_with_both_tools(bench):
    rows = figures(bench)
    wall = next(r for r in rows if r[0] == f"wall, {CALLS} calls, concurrency {CONCURRENCY}")
    assert wall[1].endswith(" s") and wall[2].endswith(" s") and wall[3].endswith("x")
    assert any(r[0].startswith("cached re-run") for r in rows) and any("cold start" in r[0] for r in rows)
    text = render_markdown(bench, machine(), 1.0)
    assert "| figure | evalkit | SDK loop | ratio | target |" in text
