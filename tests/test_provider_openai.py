"""openai:MODEL through the openai SDK against the local stub: what is sent, what is recorded."""

from __future__ import annotations

import json

import pytest

from evalkit.errors import BadInput
from evalkit.providers.openai import strict_compatible
from evalkit.testing.stub_server import StubServer
from stub_helpers import OPENAI_KEY, SCHEMA, gold, isolate, model_calls, openai_route, rows, run, write_suite


@pytest.fixture(autouse=True)
def _isolated(monkeypatch, tmp_path):
    isolate(monkeypatch, tmp_path)


@pytest.fixture
def stub():
    with StubServer(lambda kind, body: gold(body)) as server:
        yield server


def test_request_carries_model_messages_and_strict_json_schema(stub, tmp_path):
    suite = write_suite(tmp_path, {"base": openai_route(stub, system="Triage the ticket.")}, n=1)
    run(suite, tmp_path / "run", cache="off")
    body = model_calls(stub)[0]["json"]
    assert body["model"] == "gpt-4.1-mini"
    assert body["messages"] == [{"role": "system", "content": "Triage the ticket."},
                                {"role": "user", "content": "Ticket 0: trouble with invoice account password parcel."}]
    assert body["response_format"] == {"type": "json_schema",
                                       "json_schema": {"name": "stubbed", "schema": SCHEMA, "strict": True}}
    assert (body["temperature"], body["max_tokens"], body["seed"]) == (0, 200, 7)


def test_key_is_sent_as_bearer_token(stub, tmp_path):
    suite = write_suite(tmp_path, {"base": openai_route(stub)}, n=1)
    run(suite, tmp_path / "run", cache="off")
    assert model_calls(stub)[0]["headers"]["authorization"] == f"Bearer {OPENAI_KEY}"


def test_response_is_recorded_with_model_tokens_finish_reason_and_request_id(stub, tmp_path):
    suite = write_suite(tmp_path, {"base": openai_route(stub)}, n=1)
    result = run(suite, tmp_path / "run", cache="off")
    row = rows(result.run_dir)[0]
    assert json.loads(row["output"]) == {"label": "billing_dispute", "reason": "stub"}
    assert row["correct"] is True
    assert row["model"] == "gpt-4.1-mini"
    assert row["input_tokens"] > 0 and row["output_tokens"] > 0
    assert row["finish_reason"] == "stop"
    assert row["request_id"] == model_calls(stub)[0]["request_id"]
    assert row["latency_ms"] > 0 and row["attempts"] == 1 and row["cached"] is False


def test_schema_that_is_not_closed_is_sent_without_strict_mode():
    loose = {"type": "object", "properties": {"label": {"type": "string"}}, "required": ["label"]}
    partial = {"type": "object", "additionalProperties": False, "required": ["label"],
               "properties": {"label": {"type": "string"}, "note": {"type": "string"}}}
    assert strict_compatible(SCHEMA) is True
    assert strict_compatible(loose) is False
    assert strict_compatible(partial) is False


def test_nested_objects_must_be_closed_for_strict_mode():
    nested = {"type": "object", "additionalProperties": False, "required": ["a"],
              "properties": {"a": {"type": "object", "properties": {"b": {"type": "string"}}, "required": ["b"]}}}
    assert strict_compatible(nested) is False
    nested["properties"]["a"]["additionalProperties"] = False
    assert strict_compatible(nested) is True


def test_text_mode_sends_no_response_format(stub, tmp_path):
    stub.responder = lambda kind, body: "billing_dispute"
    suite = write_suite(tmp_path, {"base": openai_route(stub)}, n=1, text_mode=True)
    result = run(suite, tmp_path / "run", cache="off")
    assert "response_format" not in model_calls(stub)[0]["json"]
    assert rows(result.run_dir)[0]["correct"] is True


def test_route_can_ask_for_json_in_text_instead_of_structured_output(stub, tmp_path):
    suite = write_suite(tmp_path, {"base": openai_route(stub, params={"structured": False})}, n=1)
    run(suite, tmp_path / "run", cache="off")
    body = model_calls(stub)[0]["json"]
    assert "response_format" not in body and "structured" not in body


