"""The CI recipe: record live once (here against the local stub), commit the recording, replay
and gate in CI. The workflow's own commands run as written, in this checkout and in a scratch
repository outside it with evalkit installed from a git URL, as another team would."""

from __future__ import annotations

import os
import re
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from conftest import REPO
from evalkit.cli import main
from evalkit.suite import load_suite
from evalkit.testing.stub_server import StubServer
from stub_helpers import OPENAI_KEY, tuned_better_responder

SUITE = REPO / "evals" / "support_triage.yaml"
WORKFLOW = REPO / "examples" / "github-actions" / "evalkit-gate.yml"


def workflow() -> dict:
    return yaml.safe_load(WORKFLOW.read_text(encoding="utf-8"))


def workflow_commands(flow: dict) -> list[str]:
    """The `evalkit ...` command lines of the workflow's steps, continuation lines joined."""
    commands = []
    for step in flow["jobs"]["gate"]["steps"]:
        script = (step.get("run") or "").replace("\\\n", " ")
        commands += [line.strip() for line in script.splitlines() if line.strip().startswith("evalkit ")]
    return commands


def replay_gate_and_packet(flow: dict) -> list[str]:
    commands = [c for c in workflow_commands(flow) if "--replay" in c or not c.startswith("evalkit run")]
    assert [shlex.split(c)[1] for c in commands] == ["run", "gate", "packet", "view"]
    return commands


def substituted(command: str, env: dict[str, str]) -> str:
    for name, value in env.items():
        command = command.replace(f'"${name}"', shlex.quote(value)).replace(f"${name}", shlex.quote(value))
    return command


def record_live(suite: Path, folder: Path, recording: Path) -> None:
    """Run `suite` live against the stub (through OPENAI_BASE_URL) and record it."""
    with StubServer() as stub, pytest.MonkeyPatch.context() as env:
        stub.responder = tuned_better_responder(load_suite(suite))
        env.setenv("OPENAI_API_KEY", OPENAI_KEY)
        env.setenv("OPENAI_BASE_URL", stub.base_url_openai)
        env.setenv("EVALKIT_CACHE_DIR", str(folder / "cache"))
        assert main(["run", str(suite), "--out", str(folder / "live"), "--no-progress"]) == 0
    assert main(["record", str(folder / "live"), "--out", str(recording)]) == 0


@pytest.fixture(scope="module")
def recording(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("recorded")
    record_live(SUITE, folder, folder / "support_triage.jsonl")
    return folder / "support_triage.jsonl"


def test_the_workflow_installs_a_pinned_evalkit_from_a_git_url_with_a_placeholder():
    install = next(s for s in workflow()["jobs"]["gate"]["steps"] if s.get("name") == "Install evalkit")
    assert install["run"] == 'pip install "evalkit-harness @ git+https://github.com/OWNER/evalkit@vX.Y.Z"'
    assert "Replace OWNER/evalkit" in WORKFLOW.read_text()


def test_the_workflows_replay_gate_and_packet_steps_approve_a_live_recording(recording, tmp_path, monkeypatch):
    flow = workflow()
    env = {**flow["env"], "SUITE": str(SUITE), "RECORDING": str(recording), "RUN_DIR": str(tmp_path / "run")}
    monkeypatch.chdir(tmp_path)
    for command in replay_gate_and_packet(flow):
        assert main(shlex.split(substituted(command, env))[1:]) == 0, command
    assert (tmp_path / "reports" / "ci" / "gate.xml").exists() and (
        tmp_path / "reports" / "ci" / "packet" / "packet.html"
    ).exists()
    assert (tmp_path / "reports" / "ci" / "view" / "index.html").exists()
    assert "answers are recorded" in (tmp_path / "reports" / "ci" / "gate.md").read_text()


def test_the_shipped_stand_in_recording_does_not_pass_the_workflows_gate(tmp_path, monkeypatch, capsys):
    flow = workflow()
    env = {**flow["env"], "SUITE": str(SUITE), "RECORDING": str(REPO / flow["env"]["RECORDING"]),
           "RUN_DIR": str(tmp_path / "run")}
    monkeypatch.chdir(tmp_path)
    run, gate, _, _ = replay_gate_and_packet(flow)
    assert main(shlex.split(substituted(run, env))[1:]) == 0
    assert main(shlex.split(substituted(gate, env))[1:]) == 1
    assert "NOT EVIDENCE" in capsys.readouterr().out


def test_the_policy_printed_in_docs_ci_works_with_policy_as_printed(recording, tmp_path, capsys):
    text = (REPO / "docs" / "ci.md").read_text(encoding="utf-8")
    section = text.split("## 2. Write the policy", 1)[1]
    block = re.search(r"```yaml\n(.*?)```", section, re.S).group(1)
    (tmp_path / "policy.yaml").write_text(block, encoding="utf-8")
    assert main(["run", str(SUITE), "--replay", str(recording), "--out", str(tmp_path / "run"), "--no-progress"]) == 0
    code = main(["gate", str(tmp_path / "run"), "--policy", str(tmp_path / "policy.yaml")])
    assert code in (0, 1) and "verdict:" in capsys.readouterr().out


def test_offline_and_replay_together_are_bad_input(tmp_path, capsys):
    code = main(
        [
            "run",
            str(SUITE),
            "--offline",
            "--replay",
            str(REPO / "evals" / "recordings" / "support_triage.jsonl"),
            "--out",
            str(tmp_path / "r"),
        ]
    )
    assert code == 2 and "choose one" in capsys.readouterr().err


# -- the recipe in another team's repository --

def git(folder: Path, *args: str) -> str:
    done = subprocess.run(["git", "-C", str(folder), *args], capture_output=True, text=True, check=True,
                          env={**os.environ, "GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@example.com",
                               "GIT_COMMITTER_NAME": "t", "GIT_COMMITTER_EMAIL": "t@example.com"})
    return done.stdout.strip()


def install_evalkit_from_git(venv: Path, url: str) -> Path:
    """A venv that sees this test environment's packages (through a .pth file), with evalkit
    installed into it from `url` with pip, as the workflow installs it; its `evalkit` command."""
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True)
    site = next((venv / "lib").glob("python3*/site-packages"))
    here = [p for p in sys.path if p.endswith("site-packages") and Path(p).is_dir()]
    (site / "test_environment.pth").write_text("\n".join(here) + "\n")
    subprocess.run([sys.executable, "-m", "pip", "--python", str(venv / "bin" / "python"), "install", "-q",
                    "--no-deps", f"evalkit-harness @ {url}"], check=True, capture_output=True)
    return venv / "bin" / "evalkit"


