"""anthropic:MODEL through the anthropic SDK against the local stub: what is sent, what is recorded."""

from __future__ import annotations

import json

import pytest

from evalkit.errors import BadInput
from evalkit.providers.anthropic import TOOL_NAME, accepts_sampling
from evalkit.testing.stub_server import StubServer
from stub_helpers import ANTHROPIC_KEY, SCHEMA, anthropic_route, gold, isolate, model_calls, rows, run, write_suite


@pytest.fixture(autouse=True)
def _isolated(monkeypatch, tmp_path):
    isolate(monkeypatch, tmp_path)


@pytest.fixture
def stub():
    with StubServer(lambda kind, body: gold(body)) as server:
        yield server


def test_structured_output_is_a_forced_tool_call_with_the_output_schema(stub, tmp_path):
    suite = write_suite(tmp_path, {"base": anthropic_route(stub)}, n=1)
    run(suite, tmp_path / "run", cache="off")
    body = model_calls(stub)[0]["json"]
    assert body["tools"] == [
        {"name": TOOL_NAME, "description": body["tools"][0]["description"], "input_schema": SCHEMA}
    ]
    assert body["tool_choice"] == {"type": "tool", "name": TOOL_NAME}


def test_tool_input_is_the_rows_output_as_json(stub, tmp_path):
    suite = write_suite(tmp_path, {"base": anthropic_route(stub)}, n=2)
    result = run(suite, tmp_path / "run", cache="off")
    outputs = {r["expected_label"]: r for r in rows(result.run_dir)}  # rows arrive in any order
    first = outputs["billing_dispute"]
    assert json.loads(first["output"]) == {"label": "billing_dispute", "reason": "stub"}
    assert all(r["correct"] for r in outputs.values())
    assert first["finish_reason"] == "tool_use"


def test_system_prompt_goes_in_system_and_not_in_messages(stub, tmp_path):
    suite = write_suite(tmp_path, {"base": anthropic_route(stub, system="Triage the ticket.")}, n=1)
    run(suite, tmp_path / "run", cache="off")
    body = model_calls(stub)[0]["json"]
    assert body["system"] == "Triage the ticket."
    assert body["messages"] == [{"role": "user", "content": "Ticket 0: trouble with invoice account password parcel."}]


def test_response_is_recorded_with_model_tokens_and_request_id(stub, tmp_path):
    suite = write_suite(tmp_path, {"base": anthropic_route(stub)}, n=1)
    result = run(suite, tmp_path / "run", cache="off")
    row = rows(result.run_dir)[0]
    assert row["model"] == "claude-haiku-4-5"
    assert row["input_tokens"] > 0 and row["output_tokens"] > 0
    assert row["request_id"] == model_calls(stub)[0]["request_id"]
    assert row["latency_ms"] > 0 and row["attempts"] == 1


def test_key_from_anthropic_api_key_is_sent(stub, tmp_path):
    suite = write_suite(tmp_path, {"base": anthropic_route(stub)}, n=1)
    run(suite, tmp_path / "run", cache="off")
    headers = model_calls(stub)[0]["headers"]
    assert ANTHROPIC_KEY in (headers.get("x-api-key"), headers.get("authorization", "").removeprefix("Bearer "))


def test_seed_is_never_sent_and_max_tokens_always_is(stub, tmp_path):
    suite = write_suite(tmp_path, {"base": anthropic_route(stub)}, n=1)
    run(suite, tmp_path / "run", cache="off")
    body = model_calls(stub)[0]["json"]
    assert "seed" not in body and "timeout_s" not in body
    assert body["max_tokens"] == 200


def test_default_temperature_goes_only_to_models_that_accept_it(stub, tmp_path):
    suite = write_suite(tmp_path, {"old": anthropic_route(stub, model="claude-haiku-4-5-20251001"),
                                   "new": anthropic_route(stub, model="claude-opus-4-7")}, n=1)
    run(suite, tmp_path / "run", cache="off", concurrency=1)
    by_model = {r["json"]["model"]: r["json"] for r in model_calls(stub)}
    assert by_model["claude-haiku-4-5-20251001"]["temperature"] == 0
    assert "temperature" not in by_model["claude-opus-4-7"]


def test_models_that_accept_sampling_parameters():
    assert accepts_sampling("claude-sonnet-4-5-20250929") and accepts_sampling("claude-3-5-haiku-latest")
    assert accepts_sampling("claude-opus-4-1") and accepts_sampling("claude-opus-4-20250514")
    assert not accepts_sampling("claude-opus-4-7") and not accepts_sampling("claude-sonnet-5")


def test_temperature_set_on_the_route_is_always_sent(stub, tmp_path):
    suite = write_suite(
        tmp_path, {"base": anthropic_route(stub, model="claude-opus-4-7", params={"temperature": 1})}, n=1
    )
    run(suite, tmp_path / "run", cache="off")
    assert model_calls(stub)[0]["json"]["temperature"] == 1


def test_text_mode_sends_no_tool(stub, tmp_path):
    stub.responder = lambda kind, body: "cancellation"
    suite = write_suite(tmp_path, {"base": anthropic_route(stub)}, n=2, text_mode=True)
    result = run(suite, tmp_path / "run", cache="off")
    assert "tools" not in model_calls(stub)[0]["json"]
    assert [r["output"] for r in rows(result.run_dir)] == ["cancellation", "cancellation"]


def test_schema_without_an_object_root_is_bad_input_before_any_call(stub, tmp_path):
    suite = write_suite(tmp_path, {"base": anthropic_route(stub)}, n=1)
    text = suite.read_text().replace("type: object", "type: [object, 'null']", 1)
    suite.write_text(text)
    with pytest.raises(BadInput, match="object"):
        run(suite, tmp_path / "run", cache="off")
    assert stub.request_count == 0


def test_overloaded_server_error_carries_the_servers_message(stub, tmp_path):
    stub.fail_script = lambda n, kind, body: (529, {}, "Overloaded")
    suite = write_suite(tmp_path, {"base": anthropic_route(stub)}, n=1)
    result = run(suite, tmp_path / "run", cache="off", attempts=2)
    row = rows(result.run_dir)[0]
    assert row["error"]["type"] == "server_error"
    assert row["error"]["message"].startswith("HTTP 529: Overloaded")
    assert row["attempts"] == 2


def test_base_url_comes_from_anthropic_base_url_when_the_route_has_none(stub, tmp_path, monkeypatch):
    monkeypatch.setenv("ANTHROPIC_BASE_URL", stub.base_url_anthropic)
    suite = write_suite(tmp_path, {"base": {"kind": "base", "model": "anthropic:claude-haiku-4-5"}}, n=1)
    run(suite, tmp_path / "run", cache="off")
    assert len(model_calls(stub)) == 1


def test_route_can_ask_for_json_in_text_instead_of_a_tool_call(stub, tmp_path):
    suite = write_suite(tmp_path, {"base": anthropic_route(stub, params={"structured": False})}, n=1)
    result = run(suite, tmp_path / "run", cache="off")
    body = model_calls(stub)[0]["json"]
    assert "tools" not in body and "tool_choice" not in body and "structured" not in body
    assert rows(result.run_dir)[0]["correct"] is True  # the stub answers in text; the output still parses
