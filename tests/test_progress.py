"""What the run says while it runs and when it ends."""

from __future__ import annotations

import asyncio
import io

import pytest

from evalkit.cli import main
from evalkit.progress import Progress
from evalkit.testing import StubServer, fail
from stub_helpers import gold, isolate, openai_route, write_suite


@pytest.fixture(autouse=True)
def _isolated(monkeypatch, tmp_path):
    isolate(monkeypatch, tmp_path)


class _Waiting:
    def waiting_reason(self, now):
        return "waiting for openai:gpt-4.1-mini: 0 requests left, resets in 1.2 s"


def test_a_ci_progress_line_gives_rows_rate_throttling_and_eta():
    async def go():
        progress = Progress(10, tty=False, pacers=_Waiting(), stream=io.StringIO())
        progress.update(4)
        return progress.line()

    line = asyncio.run(go())
    assert line.startswith("evalkit: 4/10 rows, ")
    assert "waiting for openai:gpt-4.1-mini: 0 requests left, resets in 1.2 s" in line and "ETA" in line


def test_the_final_line_gives_the_error_rows_and_the_retry_errors_command(tmp_path, capsys):
    with StubServer(
        lambda kind, body: gold(body), fail_script=lambda n, kind, body: fail(400) if body else None
    ) as stub:
        suite = write_suite(tmp_path, {"base": openai_route(stub)}, n=2)
        main(["run", str(suite), "--out", str(tmp_path / "run"), "--cache", "off", "--no-progress"])
    out = capsys.readouterr().out
    assert (
        f"error rows: 2; make those calls again with: evalkit run {suite} --resume {tmp_path / 'run'} --retry-errors"
        in out
    )
