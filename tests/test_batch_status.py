"""`evalkit batch status RUN_DIR`: each batch's state and counts, the provider asked about the
open ones (not with --offline, not without a key), and how to collect them."""

from __future__ import annotations

import asyncio
import json

import pytest

from evalkit.batch import BatchOptions
from evalkit.batch.openai_batch import OpenAIBatches
from evalkit.batch.state import BatchRecord, BatchState
from evalkit.cli import main
from evalkit.testing.stub_server import StubServer
from stub_helpers import OPENAI_KEY, gold, isolate, openai_route, run, write_suite


@pytest.fixture(autouse=True)
def _isolated(monkeypatch, tmp_path):
    isolate(monkeypatch, tmp_path)


def open_batch(stub, run_dir) -> str:
    """Submit one request straight to the stub and record it as the run's only batch."""
    async def submit():
        adapter = OpenAIBatches(stub.base_url_openai, OPENAI_KEY)
        try:
            entry = adapter.entry(
                "ek-1", {"model": "gpt-4.1-mini", "messages": [{"role": "user", "content": "Ticket 1: x"}]}
            )
            return (await adapter.submit([entry], {"source": "evalkit"}))[0]
        finally:
            await adapter.aclose()

    batch_id = asyncio.run(submit())
    run_dir.mkdir()
    BatchState(BatchState.path_in(run_dir), {}, [BatchRecord(
        id=batch_id, provider="openai", route="r", model="gpt-4.1-mini", attempt=1, requests={"ek-1": ["c001", 0]},
        submitted_at="2026-11-23T10:00:00+00:00", base_url=stub.base_url_openai, api_key_env="OPENAI_API_KEY")]).save()
    return batch_id


def status(capsys, *args) -> tuple[int, str]:
    code = main(["batch", "status", *map(str, args)])
    return code, capsys.readouterr().out


def test_status_asks_the_provider_about_an_open_batch(tmp_path, capsys):
    with StubServer(batch_polls=10**9) as stub:
        batch_id = open_batch(stub, tmp_path / "run")
        code, out = status(capsys, tmp_path / "run", "--json")
    report = json.loads(out)
    (batch,) = report["batches"]
    assert code == 0 and report["open"] == 1
    assert (batch["id"], batch["status"], batch["source"]) == (batch_id, "in_progress", "provider")
    assert batch["counts"] == {"total": 1, "completed": 0, "failed": 0}


def test_status_says_how_to_collect_open_batches(tmp_path, capsys):
    with StubServer(batch_polls=10**9) as stub:
        batch_id = open_batch(stub, tmp_path / "run")
        code, out = status(capsys, tmp_path / "run")
    assert batch_id in out and "in_progress" in out
    assert f"--resume {tmp_path / 'run'}" in out


def test_offline_status_shows_the_stored_state_and_asks_nothing(tmp_path, capsys):
    with StubServer(batch_polls=10**9) as stub:
        open_batch(stub, tmp_path / "run")
        stub.reset_counts()
        code, out = status(capsys, tmp_path / "run", "--offline", "--json")
        asked = stub.request_count
    (batch,) = json.loads(out)["batches"]
    assert asked == 0 and batch["status"] == "submitted" and batch["source"] == "stored state (not asked)"


def test_without_the_key_status_shows_the_stored_state_and_says_why(tmp_path, capsys, monkeypatch):
    with StubServer(batch_polls=10**9) as stub:
        open_batch(stub, tmp_path / "run")
        monkeypatch.delenv("OPENAI_API_KEY")
        code, out = status(capsys, tmp_path / "run", "--json")
    (batch,) = json.loads(out)["batches"]
    assert code == 0 and "OPENAI_API_KEY is not set" in batch["source"]


def test_status_of_a_finished_run_counts_each_batchs_rows_without_asking(tmp_path, capsys):
    with StubServer(lambda kind, body: gold(body)) as stub:
        suite = write_suite(tmp_path, {"r": openai_route(stub)}, n=5)
        run(suite, tmp_path / "run", cache="off", batch=BatchOptions(poll_s=0.01))
        stub.reset_counts()
        code, out = status(capsys, tmp_path / "run", "--json")
        asked = stub.request_count
    report = json.loads(out)
    (batch,) = report["batches"]
    assert asked == 0 and report["open"] == 0
    assert (batch["requests"], batch["rows"], batch["status"]) == (5, 5, "completed")
    assert batch["counts"] == {"total": 5, "completed": 5, "failed": 0}


def test_status_of_a_run_without_batches_is_bad_input(tmp_path, capsys):
    code = main(["batch", "status", str(tmp_path)])
    assert code == 2 and "did not run with --batch" in capsys.readouterr().err