@pytest.mark.slow
def test_the_recipe_runs_in_a_scratch_repository_with_evalkit_installed_from_git(tmp_path):
    if shutil.which("git") is None or not (REPO / ".git").exists():
        pytest.skip("needs git and a git checkout of evalkit to install from")
    if subprocess.run(["git", "-C", str(REPO), "status", "--porcelain", "--", "src", "pyproject.toml"],
                      capture_output=True, text=True).stdout.strip():
        pytest.skip("src/ has uncommitted changes: the git URL would install the last commit, not this code")
    commit = git(REPO, "rev-parse", "HEAD")
    evalkit = install_evalkit_from_git(tmp_path / "venv", f"git+file://{REPO}@{commit}")
    located = subprocess.run(
        [str(tmp_path / "venv" / "bin" / "python"), "-c", "import evalkit; print(evalkit.__file__)"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert str(tmp_path / "venv") in located

    team = tmp_path / "team"
    shutil.copytree(REPO / "evals", team / "evals", ignore=shutil.ignore_patterns("recordings"))
    shutil.copytree(REPO / "datasets" / "support_triage", team / "datasets" / "support_triage")
    (team / ".github" / "workflows").mkdir(parents=True)
    shutil.copy(WORKFLOW, team / ".github" / "workflows" / "evalkit-gate.yml")
    flow = yaml.safe_load((team / ".github" / "workflows" / "evalkit-gate.yml").read_text())
    git(team, "init", "-q")  # the suite reads ../datasets: inside the repository's work tree
    record_live(team / flow["env"]["SUITE"], tmp_path / "live", team / flow["env"]["RECORDING"])
    git(team, "add", "-A")
    git(team, "commit", "-qm", "suite and recording")

    env = {**os.environ, **flow["env"], "PATH": f"{evalkit.parent}{os.pathsep}{os.environ['PATH']}"}
    env.pop("OPENAI_API_KEY", None)
    env.pop("OPENAI_BASE_URL", None)

    def ci() -> list[subprocess.CompletedProcess]:
        shutil.rmtree(team / "reports", ignore_errors=True)
        return [subprocess.run(["bash", "-c", command], cwd=team, env=env, capture_output=True, text=True)
                for command in replay_gate_and_packet(flow)]

    replayed, gated, packet, view = ci()
    assert (replayed.returncode, gated.returncode, packet.returncode, view.returncode) == (0, 0, 0, 0), (
        gated.stdout + gated.stderr
    )
    assert "tuned answers are recorded" in gated.stdout

    suite = team / flow["env"]["SUITE"]
    suite.write_text(suite.read_text().replace("You triage support tickets for Northwind Cloud.",
                                               "You triage support tickets.", 1))
    git(team, "commit", "-qam", "a new prompt, not recorded again")
    replayed, gated, _, _ = ci()
    assert replayed.returncode == 0 and gated.returncode == 1
    assert "evidence.baseline" in gated.stdout and "base is stale (system changed)" in gated.stdout
