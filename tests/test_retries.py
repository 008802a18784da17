"""Retries: 429, 5xx, timeouts and dropped connections are retried, honouring Retry-After;
other 4xx are not. The row records the attempts; the manifest reports the retries."""

from __future__ import annotations

import pytest

from evalkit.executor import Executor
from evalkit.pacing import Pacer
from evalkit.providers.base import ProviderError
from evalkit.providers.sdk import retry_after_seconds
from evalkit.runner import RunOptions
from evalkit.testing.stub_server import StubServer, fail, hang
from stub_helpers import anthropic_route, gold, isolate, model_calls, openai_route, rows, run, write_suite


@pytest.fixture(autouse=True)
def _isolated(monkeypatch, tmp_path):
    isolate(monkeypatch, tmp_path)


def first_call_fails(*failures):
    """A fail_script that fails the first completion requests with `failures`, in order."""
    seen = []

    def script(n, kind, body):
        if body is None:  # a model lookup
            return None
        seen.append(n)
        return failures[len(seen) - 1] if len(seen) <= len(failures) else None

    return script


@pytest.fixture
def stub():
    with StubServer(lambda kind, body: gold(body)) as server:
        yield server


@pytest.mark.parametrize("route_for", [openai_route, anthropic_route])
def test_rate_limited_call_is_retried_and_the_row_counts_two_attempts(stub, tmp_path, route_for):
    stub.fail_script = first_call_fails(fail(429, retry_after_ms=10))
    suite = write_suite(tmp_path, {"base": route_for(stub)}, n=1)
    result = run(suite, tmp_path / "run", cache="off")
    row = rows(result.run_dir)[0]
    assert (row["correct"], row["attempts"], row["error"]) == (True, 2, None)
    assert len(model_calls(stub)) == 2


def test_server_error_is_retried(stub, tmp_path):
    stub.fail_script = first_call_fails(fail(500), fail(503))
    suite = write_suite(tmp_path, {"base": openai_route(stub)}, n=1)
    result = run(suite, tmp_path / "run", cache="off")
    assert rows(result.run_dir)[0]["attempts"] == 3
    assert rows(result.run_dir)[0]["correct"] is True


@pytest.mark.parametrize("status", [400, 401, 404, 422])
def test_client_errors_other_than_429_are_not_retried(stub, tmp_path, status):
    stub.fail_script = first_call_fails(fail(status, "You sent something wrong."))
    suite = write_suite(tmp_path, {"base": openai_route(stub)}, n=1)
    result = run(suite, tmp_path / "run", cache="off")
    row = rows(result.run_dir)[0]
    assert row["attempts"] == 1 and len(model_calls(stub)) == 1
    assert row["error"]["message"] == f"HTTP {status}: You sent something wrong."


def test_a_call_that_exceeds_the_timeout_is_retried(stub, tmp_path):
    stub.fail_script = first_call_fails(hang(5))
    suite = write_suite(tmp_path, {"base": openai_route(stub)}, n=1)
    result = run(suite, tmp_path / "run", cache="off", timeout_s=0.3)
    row = rows(result.run_dir)[0]
    assert (row["correct"], row["attempts"]) == (True, 2)


def test_a_call_that_always_times_out_becomes_a_timeout_error_row(stub, tmp_path):
    stub.fail_script = lambda n, kind, body: hang(5) if body else None
    suite = write_suite(tmp_path, {"base": anthropic_route(stub)}, n=1)
    result = run(suite, tmp_path / "run", cache="off", timeout_s=0.2, attempts=2)
    row = rows(result.run_dir)[0]
    assert row["error"]["type"] == "timeout"
    assert "gave up after 2 attempts" in row["error"]["message"]


def test_a_dropped_connection_is_retried(stub, tmp_path):
    stub.fail_script = first_call_fails(hang(0))
    suite = write_suite(tmp_path, {"base": openai_route(stub)}, n=1)
    result = run(suite, tmp_path / "run", cache="off")
    assert rows(result.run_dir)[0]["attempts"] == 2


