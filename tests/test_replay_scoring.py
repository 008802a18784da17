"""A suite of replay routes with hand-made outputs gives exactly the expected figures."""

from __future__ import annotations

import json

import pytest

from conftest import TRAIN, make_case
from evalkit.runner import RunOptions, run_suite

CASES = TRAIN + [
    make_case("h1", "billing_dispute", "charged twice"),
    make_case("h2", "cancellation", "close my account"),
    make_case("h3", "login_failure", "cannot sign in"),
    make_case("h4", "billing_dispute", "refund the extra charge"),
    make_case("h5", "cancellation", "stop my plan"),
]
REPLAY = [
    {
        "case_id": "h1",
        "output": '{"label": "billing_dispute"}',
        "latency_ms": 120,
        "input_tokens": 50,
        "output_tokens": 8,
    },
    {
        "case_id": "h2",
        "output": '{"label": "billing_dispute"}',
        "latency_ms": 80,
        "input_tokens": 40,
        "output_tokens": 8,
    },
    {
        "case_id": "h3",
        "output": '{"label": "password_reset"}',
        "latency_ms": 100,
        "input_tokens": 45,
        "output_tokens": 8,
    },
    {
        "case_id": "h4",
        "output": '{"label": "billing_dispute"',
        "latency_ms": 90,
        "input_tokens": 44,
        "output_tokens": 7,
    },
    # h5 has no line: an error row, never a crash
]


@pytest.fixture
def replay_run(make_suite, tmp_path):
    (tmp_path / "outputs.jsonl").write_text("".join(json.dumps(r) + "\n" for r in REPLAY))
    suite = make_suite(CASES, routes={"recorded": {"kind": "base", "model": "replay:outputs.jsonl"}})
    return run_suite(suite, RunOptions(out=tmp_path / "run", progress=False))


def test_parse_rate_counts_only_rows_that_returned_output(replay_run):
    parse_rate = replay_run.summary["routes"]["recorded"]["parse_rate"]
    assert parse_rate["value"] == 2 / 4 and parse_rate["n"] == 4


def test_accuracy_counts_unparsed_and_error_rows_as_wrong(replay_run):
    accuracy = replay_run.summary["routes"]["recorded"]["accuracy"]
    assert accuracy["value"] == 1 / 5 and accuracy["n"] == 5
    lo, hi = accuracy["ci95"]
    assert lo < 0.2 < hi


def test_confusion_has_unparsed_and_error_columns(replay_run):
    confusion = replay_run.summary["routes"]["recorded"]["confusion"]
    assert confusion["columns"] == ["billing_dispute", "cancellation", "login_failure", "__unparsed__", "__error__"]
    assert confusion["matrix"] == [
        [1, 0, 0, 1, 0],  # h1 right, h4 broken JSON
        [1, 0, 0, 0, 1],  # h2 wrong label, h5 missing from the replay file
        [0, 0, 0, 1, 0],  # h3 label outside the set
    ]


def test_missing_case_is_an_error_row_that_says_why(replay_run):
    rows = [json.loads(line) for line in (replay_run.run_dir / "results.jsonl").read_text().splitlines()]
    h5 = next(r for r in rows if r["case_id"] == "h5")
    assert h5["error"]["type"] == "replay_missing" and h5["output"] is None and h5["correct"] is False
    assert replay_run.summary["routes"]["recorded"]["errors_by_type"] == {"replay_missing": 1}


def test_parse_errors_say_what_went_wrong(replay_run):
    rows = {r["case_id"]: r for r in map(json.loads, (replay_run.run_dir / "results.jsonl").read_text().splitlines())}
    assert "not in task.labels" in rows["h3"]["parse_error"]
    assert rows["h4"]["parse_error"].startswith("invalid JSON")
    assert rows["h2"]["parsed_ok"] and rows["h2"]["predicted_label"] == "billing_dispute" and not rows["h2"]["correct"]


def test_replayed_latency_and_tokens_are_kept(replay_run):
    route = replay_run.summary["routes"]["recorded"]
    assert route["latency_ms"]["p50"] == 95.0
    assert route["tokens"]["input_mean"] == pytest.approx((50 + 40 + 45 + 44) / 4)


def test_replay_lines_of_another_route_are_ignored(make_suite, tmp_path):
    lines = [dict(r, route="other") for r in REPLAY]
    (tmp_path / "outputs.jsonl").write_text("".join(json.dumps(r) + "\n" for r in lines))
    suite = make_suite(CASES, routes={"recorded": {"kind": "base", "model": "replay:outputs.jsonl"}})
    result = run_suite(suite, RunOptions(out=tmp_path / "run", progress=False))
    assert result.summary["routes"]["recorded"]["errors"] == 5


def test_a_line_for_this_route_wins_over_a_line_for_every_route(make_suite, tmp_path):
    import asyncio

    from evalkit.providers.base import ProviderRequest
    from evalkit.providers.replay import ReplayProvider
    from evalkit.suite import load_suite

    lines = [{"case_id": "h1", "output": "shared"}, {"case_id": "h1", "route": "recorded", "output": "own"},
             {"case_id": "h2", "route": "recorded", "output": "own"}, {"case_id": "h2", "output": "shared"}]
    (tmp_path / "outputs.jsonl").write_text("".join(json.dumps(r) + "\n" for r in lines))
    suite = load_suite(make_suite(CASES, routes={"recorded": {"kind": "base", "model": "replay:outputs.jsonl"}}))
    provider = ReplayProvider("outputs.jsonl", route_name="recorded", route=suite.spec.routes["recorded"], suite=suite)
    provider.prepare()
    for case_id in ("h1", "h2"):
        response = asyncio.run(provider.complete(ProviderRequest(case_id, "recorded", 0, [], {})))
        assert response.text == "own"
