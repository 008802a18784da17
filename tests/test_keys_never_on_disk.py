"""API keys never reach disk: not the run directory, not the cache, not an error message."""

from __future__ import annotations

from pathlib import Path

import pytest
from stub_helpers import (ANTHROPIC_KEY, OPENAI_KEY, anthropic_route, gold, isolate, model_calls, openai_route, rows,
                          run, write_suite)

from evalkit.testing.stub_server import StubServer, fail


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
