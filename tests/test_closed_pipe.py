"""`evalkit ... | head -1`: a reader that goes away ends the command quietly, with its own exit code."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from conftest import REPO
from evalkit.cli import main

SUITE = REPO / "evals" / "support_triage.yaml"


def run_into_closed_pipe(*args: str) -> subprocess.CompletedProcess:
    """Run `evalkit ARGS` with standard output a pipe whose reading end is already closed."""
    read_end, write_end = os.pipe()
    os.close(read_end)
    try:
        return subprocess.run([sys.executable, "-m", "evalkit", *args], stdout=write_end, stderr=subprocess.PIPE,
                              text=True, timeout=300, cwd=REPO)
    finally:
        os.close(write_end)


@pytest.fixture(scope="module")
def offline_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("pipe") / "run"
    assert main(["run", str(SUITE), "--offline", "--route", "base", "--route", "tuned", "--out", str(out),
                 "--no-progress"]) == 0
    return out


@pytest.mark.parametrize("args, code", [
    (["schema"], 0),
    (["--version"], 0),
    (["gate", "{run}", "--route", "tuned", "--baseline", "base", "--allow-unverified"], 0),
    (["gate", "{run}", "--route", "tuned", "--baseline", "base"], 1),
    (["compare", "{run}:base", "{run}:tuned"], 0),
])
def test_a_closed_pipe_ends_the_command_quietly_with_its_own_exit_code(offline_run, args, code):
    done = run_into_closed_pipe(*(a.format(run=offline_run) for a in args))
    assert done.returncode == code
    assert "Error" not in done.stderr and "Traceback" not in done.stderr


def test_a_run_into_a_closed_pipe_writes_every_row_and_exits_0(tmp_path):
    done = run_into_closed_pipe("run", str(SUITE), "--offline", "--route", "base", "--out", str(tmp_path / "r"),
                                "--no-progress")
    assert done.returncode == 0 and "Error" not in done.stderr
    assert len((tmp_path / "r" / "results.jsonl").read_text().splitlines()) == 46
