"""The stub's batch endpoints, spoken to with the real SDKs: OpenAI files and batches,
Anthropic Message Batches, injected faults and orders, and the count of creations."""

from __future__ import annotations

import json

import anthropic
import openai
import pytest

from evalkit.testing.stub_server import StubServer


def body(n: int, provider: str) -> dict:
    message = {"model": "gpt-4.1-mini" if provider == "openai" else "claude-haiku-4-5",
               "messages": [{"role": "user", "content": f"Ticket {n}: help"}]}
    return message if provider == "openai" else {**message, "max_tokens": 50}


def number(request_body: dict) -> int:
    return int(request_body["messages"][-1]["content"].split("Ticket ")[1].split(":")[0])


def answer(kind: str, request_body: dict) -> str:
    return json.dumps({"label": f"L{number(request_body)}"})


def fault(kind: str, batch_number: int, request_body: dict):
    return {1: "expired", 2: "errored"}.get(number(request_body))


def test_an_openai_batch_goes_through_files_and_batches_and_ends_expired_with_an_expired_request():
    with StubServer(answer, batch_fault=fault, batch_order="reverse") as stub:
        client = openai.OpenAI(base_url=stub.base_url_openai, api_key="sk-test", max_retries=0)
        lines = "".join(json.dumps({"custom_id": f"id-{n}", "method": "POST", "url": "/v1/chat/completions",
                                    "body": body(n, "openai")}) + "\n" for n in range(4))
        upload = client.files.create(file=("in.jsonl", lines.encode()), purpose="batch")
        batch = client.batches.create(input_file_id=upload.id, endpoint="/v1/chat/completions", completion_window="24h")
        assert client.batches.retrieve(batch.id).status == "in_progress"
        ended = client.batches.retrieve(batch.id)
        output = [json.loads(x) for x in client.files.content(ended.output_file_id).content.splitlines()]
        errors = [json.loads(x) for x in client.files.content(ended.error_file_id).content.splitlines()]
        client.close()
    assert ended.status == "expired" and stub.batches_created == 1
    assert ended.request_counts.model_dump() == {"total": 4, "completed": 2, "failed": 2}
    assert [line["custom_id"] for line in output] == ["id-3", "id-0"]  # reverse order
    assert json.loads(output[0]["response"]["body"]["choices"][0]["message"]["content"]) == {"label": "L3"}
    by_id = {line["custom_id"]: line for line in errors}
    assert by_id["id-1"]["error"]["code"] == "batch_expired" and by_id["id-1"]["response"] is None
    assert by_id["id-2"]["response"]["status_code"] == 500


def test_an_anthropic_batch_streams_succeeded_errored_and_expired_results():
    with StubServer(answer, batch_fault=fault, batch_polls=0) as stub:
        client = anthropic.Anthropic(base_url=stub.base_url_anthropic, api_key="sk-test", max_retries=0)
        batch = client.messages.batches.create(requests=[{"custom_id": f"id-{n}", "params": body(n, "anthropic")}
                                                         for n in range(3)])
        ended = client.messages.batches.retrieve(batch.id)
        results = {item.custom_id: item.result for item in client.messages.batches.results(batch.id)}
        client.close()
    assert ended.processing_status == "ended"
    assert ended.request_counts.model_dump() == {
        "processing": 0,
        "succeeded": 1,
        "errored": 1,
        "canceled": 0,
        "expired": 1,
    }
    assert results["id-0"].type == "succeeded" and results["id-0"].message.content[0].text == '{"label": "L0"}'
    assert results["id-1"].type == "expired"
    assert results["id-2"].type == "errored" and results["id-2"].error.error.type == "api_error"


def test_anthropic_custom_ids_outside_the_allowed_pattern_are_refused():
    with StubServer(answer) as stub:
        client = anthropic.Anthropic(base_url=stub.base_url_anthropic, api_key="sk-test", max_retries=0)
        with pytest.raises(anthropic.BadRequestError, match="custom_id"):
            client.messages.batches.create(requests=[{"custom_id": "case 1/route", "params": body(1, "anthropic")}])
        client.close()
    assert stub.batches_created == 0


def test_an_openai_input_file_with_a_repeated_custom_id_fails_validation():
    with StubServer(answer) as stub:
        client = openai.OpenAI(base_url=stub.base_url_openai, api_key="sk-test", max_retries=0)
        line = json.dumps(
            {"custom_id": "same", "method": "POST", "url": "/v1/chat/completions", "body": body(1, "openai")}
        )
        upload = client.files.create(file=("in.jsonl", f"{line}\n{line}\n".encode()), purpose="batch")
        batch = client.batches.create(input_file_id=upload.id, endpoint="/v1/chat/completions", completion_window="24h")
        client.close()
    assert batch.status == "failed" and batch.errors.data[0].code == "duplicate_custom_id"