def test_retries_stop_after_the_attempts_setting(stub, tmp_path):
    stub.fail_script = lambda n, kind, body: fail(503, "Overloaded.") if body else None
    suite = write_suite(tmp_path, {"base": openai_route(stub)}, n=1)
    result = run(suite, tmp_path / "run", cache="off", attempts=3, backoff_s=0.001)
    row = rows(result.run_dir)[0]
    assert len(model_calls(stub)) == 3 and row["attempts"] == 3
    assert row["error"] == {"type": "server_error", "message": "HTTP 503: Overloaded. (gave up after 3 attempts)"}


def test_server_saying_do_not_retry_is_obeyed(stub, tmp_path):
    stub.fail_script = first_call_fails(fail(500, should_retry=False))
    suite = write_suite(tmp_path, {"base": openai_route(stub)}, n=1)
    result = run(suite, tmp_path / "run", cache="off")
    assert rows(result.run_dir)[0]["attempts"] == 1


@pytest.mark.parametrize("route_for", [openai_route, anthropic_route])
def test_the_wait_the_server_asks_for_reaches_the_retry_loop(stub, tmp_path, monkeypatch, route_for):
    asked, paced = [], []
    monkeypatch.setattr(Executor, "_backoff", lambda self, attempt, error: asked.append(error.retry_after_s) or 0.0)
    release = Pacer.release

    def recording(self, ticket, limits, *, rate_limited=False, retry_after_s=None):
        if rate_limited:
            paced.append(retry_after_s)
            retry_after_s = 0.0
        release(self, ticket, limits, rate_limited=rate_limited, retry_after_s=retry_after_s)

    monkeypatch.setattr(Pacer, "release", recording)
    stub.fail_script = first_call_fails(fail(429, retry_after_ms=250), fail(503, retry_after=2))
    suite = write_suite(tmp_path, {"base": route_for(stub)}, n=1)
    run(suite, tmp_path / "run", cache="off")
    assert paced == [0.25]  # a rate limit is waited out by the provider's pacer
    assert asked == [2.0]


def test_backoff_waits_at_least_what_the_server_asks_and_at_most_the_cap():
    executor = Executor([], None, None, RunOptions(backoff_s=0.01, max_retry_after_s=5.0))
    assert executor._backoff(1, ProviderError("rate_limit", "x", retryable=True, retry_after_s=3.0)) >= 3.0
    assert executor._backoff(1, ProviderError("rate_limit", "x", retryable=True, retry_after_s=600.0)) == 5.0


def test_backoff_grows_exponentially_with_jitter():
    executor = Executor([], None, None, RunOptions(backoff_s=1.0, max_backoff_s=30.0))
    error = ProviderError("server_error", "x", retryable=True)
    assert 0.5 <= executor._backoff(1, error) <= 1.0
    assert 4.0 <= executor._backoff(4, error) <= 8.0
    assert executor._backoff(10, error) <= 30.0


def test_retry_after_headers_are_read_in_milliseconds_seconds_or_as_a_date():
    assert retry_after_seconds({"retry-after-ms": "1500", "retry-after": "9"}) == 1.5
    assert retry_after_seconds({"retry-after": "2.5"}) == 2.5
    assert retry_after_seconds({"retry-after": "Wed, 21 Oct 2015 07:28:00 GMT"}) == 0.0
    assert retry_after_seconds({"retry-after": "soon"}) is None
    assert retry_after_seconds({}) is None


def test_the_manifest_reports_the_retries_per_route(stub, tmp_path):
    stub.fail_script = first_call_fails(fail(500), fail(429))
    suite = write_suite(tmp_path, {"base": openai_route(stub)}, n=3)
    result = run(suite, tmp_path / "run", cache="off", concurrency=1)
    assert result.retries == 2
    assert result.manifest["retries"] == 2 and result.manifest["retries_by_route"] == {"base": 2}
