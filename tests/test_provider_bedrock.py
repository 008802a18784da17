"""bedrock: the Converse API through boto3, against the local Bedrock stub."""

from __future__ import annotations

import pytest

from evalkit.cli import main
from evalkit.testing.bedrock_stub import BedrockStub
from stub_helpers import gold, rows, run, write_suite

SECRET = "aws-secret-TEST-8d3f0b6e91c2"
CLAUDE = "us.anthropic.claude-3-5-haiku-20241022-v1:0"


def bedrock_gold(model, body):
    return gold({"messages": [{"content": body["messages"][-1]["content"][0]["text"]}]})


@pytest.fixture(autouse=True)
def _isolated(monkeypatch, tmp_path):
    monkeypatch.setenv("EVALKIT_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "AKIATESTKEY0000")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", SECRET)
    monkeypatch.setenv("AWS_REGION", "us-east-1")
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "no-aws-config"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "no-aws-credentials"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    for name in ("AWS_PROFILE", "AWS_SESSION_TOKEN", "AWS_DEFAULT_REGION"):
        monkeypatch.delenv(name, raising=False)


def bedrock_route(stub, model=CLAUDE, **extra):
    return {"kind": "base", "model": f"bedrock:{model}", "base_url": stub.url, "system": "Triage.", **extra}


def test_claude_on_bedrock_answers_through_a_forced_tool(tmp_path):
    with BedrockStub(bedrock_gold) as stub:
        result = run(write_suite(tmp_path, {"br": bedrock_route(stub)}, n=4), tmp_path / "run")
    assert result.summary["routes"]["br"]["accuracy"]["value"] == 1.0
    assert stub.requests[0]["json"]["toolConfig"]["toolChoice"] == {"tool": {"name": "record_answer"}}


def test_request_carries_system_and_inference_config_without_seed(tmp_path):
    with BedrockStub(bedrock_gold) as stub:
        run(write_suite(tmp_path, {"br": bedrock_route(stub)}, n=1), tmp_path / "run")
    sent = stub.requests[0]
    assert (sent["path"], sent["json"]["system"], sent["json"]["inferenceConfig"]) == \
        (f"/model/{CLAUDE}/converse", [{"text": "Triage."}], {"temperature": 0, "maxTokens": 200})


def test_llama_is_asked_for_text_without_a_tool(tmp_path):
    with BedrockStub(lambda m, b: '{"label": "cancellation", "reason": "r"}') as stub:
        result = run(
            write_suite(tmp_path, {"br": bedrock_route(stub, "meta.llama3-1-8b-instruct-v1:0")}, n=1), tmp_path / "run"
        )
    assert "toolConfig" not in stub.requests[0]["json"] and rows(result.run_dir)[0]["parsed_ok"]


def test_usage_is_recorded_and_priced(tmp_path):
    with BedrockStub(lambda m, b: '{"label": "cancellation", "reason": "r"}') as stub:
        result = run(write_suite(tmp_path, {"br": bedrock_route(stub)}, n=1), tmp_path / "run")
    row = rows(result.run_dir)[0]
    assert row["cost_usd"] == pytest.approx((row["input_tokens"] * 0.80 + row["output_tokens"] * 4.00) / 1e6)
    assert (row["finish_reason"], row["request_id"]) == ("tool_use", "req-0")


def test_throttling_is_retried(tmp_path):
    script = lambda n, model, body: (429, "ThrottlingException", "slow down") if n == 0 else None  # noqa: E731
    with BedrockStub(bedrock_gold, fail_script=script) as stub:
        result = run(write_suite(tmp_path, {"br": bedrock_route(stub)}, n=1), tmp_path / "run")
    assert rows(result.run_dir)[0]["attempts"] == 2


def test_validation_error_is_an_error_row_with_the_message(tmp_path):
    script = lambda n, model, body: (400, "ValidationException", "bad tool schema")  # noqa: E731
    with BedrockStub(bedrock_gold, fail_script=script) as stub:
        result = run(write_suite(tmp_path, {"br": bedrock_route(stub)}, n=1), tmp_path / "run", max_error_rate=1.0)
    assert rows(result.run_dir)[0]["error"] == {
        "type": "bad_request",
        "message": "HTTP 400 ValidationException: bad tool schema",
    }


def test_custom_model_arn_is_priced_as_its_base_model(tmp_path):
    arn = "arn:aws:bedrock:us-east-1:123456789012:custom-model-deployment/a1b2c3"
    with BedrockStub(lambda m, b: '{"label": "cancellation", "reason": "r"}') as stub:
        route = bedrock_route(stub, arn, kind="finetuned", base_model="anthropic.claude-3-haiku-20240307-v1:0")
        result = run(write_suite(tmp_path, {"br": route}, n=1), tmp_path / "run")
    row = rows(result.run_dir)[0]
    assert row["cost_usd"] == pytest.approx((row["input_tokens"] * 0.25 + row["output_tokens"] * 1.25) / 1e6)


def test_missing_region_is_bad_input(tmp_path, monkeypatch, capsys):
    monkeypatch.delenv("AWS_REGION")
    suite = write_suite(tmp_path, {"br": {"kind": "base", "model": f"bedrock:{CLAUDE}"}}, n=1)
    assert main(["run", str(suite), "--no-progress"]) == 2
    assert "needs an AWS region" in capsys.readouterr().err


def test_missing_credentials_is_bad_input(tmp_path, monkeypatch, capsys):
    monkeypatch.delenv("AWS_ACCESS_KEY_ID")
    monkeypatch.delenv("AWS_SECRET_ACCESS_KEY")
    suite = write_suite(tmp_path, {"br": {"kind": "base", "model": f"bedrock:{CLAUDE}"}}, n=1)
    assert main(["run", str(suite), "--no-progress"]) == 2
    assert "needs AWS credentials" in capsys.readouterr().err


def test_the_secret_key_never_reaches_disk(tmp_path):
    script = lambda n, model, body: (403, "AccessDeniedException", f"key {SECRET} denied") if n % 2 else None  # noqa: E731
    with BedrockStub(bedrock_gold, fail_script=script) as stub:
        run(write_suite(tmp_path, {"br": bedrock_route(stub)}, n=4), tmp_path / "runs" / "a", max_error_rate=1.0)
    files = [p for p in (tmp_path / "runs").rglob("*") if p.is_file()] + [
        p for p in (tmp_path / "cache").rglob("*") if p.is_file()
    ]
    assert files and not any(SECRET.encode() in p.read_bytes() for p in files)
