"""The response cache: keyed by the whole request, never by the key; hits send no request."""

from __future__ import annotations

import pytest

from evalkit.cache import ResponseCache, cache_key, route_mode
from evalkit.providers.base import ProviderResponse
from evalkit.testing.stub_server import StubServer, fail
from stub_helpers import OPENAI_KEY, anthropic_route, gold, isolate, model_calls, openai_route, rows, run, write_suite


@pytest.fixture(autouse=True)
def _isolated(monkeypatch, tmp_path):
    isolate(monkeypatch, tmp_path)


@pytest.fixture
def stub():
    with StubServer(lambda kind, body: gold(body)) as server:
        yield server


def key(sha: str = "a" * 64, endpoint: str | None = "http://127.0.0.1:1/v1", repeat: int = 0) -> str:
    return cache_key(sha, endpoint, repeat)


def test_key_changes_with_the_request_the_endpoint_and_the_repeat():
    assert len({key(), key(sha="b" * 64), key(endpoint="http://other/v1"), key(repeat=1)}) == 4


def test_default_mode_caches_remote_routes_at_temperature_zero_only():
    assert route_mode("auto", remote=True, temperature=0) == "readwrite"
    assert route_mode("auto", remote=True, temperature=0.7) == "off"
    assert route_mode("readwrite", remote=False, temperature=0) == "off"
    assert route_mode("read", remote=True, temperature=1.0) == "read"


def test_stored_response_comes_back_marked_cached_with_its_latency_and_tokens(tmp_path):
    with ResponseCache(tmp_path / "c") as cache:
        cache.put("k1", ProviderResponse(text='{"label": "x"}', model="m", input_tokens=11, output_tokens=3,
                                         latency_ms=812.5, finish_reason="stop", request_id="req_9"))
    with ResponseCache(tmp_path / "c") as cache:
        hit = cache.get("k1")
        assert cache.get("k2") is None
    assert (hit.text, hit.input_tokens, hit.output_tokens, hit.latency_ms) == ('{"label": "x"}', 11, 3, 812.5)
    assert hit.cached is True and hit.attempts == 0


@pytest.mark.parametrize("route_for", [openai_route, anthropic_route])
def test_cached_rerun_sends_no_request_and_keeps_the_original_rows(stub, tmp_path, route_for):
    suite = write_suite(tmp_path, {"base": route_for(stub)}, n=5)
    first = rows(run(suite, tmp_path / "first").run_dir)
    stub.reset_counts()
    second = run(suite, tmp_path / "second")
    assert stub.request_count == 0
    again = rows(second.run_dir)
    assert all(r["cached"] for r in again) and second.cache_hits == 5
    for before, after in zip(sorted(first, key=lambda r: r["case_id"]), sorted(again, key=lambda r: r["case_id"])):
        assert (after["output"], after["latency_ms"], after["input_tokens"], after["output_tokens"]) == \
               (before["output"], before["latency_ms"], before["input_tokens"], before["output_tokens"])


def test_repeats_are_cached_separately(stub, tmp_path):
    suite = write_suite(tmp_path, {"base": openai_route(stub)}, n=2)
    run(suite, tmp_path / "first", repeats=2)
    assert len(model_calls(stub)) == 4


def test_errors_are_never_cached(stub, tmp_path):
    stub.fail_script = lambda n, kind, body: fail(400, "no") if body and n < 100 else None
    suite = write_suite(tmp_path, {"base": openai_route(stub)}, n=1)
    run(suite, tmp_path / "first")
    stub.fail_script = None
    stub.reset_counts()
    result = run(suite, tmp_path / "second")
    assert len(model_calls(stub)) == 1
    assert rows(result.run_dir)[0]["correct"] is True


def test_cache_read_miss_is_an_error_row_and_needs_no_key(stub, tmp_path, monkeypatch):
    suite = write_suite(tmp_path, {"base": openai_route(stub)}, n=3)
    run(suite, tmp_path / "record")
    suite.write_text(suite.read_text().replace("cases.jsonl", "more.jsonl"))
    (tmp_path / "more.jsonl").write_text((tmp_path / "cases.jsonl").read_text().replace("Ticket 2:", "Ticket 6:"))
    monkeypatch.delenv("OPENAI_API_KEY")
    stub.reset_counts()
    result = run(suite, tmp_path / "replay", cache="read")
    assert stub.request_count == 0
    by_case = {r["case_id"]: r for r in rows(result.run_dir)}
    assert by_case["c000"]["cached"] and by_case["c001"]["cached"]
    assert by_case["c002"]["error"]["type"] == "cache_miss"
    assert "--cache read" in by_case["c002"]["error"]["message"]


def test_cache_off_writes_no_cache(stub, tmp_path):
    suite = write_suite(tmp_path, {"base": openai_route(stub)}, n=1)
    run(suite, tmp_path / "run", cache="off")
    assert not (tmp_path / "cache").exists()


def test_sampled_routes_are_not_cached_by_default(stub, tmp_path):
    suite = write_suite(tmp_path, {"base": openai_route(stub)}, n=2, defaults={"temperature": 0.8})
    run(suite, tmp_path / "first")
    run(suite, tmp_path / "second")
    assert len(model_calls(stub)) == 4


def test_cache_dir_option_moves_the_cache(stub, tmp_path):
    suite = write_suite(tmp_path, {"base": openai_route(stub)}, n=1)
    result = run(suite, tmp_path / "run", cache_dir=tmp_path / "elsewhere")
    assert (tmp_path / "elsewhere" / "responses.sqlite3").exists()
    assert result.manifest["cache"]["dir"] == str(tmp_path / "elsewhere")


def test_cache_holds_no_key(stub, tmp_path):
    suite = write_suite(tmp_path, {"base": openai_route(stub)}, n=2)
    run(suite, tmp_path / "run")
    for path in (tmp_path / "cache").iterdir():
        assert OPENAI_KEY.encode() not in path.read_bytes()


def test_a_cache_folder_that_cannot_be_created_is_bad_input(tmp_path):
    from evalkit.errors import BadInput

    (tmp_path / "file").write_text("not a folder")
    with pytest.raises(BadInput, match="--cache-dir"):
        ResponseCache(tmp_path / "file" / "cache")


def test_write_mode_always_calls_and_stores_for_a_later_read(stub, tmp_path):
    suite = write_suite(tmp_path, {"base": openai_route(stub)}, n=2)
    run(suite, tmp_path / "one", cache="write")
    run(suite, tmp_path / "two", cache="write")
    assert len(model_calls(stub)) == 4
    stub.reset_counts()
    replay = run(suite, tmp_path / "three", cache="read")
    assert stub.request_count == 0 and replay.cache_hits == 2
