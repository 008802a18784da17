"""API keys never reach disk: not the run directory, not the cache, not an error message."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from evalkit.testing.stub_server import StubServer, fail
from stub_helpers import (
    ANTHROPIC_KEY,
    OPENAI_KEY,
    anthropic_route,
    gold,
    isolate,
    model_calls,
    openai_route,
    rows,
    run,
    write_suite,
)


@pytest.fixture(autouse=True)
def _isolated(monkeypatch, tmp_path):
    isolate(monkeypatch, tmp_path)


def every_file(*folders: Path) -> list[Path]:
    return [path for folder in folders if folder.exists() for path in folder.rglob("*") if path.is_file()]


def test_no_file_a_run_writes_contains_a_key(tmp_path):
    def echo_the_key(n, kind, body):
        # a careless server that quotes the key back in its error message
        if body and n % 5 == 0:
            return fail(401, f"Incorrect API key provided: {OPENAI_KEY if kind == 'openai' else ANTHROPIC_KEY}.")
        return None

    with StubServer(lambda kind, body: gold(body), fail_script=echo_the_key) as stub:
        suite = write_suite(tmp_path, {"gpt": openai_route(stub), "claude": anthropic_route(stub)}, n=10)
        first = run(suite, tmp_path / "runs" / "first")
        second = run(suite, tmp_path / "runs" / "second", cache="read")
        sent = [call["headers"] for call in model_calls(stub)]

    assert any(OPENAI_KEY in str(h) for h in sent) and any(ANTHROPIC_KEY in str(h) for h in sent)  # keys were used
    assert sum(first.manifest["errors"].values()) > 0 and second.manifest["cache_hits"] > 0
    files = every_file(tmp_path / "runs", tmp_path / "cache")
    assert len(files) >= 10
    for path in files:
        data = path.read_bytes()
        assert OPENAI_KEY.encode() not in data, path
        assert ANTHROPIC_KEY.encode() not in data, path


def test_error_message_that_quotes_the_key_is_scrubbed(tmp_path):
    with StubServer(fail_script=lambda n, kind, body: fail(401, f"bad key {OPENAI_KEY}") if body else None) as stub:
        suite = write_suite(tmp_path, {"gpt": openai_route(stub)}, n=1)
        result = run(suite, tmp_path / "run", cache="off")
    assert rows(result.run_dir)[0]["error"]["message"] == "HTTP 401: bad key ***"


def test_no_file_a_run_writes_contains_a_google_aws_or_service_secret(tmp_path, monkeypatch):
    from evalkit.testing.bedrock_stub import BedrockStub
    from evalkit.testing.google_stub import GeminiStub
    from evalkit.testing.services import LocalService

    secrets = {"GEMINI_API_KEY": "gemini-SECRET-4e1f7a", "AWS_SECRET_ACCESS_KEY": "aws-SECRET-9b2c5d",
               "SERVICE_TOKEN": "svc-SECRET-3a8e0f"}
    for name, value in secrets.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "AKIATESTKEY0000")
    monkeypatch.setenv("AWS_REGION", "us-east-1")
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    answer = json.dumps({"label": "cancellation", "reason": "r"})

    # careless servers that quote the secret they were sent back in their error messages
    def service(request):
        if request["json"]["case"]["id"] in ("c001", "c003"):
            return 401, {"error": f"token {secrets['SERVICE_TOKEN']} revoked"}
        return 200, {"answer": json.loads(answer)}

    with (
        GeminiStub(
            lambda m, b: answer,
            fail_script=lambda n, path, body: (401, f"bad key {secrets['GEMINI_API_KEY']}") if n % 2 else None,
        ) as gemini,
        BedrockStub(
            lambda m, b: answer,
            fail_script=lambda n, model, body: (
                (403, "AccessDeniedException", f"signature of {secrets['AWS_SECRET_ACCESS_KEY']}") if n % 2 else None
            ),
        ) as aws,
        LocalService(service) as own,
    ):
        routes = {
            "gemini": {"kind": "base", "model": "google:gemini-2.5-flash", "base_url": gemini.url},
            "bedrock": {
                "kind": "base",
                "model": "bedrock:anthropic.claude-3-5-haiku-20241022-v1:0",
                "base_url": aws.url,
            },
            "service": {
                "kind": "base",
                "model": f"http:{own.url}",
                "http": {"headers": {"Authorization": "Bearer ${SERVICE_TOKEN}"}, "response": {"output": "answer"}},
            },
        }
        suite = write_suite(tmp_path, routes, n=6)
        first = run(suite, tmp_path / "runs" / "first", max_error_rate=1.0)
        run(suite, tmp_path / "runs" / "second", cache="read", max_error_rate=1.0)
    assert all(first.manifest["errors"][route] > 0 for route in routes)  # the secrets were quoted back
    sent = [r["headers"] for r in gemini.requests + own.requests]
    assert any(secrets["GEMINI_API_KEY"] in str(h) for h in sent) and any(
        secrets["SERVICE_TOKEN"] in str(h) for h in sent
    )
    files = every_file(tmp_path / "runs", tmp_path / "cache")
    assert len(files) >= 10
    for path in files:
        data = path.read_bytes()
        for secret in secrets.values():
            assert secret.encode() not in data, (path, secret)
