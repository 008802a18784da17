"""`evalkit run --batch` against the stub's batch endpoints: every row as a live run writes it
(with `batch: true`), the same request bodies, batch prices, out-of-order results joined on
custom_id, expired and errored requests resubmitted once and then error rows with the
provider's reason, cached rows never sent, other routes live, and splitting into batches."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from evalkit.batch import BatchOptions
from evalkit.cli import main
from evalkit.suite import load_suite
from evalkit.testing.oracle import GoldResponder
from evalkit.testing.stub_server import StubServer
from stub_helpers import anthropic_route, gold, isolate, model_calls, openai_route, rows, run, write_suite

FAST = BatchOptions(poll_s=0.01)
#: fields that differ between a live row and a batch row by design
BATCH_ONLY = {"latency_ms", "request_id", "cost_usd", "batch", "batch_id", "attempts"}


@pytest.fixture(autouse=True)
def _isolated(monkeypatch, tmp_path):
    isolate(monkeypatch, tmp_path)


def ticket(body: dict) -> int:
    """The case number in a request body (both providers' shapes)."""
    return int(body["messages"][-1]["content"].split("Ticket ", 1)[1].split(":", 1)[0])


def batch_run(suite: Path, out: Path, **options):
    return run(suite, out, batch=options.pop("batch", FAST), **options)


def by_key(found: list[dict]) -> dict[tuple, dict]:
    return {(r["case_id"], r["route"], r["repeat"]): r for r in found}


def four_route_suite(stub, folder: Path) -> Path:
    """50 cases x 4 routes (base, prompted, rag, finetuned) over both providers: 200 requests."""
    return write_suite(folder, {
        "base": openai_route(stub),
        "prompted": anthropic_route(stub, kind="prompted", system="Classify the ticket.",
                                    examples={"k": 2, "strategy": "stratified"}),
        "rag": anthropic_route(stub, model="claude-sonnet-4-6", kind="rag", retrieval={"k": 1}),
        "tuned": openai_route(stub, model="ft:gpt-4.1-mini-2025-04-14:acme::t1", kind="finetuned"),
    }, n=50, train=8, corpus=True)


def test_a_200_request_suite_runs_through_both_batch_apis_with_every_row_correct(tmp_path):
    with StubServer(batch_order="shuffle") as stub:
        suite = four_route_suite(stub, tmp_path)
        stub.responder = GoldResponder(load_suite(suite))
        result = batch_run(suite, tmp_path / "run", cache="off")
        live_calls = model_calls(stub)
        created = stub.batches_created
    found = rows(result.run_dir)
    assert result.exit_code == 0
    assert len(found) == 200 and len(by_key(found)) == 200
    assert [r for r in found if not r["correct"]] == []
    assert all(r["batch"] is True and r["latency_ms"] is None and r["batch_id"] for r in found)
    assert live_calls == []  # nothing went through the live endpoints
    assert created == 4  # one batch per route
    assert result.calls_made == 200


@pytest.mark.parametrize("provider", ["openai", "anthropic"])
def test_batch_rows_equal_live_rows_and_the_request_bodies_are_the_live_ones(tmp_path, provider):
    with StubServer(lambda kind, body: gold(body)) as stub:
        route = openai_route(stub) if provider == "openai" else anthropic_route(stub, system="Classify the ticket.")
        suite = write_suite(tmp_path, {"r": route}, n=6)
        live = run(suite, tmp_path / "live", cache="off")
        live_bodies = {ticket(r["json"]): r["json"] for r in model_calls(stub)}
        batched = batch_run(suite, tmp_path / "batched", cache="off")
        (batch,) = stub.batches.values()
    batch_bodies = {ticket(body): body for _, body in batch["requests"]}
    assert batch_bodies == live_bodies
    live_rows, batch_rows = by_key(rows(live.run_dir)), by_key(rows(batched.run_dir))
    assert live_rows.keys() == batch_rows.keys()
    for key, row in live_rows.items():
        strip = lambda r: {k: v for k, v in r.items() if k not in BATCH_ONLY}  # noqa: E731
        assert strip(batch_rows[key]) == strip(row)


def test_cost_uses_the_batch_price(tmp_path):
    with StubServer(lambda kind, body: gold(body)) as stub:
        suite = write_suite(tmp_path, {"r": openai_route(stub, model="gpt-4.1-mini")}, n=3)
        result = batch_run(suite, tmp_path / "run", cache="off")
    for row in rows(result.run_dir):  # gpt-4.1-mini: batch 0.20 in, 0.80 out per million tokens
        assert row["cost_usd"] == pytest.approx((row["input_tokens"] * 0.20 + row["output_tokens"] * 0.80) / 1e6)


def test_cost_is_unknown_when_the_price_table_has_no_batch_price(tmp_path):
    with StubServer(lambda kind, body: gold(body)) as stub:
        suite = write_suite(tmp_path, {"r": openai_route(stub, model="gpt-4.1-mini")}, n=3,
                            pricing={"openai:gpt-4.1-mini": {"input": 1.0, "output": 2.0}})
        result = batch_run(suite, tmp_path / "run", cache="off")
    assert [r["cost_usd"] for r in rows(result.run_dir)] == [None, None, None]
    assert result.summary["routes"]["r"]["cost_usd"] is None


@pytest.mark.parametrize("provider", ["openai", "anthropic"])
def test_results_in_reverse_order_are_joined_on_custom_id(tmp_path, provider):
    with StubServer(lambda kind, body: gold(body), batch_order="reverse") as stub:
        route = openai_route(stub) if provider == "openai" else anthropic_route(stub)
        suite = write_suite(tmp_path, {"r": route}, n=8)
        result = batch_run(suite, tmp_path / "run", cache="off")
    found = rows(result.run_dir)
    assert len(found) == 8 and all(r["correct"] for r in found)


@pytest.mark.parametrize("provider", ["openai", "anthropic"])
def test_an_expired_request_is_sent_again_once_and_then_answers(tmp_path, provider):
    fault = lambda kind, number, body: "expired" if number == 0 and ticket(body) == 3 else None  # noqa: E731
    with StubServer(lambda kind, body: gold(body), batch_fault=fault) as stub:
        route = openai_route(stub) if provider == "openai" else anthropic_route(stub)
        suite = write_suite(tmp_path, {"r": route}, n=6)
        result = batch_run(suite, tmp_path / "run", cache="off")
        second = list(stub.batches.values())[1]
    found = by_key(rows(result.run_dir))
    assert stub.batches_created == 2 and len(second["requests"]) == 1
    assert found[("c003", "r", 0)]["correct"] and found[("c003", "r", 0)]["attempts"] == 2
    assert found[("c003", "r", 0)]["batch_id"] == second["id"]
    assert all(r["correct"] for r in found.values())
    assert result.retries == 1


@pytest.mark.parametrize("provider", ["openai", "anthropic"])
def test_a_request_that_keeps_erroring_becomes_an_error_row_with_the_providers_reason(tmp_path, provider):
    fault = lambda kind, number, body: "errored" if ticket(body) == 5 else None  # noqa: E731
    with StubServer(lambda kind, body: gold(body), batch_fault=fault) as stub:
        route = openai_route(stub) if provider == "openai" else anthropic_route(stub)
        suite = write_suite(tmp_path, {"r": route}, n=6)
        result = batch_run(suite, tmp_path / "run", cache="off")
        created = stub.batches_created
    found = by_key(rows(result.run_dir))
    error = found[("c005", "r", 0)]["error"]
    assert created == 2  # sent once more, not forever
    assert error["type"] == "server_error"
    assert (
        "Stub injected batch item error" in error["message"] and "gave up after 2 batch submissions" in error["message"]
    )
    assert [k for k, r in found.items() if not r["correct"]] == [("c005", "r", 0)]


def test_a_bad_request_is_not_sent_again(tmp_path):
    fault = lambda kind, number, body: ("errored", 400, "max_tokens: too large") if ticket(body) == 1 else None  # noqa: E731
    with StubServer(lambda kind, body: gold(body), batch_fault=fault) as stub:
        suite = write_suite(tmp_path, {"r": openai_route(stub)}, n=4)
        result = batch_run(suite, tmp_path / "run", cache="off")
        created = stub.batches_created
    error = by_key(rows(result.run_dir))[("c001", "r", 0)]["error"]
    assert created == 1
    assert error == {"type": "bad_request", "message": "HTTP 400: max_tokens: too large"}


def test_retry_errors_sends_a_collected_error_again_in_a_new_batch(tmp_path):
    def fault(kind, number, body):
        return ("errored", 400, "max_tokens: too large") if number == 0 and ticket(body) == 1 else None

    with StubServer(lambda kind, body: gold(body), batch_fault=fault) as stub:
        suite = write_suite(tmp_path, {"r": openai_route(stub)}, n=4)
        first = batch_run(suite, tmp_path / "run", cache="off")
        result = batch_run(suite, tmp_path / "run", cache="off", resume=first.run_dir, retry_errors=True)
        created = stub.batches_created
    assert created == 2  # the first batch, then one holding only the retried request
    assert len(rows(result.run_dir)) == 4 and all(r["correct"] for r in rows(result.run_dir))


@pytest.mark.parametrize("provider, reason", [
    ("openai", "could not be executed before the completion window expired"),
    ("anthropic", "before this request was processed"),
])
def test_with_no_resubmission_an_expired_request_is_an_error_row_at_once(tmp_path, provider, reason):
    fault = lambda kind, number, body: "expired" if ticket(body) == 2 else None  # noqa: E731
    with StubServer(lambda kind, body: gold(body), batch_fault=fault) as stub:
        route = openai_route(stub) if provider == "openai" else anthropic_route(stub)
        suite = write_suite(tmp_path, {"r": route}, n=4)
        result = batch_run(suite, tmp_path / "run", cache="off", batch=BatchOptions(poll_s=0.01, resubmit=0))
        created = stub.batches_created
    error = by_key(rows(result.run_dir))[("c002", "r", 0)]["error"]
    assert created == 1
    assert error["type"] == "batch_expired" and reason in error["message"]


def test_rows_the_cache_answers_are_never_sent(tmp_path):
    with StubServer(lambda kind, body: gold(body)) as stub:
        suite = write_suite(tmp_path, {"a": openai_route(stub), "b": anthropic_route(stub)}, n=4)
        run(suite, tmp_path / "first", routes=["a"])  # live, fills the cache for route a
        result = batch_run(suite, tmp_path / "second")
        sent = [body for batch in stub.batches.values() for _, body in batch["requests"]]
    found = rows(result.run_dir)
    assert {b["model"] for b in sent} == {"claude-haiku-4-5"} and len(sent) == 4
    assert sorted(r["route"] for r in found if r["cached"]) == ["a"] * 4
    assert all(r["correct"] for r in found)


def test_batch_answers_go_into_the_cache_so_a_rerun_sends_nothing(tmp_path):
    with StubServer(lambda kind, body: gold(body)) as stub:
        suite = write_suite(tmp_path, {"a": openai_route(stub), "b": anthropic_route(stub)}, n=4)
        batch_run(suite, tmp_path / "first")
        created = stub.batches_created
        stub.reset_counts()
        again = batch_run(suite, tmp_path / "second")
        live = run(suite, tmp_path / "third")
        sent_after = model_calls(stub)
        created_after = stub.batches_created
    assert created_after == created == 2 and sent_after == []
    assert again.cache_hits == 8 and live.cache_hits == 8
    assert all(r["correct"] and r["cached"] for r in rows(again.run_dir))


def test_routes_without_a_batch_api_run_live_alongside(tmp_path):
    warnings = []
    with StubServer(lambda kind, body: gold(body)) as stub:
        suite = write_suite(
            tmp_path, {"api": openai_route(stub), "scripted": {"kind": "base", "model": "mock:expected"}}, n=3
        )
        result = batch_run(suite, tmp_path / "run", cache="off", notify=warnings.append)
        created = stub.batches_created
    found = rows(result.run_dir)
    assert created == 1
    assert all(r.get("batch") is True for r in found if r["route"] == "api")
    assert all("batch" not in r for r in found if r["route"] == "scripted")
    assert all(r["correct"] for r in found) and len(found) == 6
    assert any("no batch API for scripted (mock:expected)" in w for w in warnings)


def test_a_route_is_split_into_batches_of_at_most_max_requests(tmp_path):
    with StubServer(lambda kind, body: gold(body)) as stub:
        suite = write_suite(tmp_path, {"r": anthropic_route(stub)}, n=10)
        result = batch_run(suite, tmp_path / "run", cache="off", batch=BatchOptions(poll_s=0.01, max_requests=4))
        sizes = [len(b["requests"]) for b in stub.batches.values()]
    assert sizes == [4, 4, 2]
    assert len(rows(result.run_dir)) == 10 and all(r["correct"] for r in rows(result.run_dir))


def test_the_state_file_maps_every_custom_id_back_to_its_case(tmp_path):
    with StubServer(lambda kind, body: gold(body)) as stub:
        suite = write_suite(tmp_path, {"r": anthropic_route(stub)}, n=3)
        result = batch_run(suite, tmp_path / "run", cache="off")
        (batch,) = stub.batches.values()
    state = json.loads((result.run_dir / "batches.json").read_text())
    (record,) = state["batches"]
    assert record["id"] == batch["id"] and record["route"] == "r" and record["ended"] is True
    assert {cid: tuple(v) for cid, v in record["requests"].items()} == {
        cid: (f"c00{ticket(body)}", 0) for cid, body in batch["requests"]}


def test_the_cli_flag_sends_the_run_through_the_batch_api(tmp_path, capsys):
    with StubServer(lambda kind, body: gold(body)) as stub:
        suite = write_suite(tmp_path, {"r": openai_route(stub)}, n=3)
        code = main(["run", str(suite), "--out", str(tmp_path / "run"), "--batch", "--batch-poll", "0.01",
                     "--no-progress", "--cache", "off"])
        created = stub.batches_created
    assert code == 0 and created == 1
    assert all(r["batch"] and r["correct"] for r in rows(tmp_path / "run"))


def test_batch_settings_without_batch_are_bad_input(tmp_path, capsys):
    code = main(["run", str(tmp_path / "suite.yaml"), "--batch-poll", "1"])
    assert code == 2 and "--batch-poll and --batch-resubmit go with --batch" in capsys.readouterr().err


def test_a_batch_the_provider_refuses_gives_error_rows_that_say_so(tmp_path):
    from evalkit.testing.stub_server import fail

    def refuse(n, kind, body):
        return fail(400, "model not available for batch") if body and "input_file_id" in body else None

    with StubServer(lambda kind, body: gold(body), fail_script=refuse) as stub:
        suite = write_suite(tmp_path, {"r": openai_route(stub)}, n=3)
        result = batch_run(suite, tmp_path / "run", cache="off")
    errors = [r["error"] for r in rows(result.run_dir)]
    assert len(errors) == 3 and result.exit_code == 3  # every row an error: beyond the error budget
    assert errors[0] == {
        "type": "bad_request",
        "message": "the batch was not accepted: HTTP 400: model not available for batch",
    }


def test_no_key_reaches_the_run_directory_even_when_the_server_quotes_it(tmp_path):
    from evalkit.testing.stub_server import fail
    from stub_helpers import ANTHROPIC_KEY, OPENAI_KEY

    def quote_the_key(n, kind, body):  # refuses every batch creation, quoting the key back
        if body and ("input_file_id" in body or "requests" in body):
            return fail(401, f"Incorrect API key provided: {OPENAI_KEY if kind == 'openai' else ANTHROPIC_KEY}.")
        return None

    with StubServer(lambda kind, body: gold(body), batch_polls=0) as stub:
        suite = write_suite(tmp_path, {"a": openai_route(stub), "b": anthropic_route(stub)}, n=3)
        batch_run(suite, tmp_path / "ok")
        stub.fail_script = quote_the_key
        batch_run(suite, tmp_path / "refused", cache="off")
    assert any(
        "Incorrect API key provided: ***" in (r["error"] or {}).get("message", "") for r in rows(tmp_path / "refused")
    )
    for path in [p for p in tmp_path.rglob("*") if p.is_file() and p.suffix in (".json", ".jsonl", ".md")]:
        text = path.read_text(encoding="utf-8", errors="replace")
        assert OPENAI_KEY not in text and ANTHROPIC_KEY not in text, path
