"""Every planned call carries its route's provider, pacer, price, fingerprinter, endpoint and
repair passes, unrendered until it is due."""

from __future__ import annotations

from evalkit.planning import build_providers, plan_calls
from evalkit.suite import load_suite


def test_planned_calls_carry_their_routes_settings_and_pacer(make_suite, monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test-planned-calls")
    path = make_suite(
        routes={
            "base": {"kind": "base", "model": "mock:expected"},
            "fixer": {
                "kind": "base",
                "model": "openai:gpt-4.1-mini",
                "base_url": "http://127.0.0.1:9/v1",
                "repair": {"attempts": 2},
            },
        }
    )
    suite = load_suite(path)
    providers = build_providers(suite, ["base", "fixer"], offline=False)
    pacers = {"base": None, "fixer": object()}
    calls = plan_calls(suite, providers, 2, limiters=pacers)
    holdout = suite.holdout
    assert len(calls) == 2 * len(holdout) * 2
    fixer = [c for c in calls if c.request.route == "fixer"]
    assert [(c.request.case_id, c.request.repeat) for c in fixer[:4]] == [
        (holdout[0].id, 0),
        (holdout[0].id, 1),
        (holdout[1].id, 0),
        (holdout[1].id, 1),
    ]
    call = fixer[0]
    assert call.provider is providers["fixer"] and call.limiter is pacers["fixer"]
    assert call.expected == holdout[0].expected and call.tags == holdout[0].tags
    assert call.endpoint == "http://127.0.0.1:9/v1" and call.repair_attempts == 2
    assert call.price is not None and call.recorded_price is None and call.projected_price is None
    assert call.fingerprinter is not None and call.plan is not None
    assert call.cache_mode == "off" and call.cache_key is None and call.problem is None
    assert call.request.messages is None and call.retrieved is None and not call.looked_up
    base = [c for c in calls if c.request.route == "base"][0]
    assert base.limiter is None and base.repair_attempts == 0 and base.endpoint is None
    call.render()
    assert call.plan is None and call.request.messages[-1] == {"role": "user", "content": holdout[0].input}
