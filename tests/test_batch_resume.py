"""A `--batch` run killed after submitting resumes and collects its batches without sending
anything twice (the stub counts batch creations); Ctrl-C while polling leaves the batches
running, exits 3 and says how to resume."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from evalkit.batch import BatchOptions
from evalkit.testing.stub_server import StubServer
from stub_helpers import anthropic_route, gold, isolate, model_calls, openai_route, rows, run, write_suite

N = 12
NEVER = 10**9  # retrievals before a stub batch ends: it stays in progress until the test says otherwise


@pytest.fixture(autouse=True)
def _isolated(monkeypatch, tmp_path):
    isolate(monkeypatch, tmp_path)


@pytest.fixture
def held_stub():
    """A stub whose batches stay in progress until `batch_polls` is lowered."""
    with StubServer(lambda kind, body: gold(body), batch_polls=NEVER) as server:
        yield server


def start_batch_run(suite: Path, out: Path) -> subprocess.Popen:
    command = [sys.executable, "-m", "evalkit", "run", str(suite), "--out", str(out), "--no-progress", "--cache", "off",
               "--batch", "--batch-poll", "0.05"]
    return subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=dict(os.environ))


def wait_for_batches(out: Path, count: int, process: subprocess.Popen) -> list[dict]:
    """Wait until batches.json records `count` submitted batches."""
    deadline = time.monotonic() + 60
    state = out / "batches.json"
    while time.monotonic() < deadline:
        if state.exists():
            batches = [b for b in json.loads(state.read_text(encoding="utf-8"))["batches"] if b["id"]]  # confirmed
            if len(batches) >= count:
                return batches
        if process.poll() is not None:
            pytest.fail(f"the run ended before submitting {count} batches: {process.communicate()}")
        time.sleep(0.02)
    process.kill()
    pytest.fail(f"no {count} batches within a minute")


def two_route_suite(stub, folder: Path) -> Path:
    return write_suite(folder, {"a": openai_route(stub), "b": anthropic_route(stub)}, n=N)


def test_a_run_killed_after_submitting_resumes_without_submitting_anything_twice(held_stub, tmp_path):
    suite = two_route_suite(held_stub, tmp_path)
    out = tmp_path / "run"
    process = start_batch_run(suite, out)
    submitted = wait_for_batches(out, 2, process)
    process.send_signal(signal.SIGKILL)
    process.wait()
    assert held_stub.batches_created == 2 and rows(out) == []
    assert {b["id"] for b in submitted} == set(held_stub.batches)

    held_stub.batch_polls = 0  # the batches end at their next retrieval
    result = run(suite, out, resume=out, cache="off")

    assert result.complete and result.exit_code == 0
    assert held_stub.batches_created == 2  # nothing was submitted again
    assert model_calls(held_stub) == []  # and nothing went live
    found = rows(out)
    assert len(found) == 2 * N and len({(r["case_id"], r["route"]) for r in found}) == 2 * N
    assert all(r["correct"] and r["batch"] for r in found)
    assert {r["batch_id"] for r in found} == {b["id"] for b in submitted}


def test_ctrl_c_while_polling_leaves_the_batches_running_and_says_how_to_resume(held_stub, tmp_path):
    suite = two_route_suite(held_stub, tmp_path)
    out = tmp_path / "run"
    process = start_batch_run(suite, out)
    wait_for_batches(out, 2, process)
    process.send_signal(signal.SIGINT)
    _, stderr = process.communicate(timeout=60)

    assert process.returncode == 3
    assert f"--resume {out}" in stderr and "keep running at the provider" in stderr
    assert json.loads((out / "manifest.json").read_text())["status"] == "interrupted"
    assert not any(r["path"].endswith("/cancel") for r in held_stub.requests)
    assert not any(b["cancelled"] for b in held_stub.batches.values())

    held_stub.batch_polls = 0
    result = run(suite, out, resume=out, cache="off")
    assert result.complete and held_stub.batches_created == 2
    assert len(rows(out)) == 2 * N and all(r["correct"] for r in rows(out))


def test_a_resumed_batch_run_submits_only_the_requests_no_batch_holds(tmp_path):
    """As if killed between the two routes' submissions: route a's batch is collected, route b
    is submitted for the first time."""
    with StubServer(lambda kind, body: gold(body)) as stub:
        suite = two_route_suite(stub, tmp_path)
        out = tmp_path / "run"
        run(suite, out, cache="off", batch=BatchOptions(poll_s=0.01))
        state = json.loads((out / "batches.json").read_text())
        state["batches"] = [b for b in state["batches"] if b["route"] == "a"]
        (out / "batches.json").write_text(json.dumps(state))
        (out / "results.jsonl").write_text("")  # no row was written yet
        result = run(suite, out, resume=out, cache="off")
        kinds = [b["kind"] for b in stub.batches.values()]
    assert kinds == ["openai", "anthropic", "anthropic"]  # only route b was submitted again
    assert result.complete and len(rows(out)) == 2 * N and all(r["correct"] for r in rows(out))


def batch_the_provider_forgot(stub, tmp_path: Path) -> tuple[Path, Path]:
    """A 3-case batch run whose one batch the provider no longer knows, killed while it ran (no rows)."""
    suite = write_suite(tmp_path, {"a": openai_route(stub)}, n=3)
    out = tmp_path / "run"
    run(suite, out, cache="off", batch=BatchOptions(poll_s=0.01))
    state = json.loads((out / "batches.json").read_text())
    state["batches"][0].update(id="batch_gone", ended=False, collected_at=None)
    (out / "batches.json").write_text(json.dumps(state))
    (out / "results.jsonl").write_text("")
    return suite, out


def test_a_batch_the_provider_no_longer_knows_becomes_error_rows_on_resume(tmp_path):
    with StubServer(lambda kind, body: gold(body)) as stub:
        suite, out = batch_the_provider_forgot(stub, tmp_path)
        result = run(suite, out, resume=out, cache="off")
        created = stub.batches_created
    errors = [r["error"] for r in rows(out)]
    assert created == 1 and len(errors) == 3 and result.exit_code == 3
    assert errors[0]["type"] == "not_found" and "could not follow batch batch_gone" in errors[0]["message"]


def test_retry_errors_sends_the_requests_of_a_batch_the_provider_no_longer_knows_anew(tmp_path):
    with StubServer(lambda kind, body: gold(body)) as stub:
        suite, out = batch_the_provider_forgot(stub, tmp_path)
        run(suite, out, resume=out, cache="off")  # the lost batch's requests become error rows
        result = run(suite, out, resume=out, cache="off", retry_errors=True)
        created = stub.batches_created
    assert created == 2 and result.complete and result.exit_code == 0
    assert len(rows(out)) == 3 and all(r["correct"] for r in rows(out))


def test_ctrl_c_while_a_batch_is_being_created_records_it_so_resume_does_not_pay_twice(tmp_path):
    # every answer of this stub takes 1.5 s, so the signal arrives while the batch is being created
    with StubServer(lambda kind, body: gold(body), batch_polls=NEVER, latency_ms=1500) as stub:
        suite = write_suite(tmp_path, {"a": openai_route(stub)}, n=4)
        out = tmp_path / "run"
        process = start_batch_run(suite, out)
        deadline = time.monotonic() + 60
        while not any(r["method"] == "POST" and r["path"] == "/v1/batches" for r in stub.requests):
            assert time.monotonic() < deadline and process.poll() is None, "the run never asked for a batch"
            time.sleep(0.01)
        process.send_signal(signal.SIGINT)
        _, stderr = process.communicate(timeout=60)
        assert process.returncode == 3 and "keep running at the provider" in stderr
        recorded = json.loads((out / "batches.json").read_text(encoding="utf-8"))["batches"]
        assert stub.batches_created == 1 and [b["id"] for b in recorded] == list(stub.batches)

        stub.latency_ms, stub.batch_polls = 0, 0
        result = run(suite, out, resume=out, cache="off")
        assert stub.batches_created == 1  # the batch created during the stop was collected, not sent again
    assert result.complete and len(rows(out)) == 4 and all(r["correct"] for r in rows(out))


def killed_before_the_batch_id_was_recorded(suite: Path, out: Path, stub) -> None:
    """A run killed (SIGKILL) after the provider created its batch, with batches.json as it is
    when the kill comes between the create call and the recording of its answer: the record and
    its submission mark, no batch id."""
    process = start_batch_run(suite, out)
    wait_for_batches(out, 1, process)
    process.send_signal(signal.SIGKILL)
    process.wait()
    state = json.loads((out / "batches.json").read_text(encoding="utf-8"))
    (record,) = state["batches"]
    assert record["submission"] and stub.batches_created == 1
    record["id"], record["input_file_id"] = "", None
    (out / "batches.json").write_text(json.dumps(state), encoding="utf-8")


def test_a_batch_created_just_before_a_kill_is_found_by_its_mark_and_not_paid_twice(held_stub, tmp_path):
    suite = write_suite(tmp_path, {"a": openai_route(held_stub)}, n=4)
    out = tmp_path / "run"
    killed_before_the_batch_id_was_recorded(suite, out, held_stub)

    held_stub.batch_polls = 0
    result = run(suite, out, resume=out, cache="off")
    assert held_stub.batches_created == 1  # found by the mark in its metadata, collected, not sent again
    assert result.complete and len(rows(out)) == 4 and all(r["correct"] for r in rows(out))
    assert {r["batch_id"] for r in rows(out)} == set(held_stub.batches)


def test_without_a_way_to_find_it_an_interrupted_anthropic_submission_is_sent_again_with_a_warning(held_stub, tmp_path):
    suite = write_suite(tmp_path, {"b": anthropic_route(held_stub)}, n=4)
    out = tmp_path / "run"
    killed_before_the_batch_id_was_recorded(suite, out, held_stub)

    held_stub.batch_polls = 0
    warnings: list[str] = []
    result = run(suite, out, resume=out, cache="off", notify=warnings.append)
    assert held_stub.batches_created == 2
    assert result.complete and len(rows(out)) == 4
    assert any("shows in the provider's console" in w for w in warnings)


def test_batch_status_shows_a_submission_whose_answer_was_never_recorded(held_stub, tmp_path):
    from evalkit.batch.status import batch_status

    suite = write_suite(tmp_path, {"a": openai_route(held_stub)}, n=2)
    out = tmp_path / "run"
    killed_before_the_batch_id_was_recorded(suite, out, held_stub)
    (entry,) = batch_status(out)["batches"]
    assert entry["status"] == "unconfirmed" and "resuming the run looks it up" in entry["source"]
