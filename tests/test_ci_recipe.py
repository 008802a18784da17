"""The CI recipe works with no key: replay the shipped recording, then gate it."""

from __future__ import annotations

import json

import pytest

from evalkit.cli import main
from conftest import REPO

SUITE = REPO / "evals" / "support_triage.yaml"
RECORDING = REPO / "evals" / "recordings" / "support_triage.jsonl"


@pytest.fixture(scope="module")
def replayed(tmp_path_factory):
    out = tmp_path_factory.mktemp("ci") / "run"
    code = main(["run", str(SUITE), "--replay", str(RECORDING), "--out", str(out), "--no-progress"])
    return code, out


def test_replay_answers_every_route_from_the_recording(replayed):
    code, out = replayed
    manifest = json.loads((out / "manifest.json").read_text())
    assert code == 0
    assert all(route["ran_as"].startswith("replay:") for route in manifest["routes"].values())
    summary = json.loads((out / "summary.json").read_text())["routes"]
    assert all(route["n"] == 46 and route["errors"] == 0 for route in summary.values())


def test_replayed_outputs_score_as_the_recording_says(replayed):
    _, out = replayed
    recorded = {(r["route"], r["case_id"]): r["output"] for r in map(json.loads, RECORDING.read_text().splitlines())}
    rows = [json.loads(line) for line in (out / "results.jsonl").read_text().splitlines()]
    assert all(row["output"] == recorded[(row["route"], row["case_id"])] for row in rows)


def test_gate_on_the_replayed_run_writes_junit_and_approves(replayed, tmp_path):
    _, out = replayed
    code = main(["gate", str(out), "--route", "tuned", "--baseline", "base", "--junit", str(tmp_path / "gate.xml")])
    assert code == 0 and (tmp_path / "gate.xml").exists()


def test_offline_and_replay_together_are_bad_input(tmp_path, capsys):
    code = main(["run", str(SUITE), "--offline", "--replay", str(RECORDING), "--out", str(tmp_path / "r")])
    assert code == 2 and "choose one" in capsys.readouterr().err


def workflow_commands(workflow: dict) -> list[str]:
    """The `evalkit ...` command lines of the workflow's steps, continuation lines joined."""
    commands = []
    for step in workflow["jobs"]["gate"]["steps"]:
        script = (step.get("run") or "").replace("\\\n", " ")
        commands += [line.strip() for line in script.splitlines() if line.strip().startswith("evalkit ")]
    return commands


def test_the_example_workflow_runs_its_replay_gate_and_packet_steps_as_written(tmp_path, monkeypatch):
    import shlex

    import yaml

    workflow = yaml.safe_load((REPO / "examples" / "github-actions" / "evalkit-gate.yml").read_text(encoding="utf-8"))
    env = {**workflow["env"], "SUITE": str(SUITE), "RECORDING": str(RECORDING), "RUN_DIR": str(tmp_path / "run")}
    monkeypatch.chdir(tmp_path)
    commands = [c for c in workflow_commands(workflow) if "--replay" in c or not c.startswith("evalkit run")]
    assert [shlex.split(c)[1] for c in commands] == ["run", "gate", "packet"]
    for command in commands:
        for name, value in env.items():
            command = command.replace(f'"${name}"', shlex.quote(value)).replace(f"${name}", shlex.quote(value))
        assert main(shlex.split(command)[1:]) == 0, command
    assert (tmp_path / "reports" / "ci" / "gate.xml").exists() and (tmp_path / "reports" / "ci" / "packet" / "packet.html").exists()