def test_fine_tuned_model_id_is_sent_as_is(stub, tmp_path):
    model = "ft:gpt-4.1-mini-2025-04-14:northwind::triage01"
    suite = write_suite(tmp_path, {"tuned": openai_route(stub, model=model, kind="finetuned")}, n=1)
    result = run(suite, tmp_path / "run", cache="off")
    assert model_calls(stub)[0]["json"]["model"] == model
    assert rows(result.run_dir)[0]["correct"] is True


def test_reasoning_model_gets_max_completion_tokens_and_no_default_temperature(stub, tmp_path):
    suite = write_suite(tmp_path, {"base": openai_route(stub, model="gpt-5-mini")}, n=1)
    run(suite, tmp_path / "run", cache="off")
    body = model_calls(stub)[0]["json"]
    assert body["max_completion_tokens"] == 200
    assert "max_tokens" not in body and "temperature" not in body


def test_temperature_set_on_the_route_is_always_sent(stub, tmp_path):
    suite = write_suite(tmp_path, {"base": openai_route(stub, model="gpt-5-mini", params={"temperature": 1})}, n=1)
    run(suite, tmp_path / "run", cache="off")
    assert model_calls(stub)[0]["json"]["temperature"] == 1


def test_params_the_sdk_does_not_know_travel_in_the_body_and_null_drops_a_default(stub, tmp_path):
    suite = write_suite(tmp_path, {"base": openai_route(stub, params={"top_k": 5, "seed": None})}, n=1)
    run(suite, tmp_path / "run", cache="off")
    body = model_calls(stub)[0]["json"]
    assert body["top_k"] == 5
    assert "seed" not in body and "timeout_s" not in body


def test_base_url_comes_from_openai_base_url_when_the_route_has_none(stub, tmp_path, monkeypatch):
    monkeypatch.setenv("OPENAI_BASE_URL", stub.base_url_openai)
    suite = write_suite(tmp_path, {"base": {"kind": "base", "model": "openai:gpt-4.1-mini"}}, n=1)
    result = run(suite, tmp_path / "run", cache="off")
    assert len(model_calls(stub)) == 1
    assert result.manifest["routes"]["base"]["base_url"] == stub.base_url_openai


def test_route_key_variable_is_used_for_a_compatible_server(stub, tmp_path, monkeypatch):
    monkeypatch.setenv("LOCAL_VLLM_KEY", "local-key-123")
    suite = write_suite(tmp_path, {"base": openai_route(stub, model="qwen2.5-7b", api_key_env="LOCAL_VLLM_KEY")}, n=1)
    run(suite, tmp_path / "run", cache="off")
    assert model_calls(stub)[0]["headers"]["authorization"] == "Bearer local-key-123"


def test_missing_key_stops_the_run_before_any_call_and_names_the_variable(stub, tmp_path, monkeypatch):
    monkeypatch.delenv("OPENAI_API_KEY")
    suite = write_suite(tmp_path, {"base": openai_route(stub)}, n=2)
    with pytest.raises(BadInput, match="OPENAI_API_KEY"):
        run(suite, tmp_path / "run", cache="off")
    assert stub.request_count == 0


def test_bad_request_becomes_an_error_row_with_the_servers_message(stub, tmp_path):
    stub.fail_script = lambda n, kind, body: (
        (400, {}, "Invalid schema for response_format 'stubbed'.") if body else None
    )
    suite = write_suite(tmp_path, {"base": openai_route(stub)}, n=1)
    result = run(suite, tmp_path / "run", cache="off")
    row = rows(result.run_dir)[0]
    assert row["error"] == {"type": "bad_request", "message": "HTTP 400: Invalid schema for response_format 'stubbed'."}
    assert row["output"] is None and row["correct"] is False


