"""Repair passes against the local stub: a broken first answer, asked again with its validation
error in the same conversation, becomes a parsed second answer, and the row counts both passes."""

from __future__ import annotations

import pytest

from evalkit.repair import REPAIR_PROMPT
from evalkit.testing.stub_server import StubServer
from stub_helpers import gold, isolate, model_calls, openai_route, rows, run, write_suite

BROKEN = '{"label": "billing_dispute", "reason": '  # truncated JSON


def broken_then_gold(kind: str, body: dict) -> str:
    """Truncated JSON for a fresh question; the gold answer once the conversation holds a repair."""
    repairing = any(m["role"] == "assistant" for m in body["messages"])
    if not repairing:
        return BROKEN
    first_user = next(m for m in body["messages"] if m["role"] == "user")
    return gold({"messages": [first_user]})


@pytest.fixture(autouse=True)
def _isolated(monkeypatch, tmp_path):
    isolate(monkeypatch, tmp_path)


@pytest.fixture
def stub():
    with StubServer(broken_then_gold) as server:
        yield server


def test_a_broken_first_answer_is_repaired_in_the_same_conversation(stub, tmp_path):
    suite = write_suite(tmp_path, {"base": openai_route(stub, repair={"attempts": 2})}, n=3)
    found = rows(run(suite, tmp_path / "run").run_dir)
    assert all(r["parsed_ok"] and r["correct"] for r in found)
    assert all(r["repair"]["passes"] == 1 and r["repair"]["first_parsed_ok"] is False for r in found)
    assert all(r["repair"]["outputs"] == [BROKEN] for r in found)
    second = [c["json"]["messages"] for c in model_calls(stub) if len(c["json"]["messages"]) > 2]
    assert len(second) == 3
    assert all(m[-2] == {"role": "assistant", "content": BROKEN} and m[-1]["content"].startswith(
        REPAIR_PROMPT.split("{error}")[0]) for m in second)


def test_the_row_costs_every_pass_and_the_repair_entry_its_own_share(stub, tmp_path):
    suite = write_suite(tmp_path, {"base": openai_route(stub, repair={"attempts": 1})}, n=1,
                        pricing={"openai:gpt-4.1-mini": {"input": 1.0, "output": 1.0}})
    row = rows(run(suite, tmp_path / "run").run_dir)[0]
    repair = row["repair"]
    assert repair["input_tokens"] > 0 and row["input_tokens"] > repair["input_tokens"]
    assert row["cost_usd"] == pytest.approx((row["input_tokens"] + row["output_tokens"]) / 1e6)
    assert repair["cost_usd"] == pytest.approx((repair["input_tokens"] + repair["output_tokens"]) / 1e6)


def test_without_repair_the_broken_answer_stays_unparsed(stub, tmp_path):
    suite = write_suite(tmp_path, {"base": openai_route(stub)}, n=2)
    found = rows(run(suite, tmp_path / "run").run_dir)
    assert not any(r["parsed_ok"] for r in found) and "repair" not in found[0]
    assert len(model_calls(stub)) == 2


def test_a_cached_rerun_finds_the_repair_passes_in_the_cache_too(stub, tmp_path):
    suite = write_suite(tmp_path, {"base": openai_route(stub, repair={"attempts": 1})}, n=2)
    run(suite, tmp_path / "first")
    stub.reset_counts()
    again = rows(run(suite, tmp_path / "second").run_dir)
    assert stub.request_count == 0 and all(r["parsed_ok"] and r["repair"]["passes"] == 1 for r in again)
