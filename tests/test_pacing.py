"""Pacing to the provider's rate limits: headers, token estimates, 429s waited out, quota stops."""

from __future__ import annotations

import asyncio
import json

import pytest

from evalkit.cli import main
from evalkit.pacing import Pacer, _Bucket, estimate_tokens, parse_duration, read_rate_limits
from evalkit.providers.base import ProviderRequest
from evalkit.testing import RateLimit, StubServer
from stub_helpers import anthropic_route, gold, isolate, openai_route, rows, run, write_suite


@pytest.fixture(autouse=True)
def _isolated(monkeypatch, tmp_path):
    isolate(monkeypatch, tmp_path)


def _request(text: str = "hello", max_tokens: int = 100) -> ProviderRequest:
    return ProviderRequest("c1", "base", 0, [{"role": "user", "content": text}], {"max_tokens": max_tokens})


async def _let_through(pacer: Pacer, request: ProviderRequest, callers: int) -> int:
    """How many of `callers` waiting calls the pacer lets go without any time passing."""
    waiting = [asyncio.ensure_future(pacer.acquire(request)) for _ in range(callers)]
    for _ in range(5):
        await asyncio.sleep(0)
    went = sum(1 for caller in waiting if caller.done())
    for caller in waiting:
        caller.cancel()
    await asyncio.gather(*waiting, return_exceptions=True)
    return went


def _learned(limits: dict, request: ProviderRequest | None = None) -> tuple[Pacer, float]:
    """A pacer that sent one call and got these limits back; the wait of the next call."""

    async def go():
        pacer = Pacer("openai:gpt-4.1-mini", 8)
        ticket = await pacer.acquire(_request())
        pacer.release(ticket, limits)
        loop = asyncio.get_running_loop()
        return pacer, pacer.delay(pacer.costs_of(request or _request()), loop.time())

    return asyncio.run(go())


def test_openai_rate_limit_headers_are_read():
    headers = {"x-ratelimit-limit-requests": "600", "x-ratelimit-remaining-requests": "19",
               "x-ratelimit-reset-requests": "1.2s", "x-ratelimit-limit-tokens": "200000",
               "x-ratelimit-remaining-tokens": "150000", "x-ratelimit-reset-tokens": "6m0s"}
    assert read_rate_limits(headers) == {"requests": (600.0, 19.0, 1.2), "tokens": (200000.0, 150000.0, 360.0)}


def test_anthropic_rate_limit_headers_are_read():
    headers = {"anthropic-ratelimit-requests-limit": "50", "anthropic-ratelimit-requests-remaining": "0",
               "anthropic-ratelimit-requests-reset": "2000-01-01T00:00:00Z",
               "anthropic-ratelimit-input-tokens-limit": "30000", "anthropic-ratelimit-input-tokens-remaining": "100",
               "anthropic-ratelimit-output-tokens-limit": "8000", "anthropic-ratelimit-output-tokens-remaining": "8000"}
    limits = read_rate_limits(headers)
    assert limits["requests"] == (50.0, 0.0, 0.0)  # a reset in the past is now
    assert limits["input_tokens"][:2] == (30000.0, 100.0) and limits["output_tokens"][:2] == (8000.0, 8000.0)


def test_an_answer_without_rate_limit_headers_reads_as_none():
    assert read_rate_limits({"x-request-id": "req_1"}) is None


@pytest.mark.parametrize(
    "text,seconds", [("20ms", 0.02), ("1.5s", 1.5), ("6m0s", 360.0), ("1h2m3s", 3723.0), ("0.5", 0.5)]
)
def test_openai_reset_durations_parse(text, seconds):
    assert parse_duration(text) == pytest.approx(seconds)