def test_manifest_records_how_the_route_was_called(stub, tmp_path):
    suite = write_suite(tmp_path, {"base": openai_route(stub)}, n=1)
    result = run(suite, tmp_path / "run", cache="off")
    info = result.manifest["routes"]["base"]
    assert info["api_key_env"] == "OPENAI_API_KEY"
    assert info["structured_output"] == "json_schema (strict)"
    assert info["reported_model"] == "gpt-4.1-mini"


# -- after a route's first call, its calls skip `create` and send the same bytes through `post`

def _through_create(call: dict) -> bool:
    """`with_raw_response.create` marks its requests; the client's `post` does not."""
    return call["headers"].get("x-stainless-raw-response") == "true"


def _create_directly(stub, **kwargs) -> dict:
    import asyncio

    import openai

    async def send() -> None:
        client = openai.AsyncOpenAI(api_key=OPENAI_KEY, base_url=stub.base_url_openai, max_retries=0)
        await client.chat.completions.create(**kwargs)
        await client.close()

    asyncio.run(send())
    return model_calls(stub)[-1]


def test_calls_after_the_first_send_the_bytes_and_headers_create_sends(stub, tmp_path):
    route = openai_route(stub, params={"top_k": 5, "timeout_s": 30})
    run(write_suite(tmp_path, {"base": route}, n=3), tmp_path / "run", cache="off", concurrency=1)
    first, *later = model_calls(stub)
    body = later[-1]["json"]
    reference = _create_directly(stub, model=body["model"], messages=body["messages"], max_tokens=200,
                                 response_format=body["response_format"], seed=7, temperature=0.0,
                                 extra_body={"top_k": 5}, timeout=30.0)
    assert _through_create(first) and not any(_through_create(call) for call in later)
    assert later[-1]["raw"] == reference["raw"]
    assert later[-1]["headers"] == reference["headers"]


def test_a_route_whose_body_the_sdk_changes_keeps_calling_create(stub, tmp_path, monkeypatch):
    from openai.resources.chat.completions import completions

    transform = completions.async_maybe_transform

    async def renaming(data, expected_type):
        body = await transform(data, expected_type)
        return {("max_output_tokens" if key == "max_tokens" else key): value for key, value in body.items()}

    monkeypatch.setattr(completions, "async_maybe_transform", renaming)
    run(write_suite(tmp_path, {"base": openai_route(stub)}, n=3), tmp_path / "run", cache="off", concurrency=1)
    calls = model_calls(stub)
    assert len(calls) == 3 and all(_through_create(call) for call in calls)
    assert all("max_output_tokens" in call["json"] for call in calls)


def test_answer_without_content_is_its_refusal():
    from evalkit.providers.openai import read_completion

    body = {"model": "m", "choices": [{"message": {"content": None, "refusal": "I can't help."},
                                       "finish_reason": "stop"}]}
    assert read_completion(json.dumps(body).encode(), {}, 1.0).text == "I can't help."


def test_answer_reads_tokens_and_their_details():
    from evalkit.providers.openai import read_completion

    body = {"model": "m", "choices": [{"message": {"content": "hi"}, "finish_reason": "length"}],
            "usage": {"prompt_tokens": 12, "completion_tokens": 30, "prompt_tokens_details": {"cached_tokens": 8},
                      "completion_tokens_details": {"reasoning_tokens": 20}}}
    answer = read_completion(json.dumps(body).encode(), {"x-request-id": "req_9"}, 5.0)
    assert (answer.text, answer.model, answer.finish_reason, answer.request_id) == ("hi", "m", "length", "req_9")
    assert (answer.input_tokens, answer.output_tokens, answer.cached_input_tokens, answer.reasoning_tokens) == (
        12, 30, 8, 20)


@pytest.mark.parametrize("content", [b"<html>busy</html>", b'{"choices": []}', b"[1, 2]"])
def test_answer_that_is_not_a_completion_is_a_bad_response(content):
    from evalkit.errors import ProviderError
    from evalkit.providers.openai import read_completion

    with pytest.raises(ProviderError) as caught:
        read_completion(content, {}, 1.0)
    assert caught.value.type == "bad_response"
