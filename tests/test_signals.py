"""SIGINT, SIGTERM and SIGHUP, once or repeatedly: no new call starts once the signal arrives,
the run exits 3 with the resume command, and its manifest says "interrupted"."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

import evalkit.runner
from evalkit.cli import main
from evalkit.providers.mock import script
from evalkit.runner import RunOptions, run_suite
from evalkit.testing.stub_server import StubServer
from stub_helpers import gold, isolate, openai_route, write_suite


def signalling_route(calls: list, sig: int) -> dict:
    def answer(request):
        calls.append(request.case_id)
        if len(calls) == 1:
            os.kill(os.getpid(), sig)
        return json.dumps({"label": request.case.expected})

    script(f"signal_{sig}", answer)
    return {"base": {"kind": "base", "model": f"mock:signal_{sig}"}}


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_no_call_starts_once_the_signal_has_arrived(make_suite, tmp_path, sig):
    calls: list = []
    suite = make_suite(routes=signalling_route(calls, sig))
    result = run_suite(suite, RunOptions(out=tmp_path / "run", concurrency=4, repeats=3, progress=False))
    assert calls == calls[:1] and not result.complete
    assert json.loads((tmp_path / "run" / "manifest.json").read_text())["status"] == "interrupted"


def test_a_second_ctrl_c_while_the_run_winds_up_still_exits_3_with_the_resume_command(
    make_suite, tmp_path, monkeypatch, capsys
):
    calls: list = []
    suite = make_suite(routes=signalling_route(calls, signal.SIGINT))
    finish = evalkit.runner.finish_run

    def interrupted_again(*args, **kwargs):
        os.kill(os.getpid(), signal.SIGINT)
        os.kill(os.getpid(), signal.SIGINT)
        return finish(*args, **kwargs)

    monkeypatch.setattr(evalkit.runner, "finish_run", interrupted_again)
    code = main(["run", str(suite), "--out", str(tmp_path / "run"), "--no-progress"])
    assert code == 3 and f"--resume {tmp_path / 'run'}" in capsys.readouterr().err
    assert json.loads((tmp_path / "run" / "manifest.json").read_text())["status"] == "interrupted"


def test_the_signal_handlers_are_given_back_after_the_run(make_suite, tmp_path):
    before = {sig: signal.getsignal(sig) for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)}
    run_suite(make_suite(), RunOptions(out=tmp_path / "run", progress=False))
    assert {sig: signal.getsignal(sig) for sig in before} == before


def test_sighup_exits_3_with_the_resume_command_and_an_interrupted_manifest(tmp_path, monkeypatch):
    isolate(monkeypatch, tmp_path)
    with StubServer(lambda kind, body: gold(body), latency_ms=150) as stub:
        suite = write_suite(tmp_path, {"base": openai_route(stub)}, n=24)
        out = tmp_path / "run"
        process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "evalkit",
                "run",
                str(suite),
                "--out",
                str(out),
                "--no-progress",
                "--cache",
                "off",
                "--concurrency",
                "2",
            ],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=dict(os.environ),
        )
        _wait_for_a_row(out / "results.jsonl", process)
        process.send_signal(signal.SIGHUP)
        _, stderr = process.communicate(timeout=60)
    assert process.returncode == 3 and f"--resume {out}" in stderr
    assert json.loads((out / "manifest.json").read_text())["status"] == "interrupted"


def _wait_for_a_row(results: Path, process: subprocess.Popen) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if results.exists() and results.read_bytes().count(b"\n"):
            return
        if process.poll() is not None:
            pytest.fail(f"the run ended before its first row: {process.communicate()}")
        time.sleep(0.01)
    process.kill()
    pytest.fail("no row within a minute")
