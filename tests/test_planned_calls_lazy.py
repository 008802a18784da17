"""A run's calls are made as they are first asked for (planning.PlannedCalls), not all before
the first request: the same calls, in the same order, each the same object every time."""

from __future__ import annotations

import pytest

import evalkit.planning as planning
from evalkit.planning import PlannedCalls, attach_cache_keys, build_providers, plan_calls
from evalkit.suite import load_suite
from evalkit.testing.stub_server import StubServer
from stub_helpers import gold, isolate, openai_route, rows, run, write_suite

ROUTES = {"base": {"kind": "base", "model": "mock:expected"}, "other": {"kind": "base", "model": "mock:expected"}}


@pytest.fixture
def counted(monkeypatch):
    """Count the Call objects made from here on."""
    made = []

    class CountedCall(planning.Call):
        __slots__ = ()

        def __init__(self, *args, **kwargs):
            made.append(1)
            super().__init__(*args, **kwargs)

    monkeypatch.setattr(planning, "Call", CountedCall)
    return made


def planned(make_suite, repeats: int = 2) -> tuple[PlannedCalls, list]:
    suite = load_suite(make_suite(routes=ROUTES))
    calls = plan_calls(suite, build_providers(suite, list(ROUTES), offline=False), repeats)
    assert isinstance(calls, PlannedCalls)
    return calls, suite.holdout


def test_planned_calls_come_route_by_route_case_by_case_repeat_by_repeat(make_suite):
    calls, holdout = planned(make_suite)
    expected = [(route, case.id, repeat) for route in ROUTES for case in holdout for repeat in range(2)]
    keys = [(c.request.route, c.request.case_id, c.request.repeat) for c in calls]
    assert len(calls) == len(expected) and keys == expected
    assert [(c.request.route, c.request.case_id, c.request.repeat) for c in calls[3:9]] == expected[3:9]
    assert calls[-1].request.case_id == holdout[-1].id and calls[-1].request.route == "other"
    with pytest.raises(IndexError):
        calls[len(expected)]


def test_a_planned_call_is_the_same_object_every_time_it_is_asked_for(make_suite, monkeypatch):
    monkeypatch.setattr(PlannedCalls, "CHUNK", 3)
    calls, _ = planned(make_suite)
    first = calls[4]
    first.render()
    assert calls[4] is first and calls[2:6][2] is first and list(calls)[4] is first
    assert calls[4].plan is None  # rendered once, and it stays rendered


def test_no_call_is_made_before_one_is_asked_for_and_then_only_a_chunk(make_suite, monkeypatch, counted):
    monkeypatch.setattr(PlannedCalls, "CHUNK", 3)
    calls, holdout = planned(make_suite)
    assert len(calls) == 2 * len(holdout) * 2 > 6 and counted == []
    calls[0]
    assert len(counted) == 3
    calls[4]
    assert len(counted) == 6
    list(calls)
    assert len(counted) == len(calls)  # each made once, however often it is asked for


def test_cache_modes_set_before_the_calls_are_made_reach_every_call(make_suite, monkeypatch):
    monkeypatch.setattr(PlannedCalls, "CHUNK", 3)
    calls, _ = planned(make_suite)
    calls[0]  # made before the modes are set
    attach_cache_keys(calls, {"base": "readwrite"})
    modes = {(c.request.route, c.cache_mode) for c in calls}
    assert modes == {("base", "readwrite"), ("other", "off")}
    assert calls[0].cache_key is None  # not rendered yet: its key comes when it renders
    calls[0].render()
    assert calls[0].cache_key is not None


def test_the_first_request_goes_out_before_every_call_of_the_run_is_made(tmp_path, monkeypatch, counted):
    isolate(monkeypatch, tmp_path)
    monkeypatch.setattr(PlannedCalls, "CHUNK", 2)
    at_first_request: list[int] = []

    def responder(kind, body):
        if not at_first_request:
            at_first_request.append(len(counted))
        return gold(body)

    with StubServer(responder) as stub:
        result = run(write_suite(tmp_path, {"base": openai_route(stub)}, n=40), tmp_path / "run", concurrency=1)
    assert result.exit_code == 0
    assert at_first_request[0] < 40 and len(counted) == 40
    assert sorted(r["case_id"] for r in rows(tmp_path / "run")) == [f"c{i:03d}" for i in range(40)]


def test_calls_made_while_a_run_calls_are_kept_out_of_the_collectors_passes(make_suite, monkeypatch):
    import gc

    from evalkit.gcfreeze import long_lived_objects_frozen

    monkeypatch.setattr(PlannedCalls, "CHUNK", 3)
    calls, _ = planned(make_suite)
    with long_lived_objects_frozen():
        call = calls[4]  # made inside the run: frozen with the rest of the run's long-lived objects
        walked = {id(o) for generation in range(3) for o in gc.get_objects(generation)}
        assert gc.is_tracked(call) and id(call) not in walked and id(call.request) not in walked
