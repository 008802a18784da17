"""Per-provider requests-per-minute limits (`--rpm`)."""

from __future__ import annotations

import pytest

from evalkit.errors import BadInput
from evalkit.limits import RateLimiter, limiters_for, parse_rpm
from evalkit.pacing import Pacer
from evalkit.testing.stub_server import StubServer, fail
from stub_helpers import anthropic_route, gold, isolate, openai_route, run, write_suite


@pytest.fixture(autouse=True)
def _isolated(monkeypatch, tmp_path):
    isolate(monkeypatch, tmp_path)


def test_calls_are_spaced_evenly_at_the_rate():
    limiter = RateLimiter(120)  # one every half second
    assert [limiter.reserve(10.0) for _ in range(3)] == [0.0, 0.5, 1.0]
    assert limiter.reserve(20.0) == 0.0


def test_rpm_option_takes_a_number_or_provider_equals_number():
    assert parse_rpm(["500", "anthropic=50"]) == {"*": 500.0, "anthropic": 50.0}
    assert parse_rpm(None) == {}


@pytest.mark.parametrize("value", ["fast", "openai=", "=5", "openai=0", "-3"])
def test_bad_rpm_is_bad_input(value):
    with pytest.raises(BadInput, match="--rpm"):
        parse_rpm([value])


@pytest.mark.parametrize("value", ["nan", "anthropic=nan"])
def test_a_rate_that_is_not_a_number_is_bad_input(value):
    with pytest.raises(BadInput, match="--rpm"):
        parse_rpm([value])
    with pytest.raises(BadInput, match="--rpm"):
        RateLimiter(float("nan"))


def test_a_bare_rate_applies_to_every_remote_provider_and_a_named_one_wins():
    chosen = limiters_for({"openai": True, "anthropic": True, "mock": False}, {"*": 100, "anthropic": 10})
    assert {name: limiter.rpm for name, limiter in chosen.items()} == {"openai": 100, "anthropic": 10}


def test_a_rate_for_a_provider_no_route_uses_is_bad_input():
    with pytest.raises(BadInput, match="anthropic"):
        limiters_for({"openai": True}, {"anthropic": 10})


def test_every_attempt_of_the_limited_provider_waits_for_a_slot(tmp_path, monkeypatch):
    taken = []
    original = Pacer.acquire

    async def counting(self, request):
        if "requests" in self.hand_set_rates:
            taken.append(self.hand_set_rates["requests"])
        return await original(self, request)

    monkeypatch.setattr(Pacer, "acquire", counting)
    script = iter([fail(429, retry_after_ms=1)])
    with StubServer(lambda kind, body: gold(body),
                    fail_script=lambda n, kind, body: next(script, None) if kind == "anthropic" else None) as stub:
        suite = write_suite(tmp_path, {"gpt": openai_route(stub), "claude": anthropic_route(stub)}, n=3)
        result = run(suite, tmp_path / "run", cache="off", rpm={"anthropic": 6000})
    assert taken == [6000.0] * 4  # three calls and one retry, all to anthropic; openai unlimited
    assert result.manifest["rate_limits_rpm"] == {"anthropic": 6000}
