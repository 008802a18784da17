"""The local OpenAI/Anthropic stub against the real SDK clients (127.0.0.1 only)."""

import asyncio
import time

import anthropic
import httpx2
import openai
import pytest

from evalkit.testing import StubServer, fail, hang

TOOL = {"name": "classify", "description": "Label a ticket", "input_schema": {"type": "object"}}


@pytest.fixture
def make_stub():
    started = []

    def make(*args, **kwargs):
        stub = StubServer(*args, **kwargs).start()
        started.append(stub)
        return stub

    yield make
    for stub in started:
        stub.stop()


def openai_client(stub, **kwargs):
    return openai.OpenAI(base_url=stub.base_url_openai, api_key="sk-test", max_retries=0, **kwargs)


def anthropic_client(stub):
    return anthropic.Anthropic(base_url=stub.base_url_anthropic, api_key="sk-ant-test", max_retries=0)


def test_openai_completion_carries_responder_content_usage_and_is_recorded(make_stub):
    stub = make_stub(lambda kind, body: "hello world")
    response_format = {"type": "json_schema", "json_schema": {"name": "t", "schema": {"type": "object"}}}
    completion = openai_client(stub).chat.completions.create(
        model="gpt-4o-mini",
        messages=[{"role": "user", "content": "abcdefgh"}],
        response_format=response_format,
    )
    assert completion.choices[0].message.content == "hello world"
    assert completion.model == "gpt-4o-mini"
    assert (completion.usage.prompt_tokens, completion.usage.completion_tokens) == (8 // 4 + 1, 11 // 4 + 1)
    assert completion.usage.total_tokens == 6
    [record] = stub.requests
    assert (record["method"], record["path"], record["status"]) == ("POST", "/v1/chat/completions", 200)
    assert record["json"]["response_format"] == response_format
    assert record["headers"]["authorization"] == "Bearer sk-test"
    assert stub.request_count == 1


def test_anthropic_gets_a_text_block(make_stub):
    stub = make_stub(lambda kind, body: f"{kind} says hi")
    message = anthropic_client(stub).messages.create(
        model="claude-test", max_tokens=16, messages=[{"role": "user", "content": "hi"}]
    )
    assert [(b.type, b.text) for b in message.content] == [("text", "anthropic says hi")]
    assert message.stop_reason == "end_turn"
    assert message.usage.input_tokens == 1
    assert "anthropic-version" in stub.requests[0]["headers"]


def test_anthropic_forced_tool_gives_tool_use_with_dict_input(make_stub):
    stub = make_stub(lambda kind, body: {"label": "billing", "confidence": 0.9})
    message = anthropic_client(stub).messages.create(
        model="claude-test",
        max_tokens=16,
        messages=[{"role": "user", "content": "refund please"}],
        tools=[TOOL],
        tool_choice={"type": "tool", "name": "classify"},
    )
    [block] = message.content
    assert (block.type, block.name, block.input) == ("tool_use", "classify", {"label": "billing", "confidence": 0.9})
    assert message.stop_reason == "tool_use"


def test_scripted_429_raises_rate_limit_error_with_retry_after(make_stub):
    stub = make_stub(fail_script=lambda n, kind, body: fail(429, retry_after=0) if n == 0 else None)
    client = openai_client(stub)
    with pytest.raises(openai.RateLimitError) as excinfo:
        client.chat.completions.create(model="m", messages=[{"role": "user", "content": "x"}])
    assert excinfo.value.response.headers["retry-after"] == "0"
    assert excinfo.value.request_id == stub.requests[0]["request_id"]
    assert "x-should-retry" not in excinfo.value.response.headers
    client.chat.completions.create(model="m", messages=[{"role": "user", "content": "x"}])
    assert [r["status"] for r in stub.requests] == [429, 200]


def test_concurrent_requests_are_in_flight_together(make_stub):
    stub = make_stub(latency_ms=100)

    async def run():
        async with openai.AsyncOpenAI(base_url=stub.base_url_openai, api_key="sk-test", max_retries=0) as client:
            calls = [
                client.chat.completions.create(model="m", messages=[{"role": "user", "content": str(i)}])
                for i in range(8)
            ]
            return await asyncio.gather(*calls)

    started = time.perf_counter()
    results = asyncio.run(run())
    assert len(results) == 8
    assert stub.max_in_flight >= 8
    assert time.perf_counter() - started < 0.8


def test_models_endpoint_returns_shutdown_date_only_when_known(make_stub):
    stub = make_stub(model_shutdown_dates={"gpt-old": "2026-06-30"})
    client = openai_client(stub)
    assert client.models.retrieve("gpt-old").shutdown_date == "2026-06-30"
    assert client.models.retrieve("ft:gpt-4o-mini:org::abc").shutdown_date is None
    with httpx2.Client() as http:
        assert "shutdown_date" not in http.get(stub.base_url_openai + "/models/gpt-new").json()
    assert [m.id for m in client.models.list().data] == ["gpt-old"]


def test_hang_outlasts_client_timeout(make_stub):
    stub = make_stub(fail_script=lambda n, kind, body: hang(5))
    started = time.perf_counter()
    with pytest.raises(openai.APITimeoutError):
        openai_client(stub, timeout=0.2).chat.completions.create(model="m", messages=[])
    assert time.perf_counter() - started < 2


def test_random_errors_follow_the_seed(make_stub):
    def statuses(seed):
        stub = make_stub(error_rate=0.5, seed=seed, retry_after_s=1)
        with httpx2.Client() as http:
            rows = [
                http.post(stub.base_url_openai + "/chat/completions", json={"model": "m", "messages": []})
                for _ in range(12)
            ]
        assert all(r.headers["retry-after"] == "1" for r in rows if r.status_code != 200)
        return [r.status_code for r in rows]

    first = statuses(7)
    assert first == statuses(7)
    assert 200 in first and set(first) - {200} <= {429, 500} and set(first) != {200}


def test_unknown_path_is_404_and_bad_json_is_400(make_stub):
    stub = make_stub()
    with httpx2.Client() as http:
        missing = http.post(stub.url + "/v1/embeddings", json={})
        bad = http.post(stub.url + "/v1/messages", content=b"{nope")
    assert missing.status_code == 404 and missing.json()["error"]["type"] == "invalid_request_error"
    assert bad.status_code == 400 and bad.json()["type"] == "error"


def test_the_first_completion_request_is_timed_on_arrival_not_after_its_latency(make_stub):
    stub = make_stub(lambda kind, body: "ok", latency_ms=300)
    sent = time.time()
    openai_client(stub).chat.completions.create(model="gpt-4o-mini", messages=[{"role": "user", "content": "hi"}])
    assert stub.first_completion_at is not None and stub.first_completion_at - sent < 0.25
    stub.reset_counts()
    assert stub.first_completion_at is None
