"""Work a run does while its calls wait on the network instead of before or after them."""

from __future__ import annotations

import threading

import pytest

from evalkit import runner
from evalkit.testing import StubServer
from stub_helpers import gold, isolate, openai_route, rows, run, write_suite


@pytest.fixture(autouse=True)
def _isolated(monkeypatch, tmp_path):
    isolate(monkeypatch, tmp_path)


@pytest.fixture
def preloads(monkeypatch):
    """The modules each preload thread was asked to import, recorded instead of imported."""
    asked: list[tuple[str, ...]] = []
    finished = threading.Event()

    def record(names):
        asked.append(names)
        finished.set()

    monkeypatch.setattr(runner, "PRELOAD_AFTER_S", 0.0)
    monkeypatch.setattr(runner, "import_quietly", record)
    return asked, finished


def test_a_run_of_remote_calls_loads_the_summary_modules_while_its_calls_are_under_way(tmp_path, preloads):
    asked, finished = preloads
    with StubServer(lambda kind, body: gold(body), latency_ms=20) as stub:
        suite = write_suite(tmp_path, {"base": openai_route(stub)}, n=6)
        result = run(suite, tmp_path / "run", cache="off", concurrency=1)
    assert finished.wait(5)
    assert asked == [runner.SUMMARY_MODULES]
    assert result.exit_code == 0 and len(rows(result.run_dir)) == 6


def test_a_run_with_no_remote_route_loads_nothing_ahead(tmp_path, preloads):
    asked, _ = preloads
    with StubServer(lambda kind, body: gold(body)) as stub:
        suite = write_suite(tmp_path, {"base": openai_route(stub)}, n=3)
        result = run(suite, tmp_path / "run", cache="off", offline=True)
    assert result.exit_code == 0 and asked == []


def test_a_module_that_fails_to_load_ahead_is_left_for_its_user_to_report():
    runner.import_quietly(("json", "evalkit.no_such_module", "csv"))  # returns quietly


def test_evalkit_run_collects_no_garbage_while_it_starts_and_collects_again_before_its_calls(tmp_path, monkeypatch):
    import gc

    from evalkit.cli import main

    planning, answering = [], []
    real_plan = runner.plan_calls

    def plan(*args, **kwargs):
        planning.append(gc.isenabled())
        return real_plan(*args, **kwargs)

    def answer(kind, body):
        answering.append(gc.isenabled())
        return gold(body)

    monkeypatch.setattr(runner, "plan_calls", plan)
    with StubServer(answer) as stub:
        suite = write_suite(tmp_path, {"base": openai_route(stub)}, n=3)
        code = main(["run", str(suite), "--out", str(tmp_path / "run"), "--cache", "off", "--no-progress"])
    assert code == 0
    assert planning == [False]
    assert answering == [True] * 3
    assert gc.isenabled()


def test_a_run_that_stops_before_its_calls_leaves_garbage_collection_on(tmp_path):
    import gc

    from evalkit.cli import main

    assert main(["run", str(tmp_path / "no-such-suite.yaml"), "--no-progress"]) != 0
    assert gc.isenabled()
