"""--concurrency bounds every request a run has in flight, the model lookups (shutdown dates)
included, which run beside the calls rather than before them."""

from __future__ import annotations

import pytest

from evalkit.testing.stub_server import StubServer
from stub_helpers import gold, isolate, model_calls, openai_route, rows, run, write_suite


@pytest.fixture(autouse=True)
def _isolated(monkeypatch, tmp_path):
    isolate(monkeypatch, tmp_path)


def two_model_suite(tmp_path, stub):
    """Two routes on two models: two model lookups, plus the fine-tune's base model."""
    return write_suite(
        tmp_path,
        {
            "base": openai_route(stub),
            "tuned": openai_route(stub, "ft:gpt-4.1-mini-2025-04-14:acme::x1", kind="finetuned"),
        },
        n=6,
    )


@pytest.mark.parametrize("concurrency", [1, 3])
def test_the_server_never_sees_more_requests_at_once_than_the_concurrency(tmp_path, concurrency):
    with StubServer(lambda kind, body: gold(body), latency_ms=20) as stub:
        result = run(two_model_suite(tmp_path, stub), tmp_path / "run", concurrency=concurrency)
        lookups = [r for r in stub.requests if r["path"].startswith("/v1/models/")]
    assert result.exit_code == 0 and lookups
    assert stub.max_in_flight <= concurrency


def test_lookups_beside_the_calls_still_reach_the_manifest(tmp_path):
    with StubServer(lambda kind, body: gold(body), latency_ms=20,
                    model_shutdown_dates={"gpt-4.1-mini": "2031-05-01"}) as stub:
        result = run(two_model_suite(tmp_path, stub), tmp_path / "run", concurrency=4)
        calls = model_calls(stub)
    assert len(calls) == len(rows(result.run_dir)) == 12
    assert result.manifest["routes"]["base"]["shutdown_date"] == "2031-05-01"
    assert result.manifest["routes"]["base"]["shutdown_source"] == "provider"
