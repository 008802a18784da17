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
