"""`evalkit view` serves the runs on 127.0.0.1 over real HTTP, read-only."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import urllib.error
import urllib.request

import pytest

from view_runs import HOSTILE, HOSTILE_CASE, HOSTILE_ROUTE, example_run, make_hostile

pytest.importorskip("starlette", reason="evalkit view needs the 'view' extra (starlette, uvicorn)")
pytest.importorskip("uvicorn", reason="evalkit view needs the 'view' extra (starlette, uvicorn)")

from evalkit.view.app import Background


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    reports = tmp_path_factory.mktemp("served") / "reports"
    run_dir = example_run(reports / "support_triage" / "run", limit=6)
    make_hostile(run_dir)
    with Background([reports]) as server:
        yield server, run_dir


def get(url: str):
    with urllib.request.urlopen(url) as response:
        return response.status, response.headers, response.read().decode("utf-8")


def get_json(url: str):
    return json.loads(get(url)[2])


def test_it_listens_on_the_loopback_address_only(served):
    server, _ = served
    assert server.sock.getsockname()[0] == "127.0.0.1" and server.url.startswith("http://127.0.0.1:")


def test_the_page_and_its_script_are_served(served):
    server, _ = served
    status, headers, html = get(server.url)
    assert status == 200 and '<script src="view.js"></script>' in html and "evalkit-data" not in html
    assert "script-src 'self'" in headers["Content-Security-Policy"]
    status, headers, script = get(server.url + "view.js")
    assert status == 200 and headers["Content-Type"].startswith("text/javascript") and "textContent" in script


def test_the_api_walks_runs_grid_and_case(served):
    server, run_dir = served
    runs = get_json(server.url + "api/runs")["runs"]
    assert [run["dir"] for run in runs] == [str(run_dir)]
    run_id = runs[0]["id"]
    grid = get_json(f"{server.url}api/runs/{run_id}")
    assert [case["id"] for case in grid["cases"]] == [f"st-h-00{i}" for i in range(1, 7)]
    case = get_json(f"{server.url}api/runs/{run_id}/cases/{HOSTILE_CASE}")
    answer = next(r for r in case["routes"] if r["name"] == HOSTILE_ROUTE)["answers"][0]
    assert answer["output"] == HOSTILE and answer["request"]["messages"][-1]["role"] == "user"


def test_unknown_runs_and_cases_are_404(served):
    server, _ = served
    run_id = get_json(server.url + "api/runs")["runs"][0]["id"]
    for path in ("api/runs/nope", f"api/runs/{run_id}/cases/nope", "api/diff/nope/nope", "nope.js"):
        with pytest.raises(urllib.error.HTTPError) as error:
            get(server.url + path)
        assert error.value.code == 404, path


def test_nothing_but_reading_is_allowed(served):
    server, _ = served
    request = urllib.request.Request(server.url + "api/runs", data=b"{}", method="POST")
    with pytest.raises(urllib.error.HTTPError) as error:
        urllib.request.urlopen(request)
    assert error.value.code == 405


def test_a_run_written_while_serving_appears(served):
    server, run_dir = served
    before = len(get_json(server.url + "api/runs")["runs"])
    example_run(run_dir.parent / "later", limit=1)
    assert len(get_json(server.url + "api/runs")["runs"]) == before + 1


def test_the_command_prints_its_address_and_serves_until_stopped(served, tmp_path):
    _, run_dir = served
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    process = subprocess.Popen([sys.executable, "-m", "evalkit", "view", str(run_dir)], stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, text=True, env=env)
    try:
        line = process.stdout.readline()
        assert line.startswith("evalkit view: 1 run(s) at http://127.0.0.1:"), line + process.stderr.read()
        url = line.split(" at ", 1)[1].split(" ", 1)[0]
        assert get_json(url + "api/runs")["runs"][0]["dir"] == str(run_dir)
    finally:
        process.terminate()
        process.communicate(timeout=30)


def test_a_taken_port_is_bad_input(served, capsys):
    from evalkit.cli import main

    server, run_dir = served
    assert main(["view", str(run_dir), "--port", str(server.sock.getsockname()[1])]) == 2
    assert "cannot listen on 127.0.0.1" in capsys.readouterr().err


def test_the_version_does_not_load_the_web_server():
    code = (
        "import sys; from evalkit.cli import build_parser; build_parser(); "
        "print(any(m.split('.')[0] in ('starlette', 'uvicorn', 'evalkit.view') for m in sys.modules) "
        "or 'evalkit.view' in sys.modules)"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "False"
