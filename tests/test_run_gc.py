"""A run freezes its long-lived objects away from the garbage collector while it runs
(evalkit.gcfreeze.long_lived_objects_frozen) and leaves the collector as it found it."""

from __future__ import annotations

import gc

from evalkit.gcfreeze import long_lived_objects_frozen
from evalkit.runner import RunOptions, run_suite


def test_a_run_leaves_nothing_frozen(make_suite, tmp_path):
    run_suite(make_suite(), RunOptions(out=tmp_path / "run", progress=False))
    assert gc.get_freeze_count() == 0


def test_objects_are_frozen_inside_and_collectable_after():
    with long_lived_objects_frozen():
        assert gc.get_freeze_count() > 0
    assert gc.get_freeze_count() == 0


def test_what_someone_else_froze_stays_frozen():
    gc.freeze()
    try:
        before = gc.get_freeze_count()
        with long_lived_objects_frozen():
            pass
        assert gc.get_freeze_count() == before
    finally:
        gc.unfreeze()


def test_the_collector_is_off_while_a_run_plans_and_on_while_it_calls(make_suite, tmp_path, monkeypatch):
    import evalkit.executor
    import evalkit.runner

    seen = {}
    plan_calls, due = evalkit.runner.plan_calls, evalkit.executor.Executor._due

    def planning(*args, **kwargs):
        seen["planning"] = gc.isenabled()
        return plan_calls(*args, **kwargs)

    def calling(self, calls, start=0):
        seen["calling"] = gc.isenabled()
        return due(self, calls, start)

    monkeypatch.setattr(evalkit.runner, "plan_calls", planning)
    monkeypatch.setattr(evalkit.executor.Executor, "_due", calling)
    assert gc.isenabled()
    run_suite(make_suite(), RunOptions(out=tmp_path / "run", progress=False))
    assert seen == {"planning": False, "calling": True} and gc.isenabled()


def test_a_run_that_stops_on_bad_input_turns_the_collector_back_on(make_suite, tmp_path):
    import pytest

    from evalkit.errors import BadInput

    with pytest.raises(BadInput):
        run_suite(make_suite(), RunOptions(out=tmp_path / "run", progress=False, routes=["nope"]))
    assert gc.isenabled()


def test_a_collector_turned_off_by_someone_else_stays_off(make_suite, tmp_path):
    gc.disable()
    try:
        run_suite(make_suite(), RunOptions(out=tmp_path / "run", progress=False))
        assert not gc.isenabled()
    finally:
        gc.enable()