def test_a_request_is_estimated_as_its_serialised_messages_over_four_plus_max_tokens():
    messages = [{"role": "user", "content": "x" * 400}]
    assert estimate_tokens(messages, 300) == (len(json.dumps(messages)) // 4 + 1, 300)


def test_no_requests_left_makes_the_next_call_wait_and_says_why():
    pacer, wait = _learned({"requests": (600.0, 0.0, 0.1)})
    assert wait > 0
    assert pacer.reason.startswith("waiting for openai:gpt-4.1-mini: 0 requests left, resets in")


def test_requests_left_let_the_next_call_go_at_once():
    _, wait = _learned({"requests": (600.0, 15.0, 0.5)})
    assert wait == 0


def test_a_call_whose_tokens_exceed_the_tokens_left_waits_for_them():
    limits = {"tokens": (60000.0, 500.0, 1.0)}
    _, small = _learned(limits, _request("hi", max_tokens=50))
    _, large = _learned(limits, _request("x" * 4000, max_tokens=300))
    assert small == 0 and large > 0


def test_without_headers_a_429_halves_the_calls_in_flight_and_successes_grow_them_back():
    async def go():
        pacer = Pacer("openai:local-model", 32)
        first = await pacer.acquire(_request())
        pacer.release(first, None)  # no headers: open up to the run's concurrency
        opened = pacer.window
        limited = await pacer.acquire(_request())
        pacer.release(limited, None, rate_limited=True, retry_after_s=0.0)
        halved = pacer.window
        for _ in range(40):
            ticket = await pacer.acquire(_request())
            pacer.release(ticket, None)
        return opened, halved, pacer.window

    opened, halved, grown = asyncio.run(go())
    assert opened == 32 and halved == 16 and 16 < grown <= 32


@pytest.mark.parametrize("route_for", [openai_route, anthropic_route], ids=["openai", "anthropic"])
def test_a_run_paced_by_each_header_dialect_answers_every_row(tmp_path, route_for):
    with StubServer(lambda kind, body: gold(body), rate_limit=RateLimit(rpm=1200)) as stub:
        suite = write_suite(tmp_path, {"base": route_for(stub)}, n=50)
        result = run(suite, tmp_path / "run", cache="off", concurrency=16, attempts=1)
    answered = rows(result.run_dir)
    assert result.exit_code == 0 and len(answered) == 50 and not any(r["error"] for r in answered)


def test_a_run_under_a_token_limit_answers_every_row(tmp_path):
    with StubServer(lambda kind, body: gold(body), rate_limit=RateLimit(tpm=60_000)) as stub:
        suite = write_suite(tmp_path, {"base": openai_route(stub)}, n=12)
        result = run(suite, tmp_path / "run", cache="off", concurrency=12, attempts=1)
    answered = rows(result.run_dir)
    assert len(answered) == 12 and not any(r["error"] for r in answered)


def test_429s_without_retry_after_or_headers_are_waited_out_not_counted_as_attempts(tmp_path):
    limit = RateLimit(rpm=600, retry_after=False, headers=False)
    with StubServer(lambda kind, body: gold(body), rate_limit=limit) as stub:
        suite = write_suite(tmp_path, {"base": openai_route(stub)}, n=40)
        result = run(suite, tmp_path / "run", cache="off", concurrency=32, attempts=1, backoff_s=0.05)
    answered = rows(result.run_dir)
    assert limit.rejected > 0  # 40 calls at once against a bucket of 20: some were refused
    assert len(answered) == 40 and not any(r["error"] for r in answered)
    assert max(r["attempts"] for r in answered) > 1


def test_a_rate_limit_outlasting_max_wait_becomes_an_error_row(tmp_path):
    limit = RateLimit(rpm=60, burst_s=1.0)  # one call, then one a second
    with StubServer(lambda kind, body: gold(body), rate_limit=limit) as stub:
        suite = write_suite(tmp_path, {"base": openai_route(stub)}, n=3)
        result = run(suite, tmp_path / "run", cache="off", max_wait_s=0.0)
    errors = [r["error"] for r in rows(result.run_dir) if r["error"]]
    assert errors and all(e["type"] == "rate_limit" and "--max-wait" in e["message"] for e in errors)


@pytest.mark.parametrize("route_for", [openai_route, anthropic_route], ids=["openai", "anthropic"])
def test_a_quota_error_stops_the_run_with_exit_3_and_says_why(tmp_path, capsys, route_for):
    with StubServer(lambda kind, body: gold(body), rate_limit=RateLimit(quota_after=2)) as stub:
        suite = write_suite(tmp_path, {"base": route_for(stub)}, n=10)
        code = main(["run", str(suite), "--out", str(tmp_path / "run"), "--cache", "off", "--concurrency", "1",
                     "--no-progress"])
        sent = len(stub.requests)
    err = capsys.readouterr().err
    assert code == 3
    assert "quota" in err and "--resume" in err
    assert len(rows(tmp_path / "run")) == 2  # the refused call is not a row: --resume makes it again
    assert sent < 10  # the calls after the refusal were never sent


def test_a_run_starts_with_a_few_calls_and_opens_to_its_concurrency_on_the_first_answer():
    async def go():
        pacer = Pacer("openai:gpt-4.1-mini", 32)
        tickets = []

        async def take():
            tickets.append(await pacer.acquire(_request()))

        tasks = [asyncio.ensure_future(take()) for _ in range(20)]
        for _ in range(5):
            await asyncio.sleep(0)
        before = pacer.in_flight
        pacer.release(tickets[0], {"requests": (6000.0, 199.0, 0.1)})
        for _ in range(5):
            await asyncio.sleep(0)
        after = pacer.in_flight
        await asyncio.gather(*tasks)
        return before, after

    before, after = asyncio.run(go())
    assert before == 8  # until an answer shows the limits
    assert after == 19  # the other 12 callers go at once


def test_calls_waiting_for_an_empty_bucket_are_not_counted_as_sent_when_a_later_answer_corrects_it():
    """The first wave goes out before any bucket is known; when their answers come back, the
    calls still waiting for the bucket have not reached the server and must not be taken off
    the level it reports (which would hold every call back for seconds)."""

    async def go():
        pacer = Pacer("anthropic:claude-haiku-4-5", 32)
        first_wave = [await pacer.acquire(_request()) for _ in range(8)]  # the start window
        # the server took the first request with 19 of 20 left: 12 more may go after the other 7
        pacer.release(first_wave[0], {"requests": (600.0, 19.0, 0.0)})
        callers = [asyncio.ensure_future(pacer.acquire(_request())) for _ in range(24)]
        for _ in range(5):
            await asyncio.sleep(0)
        sent = sum(1 for c in callers if c.done())
        waiting = pacer.in_flight - 7 - sent
        # the second request was taken with 18 left: 6 of the first wave and the 12 went after it
        pacer.release(first_wave[1], {"requests": (600.0, 18.0, 0.0)})
        wait = pacer.delay(pacer.costs_of(_request()), asyncio.get_running_loop().time())
        for caller in callers:
            caller.cancel()
        await asyncio.gather(*callers, return_exceptions=True)
        return sent, waiting, wait

    sent, waiting, wait = asyncio.run(go())
    assert sent == 12 and waiting == 12
    assert wait <= 0.11  # the bucket is empty, not 12 requests in debt: the next call is one refill away


def test_the_first_wave_reaches_the_server_in_any_order_so_an_answer_of_it_counts_the_rest_of_it_as_still_to_come():
    """The first calls go out together, before any answer shows the limits: the last of them
    may reach the server first. Its answer's `remaining` then leaves out the other seven, which
    are still to be counted, so only the rest of the bucket may go."""

    async def go():
        pacer = Pacer("anthropic:claude-haiku-4-5", 32)
        first_wave = [await pacer.acquire(_request()) for _ in range(8)]
        pacer.release(first_wave[-1], {"requests": (600.0, 19.0, 0.1)})  # it found 20 of 20
        return await _let_through(pacer, _request(), 24)

    assert asyncio.run(go()) == 12  # 20 - 8: not the 19 that answer alone shows


@pytest.mark.parametrize(("rpm", "at_once"), [(600.0, 8), (240.0, 4), (30.0, 1)])
def test_a_hand_set_request_limit_lets_a_second_of_it_go_at_once_before_any_answer(rpm, at_once):
    """`--rpm`: the provider's bucket is full at the start; calls spaced evenly from a full
    bucket leave its refill unused, so a second's worth goes at once (within the start window)."""

    async def go():
        pacer = Pacer("openai:gpt-4.1-mini", 32, manual=_Bucket.hand_set("requests", rpm))
        return await _let_through(pacer, _request(), 12)

    assert asyncio.run(go()) == at_once


def test_a_hand_set_token_limit_lets_a_second_of_its_tokens_go_at_once_before_any_answer():
    async def go():
        request = _request("x" * 400, max_tokens=100)  # about 200 tokens
        tokens = sum(estimate_tokens(request.messages, 100))
        pacer = Pacer("openai:gpt-4.1-mini", 32, tokens=_Bucket.hand_set("tokens", tokens * 3 * 60))
        return await _let_through(pacer, request, 6)

    assert asyncio.run(go()) == 3  # a second's tokens: three such calls
