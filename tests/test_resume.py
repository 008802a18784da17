"""Resume and clean stops: a killed run resumes with only the missing calls; SIGINT/SIGTERM
stop cleanly (aborted calls unrecorded, manifest incomplete, exit 3, resume command printed)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from evalkit.errors import BadInput
from evalkit.runner import _lock
from evalkit.testing.stub_server import StubServer, fail
from stub_helpers import gold, isolate, model_calls, openai_route, rows, run, write_suite

N = 24
CONCURRENCY = 4


@pytest.fixture(autouse=True)
def _isolated(monkeypatch, tmp_path):
    isolate(monkeypatch, tmp_path)


@pytest.fixture
def slow_stub():
    with StubServer(lambda kind, body: gold(body), latency_ms=150) as server:
        yield server


def start_run(suite: Path, out: Path) -> subprocess.Popen:
    command = [sys.executable, "-m", "evalkit", "run", str(suite), "--out", str(out), "--no-progress",
               "--cache", "off", "--concurrency", str(CONCURRENCY)]
    return subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=dict(os.environ))


def wait_for_rows(out: Path, count: int, process: subprocess.Popen) -> None:
    deadline = time.monotonic() + 60
    results = out / "results.jsonl"
    while time.monotonic() < deadline:
        if results.exists() and results.read_text(encoding="utf-8").count("\n") >= count:
            return
        if process.poll() is not None:
            pytest.fail(f"the run ended before {count} rows: {process.communicate()}")
        time.sleep(0.01)
    process.kill()
    pytest.fail(f"no {count} rows within a minute")


def keys_of(run_dir: Path) -> list[tuple]:
    return [(r["case_id"], r["route"], r["repeat"]) for r in rows(run_dir)]


def test_run_killed_halfway_resumes_with_only_the_missing_calls(slow_stub, tmp_path):
    suite = write_suite(tmp_path, {"base": openai_route(slow_stub)}, n=N)
    out = tmp_path / "run"
    process = start_run(suite, out)
    wait_for_rows(out, N // 3, process)
    process.send_signal(signal.SIGKILL)
    process.wait()
    time.sleep(0.3)  # let the stub finish answering the calls that were in flight
    kept = (out / "results.jsonl").read_bytes()
    finished = len(rows(out))
    sent_before = len(model_calls(slow_stub))
    assert 0 < finished < N
    assert sent_before - finished <= CONCURRENCY  # at most the calls in flight are lost

    slow_stub.reset_counts()
    result = run(suite, out, resume=out, cache="off")

    assert result.complete and result.exit_code == 0
    assert len(model_calls(slow_stub)) == N - finished  # only the missing calls are sent
    assert (out / "results.jsonl").read_bytes().startswith(kept)  # finished rows are kept as they were
    assert sorted(keys_of(out)) == sorted(set(keys_of(out))) and len(keys_of(out)) == N
    assert all(r["correct"] for r in rows(out))


@pytest.mark.parametrize("stop_signal", [signal.SIGTERM, signal.SIGINT])
def test_signal_stops_cleanly_and_the_run_resumes(slow_stub, tmp_path, stop_signal):
    suite = write_suite(tmp_path, {"base": openai_route(slow_stub)}, n=N)
    out = tmp_path / "run"
    process = start_run(suite, out)
    wait_for_rows(out, CONCURRENCY, process)
    process.send_signal(stop_signal)
    _, stderr = process.communicate(timeout=60)

    assert process.returncode == 3
    assert f"--resume {out}" in stderr
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["status"] == "interrupted"
    stopped_rows = rows(out)
    assert stopped_rows and all(r["error"] is None for r in stopped_rows)  # aborted calls are not recorded
    assert len(stopped_rows) < N

    result = run(suite, out, resume=out, cache="off")
    assert result.complete and result.manifest["status"] == "complete"
    assert sorted(keys_of(out)) == sorted(set(keys_of(out))) and len(keys_of(out)) == N


def test_resume_keeps_the_runs_own_routes(tmp_path):
    with StubServer(lambda kind, body: gold(body)) as stub:
        suite = write_suite(tmp_path, {"a": openai_route(stub), "b": openai_route(stub, model="gpt-4.1")}, n=4)
        out = tmp_path / "run"
        run(suite, out, routes=["a"], cache="off")
        lines = (out / "results.jsonl").read_text().splitlines(keepends=True)
        (out / "results.jsonl").write_text("".join(lines[:2]))
        stub.reset_counts()
        result = run(suite, out, resume=out, cache="off")
    assert [c["json"]["model"] for c in model_calls(stub)] == ["gpt-4.1-mini", "gpt-4.1-mini"]
    assert sorted(keys_of(out)) == [(f"c00{i}", "a", 0) for i in range(4)]
    assert result.complete


def test_resuming_a_finished_run_makes_no_call_and_writes_no_row(tmp_path):
    with StubServer(lambda kind, body: gold(body)) as stub:
        suite = write_suite(tmp_path, {"base": openai_route(stub)}, n=3)
        out = tmp_path / "run"
        run(suite, out, cache="off")
        before = (out / "results.jsonl").read_bytes()
        stub.reset_counts()
        result = run(suite, out, resume=out, cache="off")
    assert result.calls_made == 0 and model_calls(stub) == []
    assert (out / "results.jsonl").read_bytes() == before


def test_half_written_last_row_is_redone(tmp_path):
    with StubServer(lambda kind, body: gold(body)) as stub:
        suite = write_suite(tmp_path, {"base": openai_route(stub)}, n=3)
        out = tmp_path / "run"
        run(suite, out, cache="off")
        lines = (out / "results.jsonl").read_text().splitlines(keepends=True)
        (out / "results.jsonl").write_text("".join(lines[:2]) + lines[2][:40])
        stub.reset_counts()
        run(suite, out, resume=out, cache="off")
    assert len(model_calls(stub)) == 1
    assert len(keys_of(out)) == 3 and all(r["correct"] for r in rows(out))


def test_two_processes_cannot_write_one_run(tmp_path):
    (tmp_path / "results.jsonl").write_text("")
    held = _lock(tmp_path)
    try:
        with pytest.raises(BadInput, match="another evalkit process"):
            _lock(tmp_path)
    finally:
        held.close()


def test_the_run_stays_locked_after_retry_errors_rewrites_the_rows(tmp_path):
    from evalkit.store import rewrite_rows

    (tmp_path / "results.jsonl").write_text('{"case_id": "c1"}\n')
    held = _lock(tmp_path)
    try:
        rewrite_rows(tmp_path, [])  # what --retry-errors does to drop the error rows
        with pytest.raises(BadInput, match="another evalkit process"):
            _lock(tmp_path)
    finally:
        held.close()


def test_resume_refuses_a_suite_that_changed(tmp_path):
    with StubServer(lambda kind, body: gold(body)) as stub:
        suite = write_suite(tmp_path, {"base": openai_route(stub)}, n=2)
        out = tmp_path / "run"
        run(suite, out, cache="off")
        suite.write_text(suite.read_text().replace("max_tokens: 200", "max_tokens: 300"))
        with pytest.raises(BadInput, match="changed"):
            run(suite, out, resume=out, cache="off")


def test_retry_errors_makes_only_the_failed_calls_again_and_replaces_their_rows(tmp_path):
    failed: list[int] = []

    def first_completion_refused(n, kind, body):
        if body and not failed:
            failed.append(n)
            return fail(400)
        return None

    with StubServer(lambda kind, body: gold(body), fail_script=first_completion_refused) as stub:
        suite = write_suite(tmp_path, {"base": openai_route(stub)}, n=3)
        out = tmp_path / "run"
        run(suite, out, cache="off")
        assert sum(1 for r in rows(out) if r["error"]) == 1
        stub.reset_counts()
        result = run(suite, out, resume=out, cache="off", retry_errors=True)
    assert len(model_calls(stub)) == 1
    assert len(keys_of(out)) == len(rows(out)) == 3 and all(r["correct"] for r in rows(out))
    assert result.summary["routes"]["base"]["errors"] == 0
    assert result.manifest["resumed"][-1]["errors_retried"] == 1


def test_resume_without_retry_errors_keeps_error_rows(tmp_path):
    with StubServer(
        lambda kind, body: gold(body), fail_script=lambda n, kind, body: fail(400) if body else None
    ) as stub:
        suite = write_suite(tmp_path, {"base": openai_route(stub)}, n=2)
        out = tmp_path / "run"
        run(suite, out, cache="off")
        stub.reset_counts()
        run(suite, out, resume=out, cache="off")
    assert model_calls(stub) == [] and all(r["error"] for r in rows(out))


def test_retry_errors_needs_a_run_to_resume(tmp_path):
    suite = write_suite(tmp_path, {"base": {"kind": "base", "model": "mock:expected"}}, n=1)
    with pytest.raises(BadInput, match="--resume"):
        run(suite, tmp_path / "run", retry_errors=True)
