"""A call's messages are encoded to JSON once and reused: the requests.jsonl line, the pacer's
token estimate and the fingerprint's examples part are what encoding them each time gives."""

from __future__ import annotations

import hashlib
import json
from dataclasses import replace

from evalkit.cases import Case
from evalkit.executor import request_line, request_line_bytes
from evalkit.fingerprint import Fingerprinter
from evalkit.pacing import Pacer, estimate_tokens
from evalkit.planning import Call
from evalkit.providers.base import ProviderRequest, messages_json
from evalkit.secrets import remember
from evalkit.store import json_line
from evalkit.suite import canonical_json

KEY = "sk-test-request-encoding-0123456789"


class _Provider:
    ref = "openai:gpt-4.1-mini"


def _call(messages, *, schema=None, params=None):
    request = ProviderRequest("c1", "base", 0, messages, params or {"temperature": 0, "max_tokens": 50}, schema)
    printer = Fingerprinter(
        provider="openai", model="gpt-4.1-mini", base_url=None, params=request.params, schema=schema
    )
    return Call(request, _Provider(), "x", [], None, None, fingerprinter=printer, endpoint="http://127.0.0.1:9/v1")


def test_the_request_line_is_the_encoded_record_byte_for_byte():
    for messages, schema in (
        (
            [
                {"role": "system", "content": 'Classify. ümlaut ☃ \u2028 "quoted" \\ back'},
                {"role": "user", "content": "hi"},
            ],
            {"type": "object"},
        ),
        ([{"role": "user", "content": "plain"}], None),
        ([], None),
    ):
        call = _call(messages, schema=schema)
        assert request_line_bytes(call) == json_line(request_line(call))
        assert json.loads(request_line_bytes(call))["messages"] == messages


def test_a_known_key_in_the_messages_is_scrubbed_from_the_request_line():
    remember(KEY)
    call = _call([{"role": "user", "content": f"my key is {KEY}"}])
    line = request_line_bytes(call)
    assert KEY.encode() not in line and line == json_line(request_line(call))


def test_a_lone_surrogate_in_the_line_is_escaped_as_before():
    call = _call([{"role": "user", "content": "text"}])
    call.request.case_id = "case \udc80 id"
    line = request_line_bytes(call)
    assert line == json_line(request_line(call)) and b"\\udc80" in line


def test_the_pacers_token_estimate_is_the_estimate_of_the_messages():
    messages = [{"role": "system", "content": "ü" * 37}, {"role": "user", "content": "hello there"}]
    request = ProviderRequest("c1", "base", 0, messages, {"max_tokens": 50})
    costs = Pacer.costs_of(request)
    assert (costs["input_tokens"], costs["output_tokens"]) == estimate_tokens(messages, 50)
    replaced = replace(request, messages=[{"role": "user", "content": "a much longer message " * 20}])
    assert replaced.encoded is None
    assert Pacer.costs_of(replaced)["input_tokens"] == estimate_tokens(replaced.messages, 50)[0]
    assert messages_json(request) == json.dumps(messages, ensure_ascii=False)


def test_the_examples_part_is_the_hash_of_the_examples_canonical_json_when_examples_repeat():
    pool = [Case(id=f"t{i}", input=f"example {i} ü", expected="x" if i % 2 else {"label": "y"}) for i in range(4)]
    printer = Fingerprinter(provider="openai", model="m", base_url=None, params={}, schema=None)
    for examples in (pool[:3], pool[1:], pool[:3], [], [{"id": "plain", "input": "data"}]):
        listed = [
            {"id": e.id, "input": e.input, "expected": e.expected} if isinstance(e, Case) else e for e in examples
        ]
        expected = hashlib.sha256(canonical_json(listed).encode()).hexdigest()[:16]
        assert printer.of([{"role": "user", "content": "q"}], examples, []).parts["examples"] == expected


def test_the_default_prompt_gives_the_input_as_the_template_would(make_suite):
    from evalkit.routes import DEFAULT_PROMPT, RoutePlan, _environment
    from evalkit.suite import load_suite

    suite = load_suite(make_suite(routes={"base": {"kind": "base", "model": "mock:expected", "system": "Hi"}}))
    plan = RoutePlan("base", suite.spec.routes["base"], suite)
    template = _environment().from_string(DEFAULT_PROMPT)
    for data in (
        "plain {{ 1 + 1 }} text ü",
        {"subject": "Charge", "body": "{% if x %}twice{% endif %}"},
        "  spaced \n",
    ):
        case = Case(id="c", input=data, expected="x")
        rendered = plan.render(case)
        shown = plan.render(case).messages[-1]["content"]
        values = {"input": str(data) if isinstance(data, str) else None}
        if isinstance(data, dict):
            from evalkit.routes import InputFields

            values["input"] = InputFields(data)
        assert shown == template.render(values) == rendered.messages[-1]["content"]


def test_rate_limit_headers_are_read_from_httpx_headers_and_absent_ones_give_none():
    import httpx2

    from evalkit.pacing import read_rate_limits

    plain = httpx2.Headers({"content-type": "application/json", "x-request-id": "req_1"})
    assert read_rate_limits(plain) is None
    openai = httpx2.Headers(
        {
            "X-RateLimit-Limit-Requests": "500",
            "x-ratelimit-remaining-requests": "499",
            "x-ratelimit-reset-requests": "120ms",
        }
    )
    assert read_rate_limits(openai) == {"requests": (500.0, 499.0, 0.12)}
    anthropic = httpx2.Headers(
        {"anthropic-ratelimit-tokens-limit": "1000", "anthropic-ratelimit-tokens-remaining": "10"}
    )
    assert read_rate_limits(anthropic) == {"tokens": (1000.0, 10.0, None)}
    assert read_rate_limits({"x-ratelimit-limit-tokens": "60"}) == {"tokens": (60.0, None, None)}
