"""The gate decides only on evidence: a live run against the local stub, its recording replayed
for the unchanged suite (approve, `recorded` everywhere), and the same recording after a prompt
or model change, the shipped stand-in recording and an --offline run (not approved, and why)."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
import yaml

from conftest import REPO
from evalkit.cli import main
from evalkit.suite import load_suite
from evalkit.testing.stub_server import StubServer
from stub_helpers import OPENAI_KEY, tuned_better_responder

EXAMPLE = REPO / "evals" / "support_triage.yaml"
SHIPPED = REPO / "evals" / "recordings" / "support_triage.jsonl"
GATE = ["--route", "tuned", "--baseline", "base"]


def suite_copy(folder: Path, change=None) -> Path:
    """The example suite in `folder` (paths made absolute), optionally changed by `change(data)`."""
    data = yaml.safe_load(EXAMPLE.read_text(encoding="utf-8"))
    for key in ("cases", "corpus"):
        data[key] = str((EXAMPLE.parent / data[key]).resolve())
    data["task"]["output_schema"] = str((EXAMPLE.parent / data["task"]["output_schema"]).resolve())
    data["allow_outside_paths"] = True  # the copy reads the repository's dataset
    if change is not None:
        change(data)
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "support_triage.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False), encoding="utf-8")
    return path


@pytest.fixture(autouse=True)
def _keys(monkeypatch, tmp_path):
    monkeypatch.setenv("OPENAI_API_KEY", OPENAI_KEY)
    monkeypatch.setenv("EVALKIT_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.delenv("OPENAI_BASE_URL", raising=False)


@pytest.fixture(scope="module")
def live(tmp_path_factory):
    """The unchanged example suite run live against the stub (reached through OPENAI_BASE_URL,
    which is not part of the fingerprint), its recording, and what the stub received."""
    folder = tmp_path_factory.mktemp("live")
    suite = suite_copy(folder / "suite")
    with StubServer() as stub, pytest.MonkeyPatch.context() as env:
        stub.responder = tuned_better_responder(load_suite(suite))
        env.setenv("OPENAI_API_KEY", OPENAI_KEY)
        env.setenv("OPENAI_BASE_URL", stub.base_url_openai)
        env.setenv("EVALKIT_CACHE_DIR", str(folder / "cache"))
        assert main(["run", str(suite), "--out", str(folder / "run"), "--no-progress"]) == 0
        received = [r["json"] for r in stub.requests if r["path"] == "/v1/chat/completions"]
        assert main(["render", str(suite), "--json"]) == 0
        endpoint = stub.base_url_openai
    assert main(["record", str(folder / "run"), "--out", str(folder / "recording.jsonl")]) == 0
    return {"suite": suite, "run": folder / "run", "recording": folder / "recording.jsonl", "received": received,
            "endpoint": endpoint, "folder": folder}


def replay(suite: Path, recording: Path, out: Path) -> int:
    return main(["run", str(suite), "--replay", str(recording), "--out", str(out), "--no-progress"])


def test_a_live_run_records_live_answers_their_fingerprints_and_the_endpoint(live):
    manifest = json.loads((live["run"] / "manifest.json").read_text())
    assert {r["provenance"] for r in manifest["routes"].values()} == {"live"}
    assert {r["endpoint"] for r in manifest["routes"].values()} == {live["endpoint"]}
    lines = [json.loads(line) for line in live["recording"].read_text().splitlines()]
    assert len(lines) == 184 and all(
        len(line["request_sha256"]) == 64 and line["provenance"] == "live" for line in lines
    )


def test_requests_jsonl_keeps_what_was_sent_and_no_key(live):
    requests = [json.loads(line) for line in (live["run"] / "requests.jsonl").read_text().splitlines()]
    sent = sorted(json.dumps(body["messages"], sort_keys=True) for body in live["received"])
    assert sorted(json.dumps(r["messages"], sort_keys=True) for r in requests) == sent
    assert OPENAI_KEY not in (live["run"] / "requests.jsonl").read_text()


def test_render_prints_exactly_the_messages_the_stub_received(live, tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("OPENAI_BASE_URL", live["endpoint"])
    capsys.readouterr()
    assert main(["render", str(live["suite"]), "--json"]) == 0
    rendered = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert sorted(json.dumps(r["messages"], sort_keys=True) for r in rendered) == \
        sorted(json.dumps(body["messages"], sort_keys=True) for body in live["received"])
    rows = [json.loads(line) for line in (live["run"] / "results.jsonl").read_text().splitlines()]
    assert {(r["route"], r["case_id"], r["request_sha256"]) for r in rendered} == \
        {(r["route"], r["case_id"], r["request_sha256"]) for r in rows}


def test_render_of_one_route_and_case_prints_its_system_prompt(live, capsys):
    assert main(["render", str(live["suite"]), "--route", "tuned", "--case", "st-h-001"]) == 0
    out = capsys.readouterr().out
    assert out.count("=== tuned · st-h-001") == 1 and "You triage support tickets for Northwind Cloud." in out


@pytest.fixture(scope="module")
def replayed(live, tmp_path_factory):
    out = tmp_path_factory.mktemp("replayed") / "run"
    assert replay(live["suite"], live["recording"], out) == 0
    return out


def test_replaying_the_live_recording_for_the_unchanged_suite_approves(replayed, live, tmp_path, capsys):
    code = main(
        ["gate", str(replayed), *GATE, "--junit", str(tmp_path / "gate.xml"), "--summary", str(tmp_path / "gate.md")]
    )
    out = capsys.readouterr().out
    assert code == 0 and "verdict: APPROVE" in out, out
    assert f"candidate: tuned answers are recorded via {live['endpoint']}" in out
    assert "baseline: base answers are recorded" in out
    assert "NOT EVIDENCE" not in out and "NOT EVIDENCE" not in (tmp_path / "gate.md").read_text()
    assert "tuned answers are recorded" in (tmp_path / "gate.md").read_text()
    properties = {p.get("name"): p.get("value") for p in ET.parse(tmp_path / "gate.xml").iter("property")}
    assert properties["provenance.candidate"] == f"recorded via {live['endpoint']}"
    assert properties["evidence"].startswith("verified")


def test_a_replayed_run_says_recorded_in_its_manifest_summary_report_and_json_verdict(replayed, capsys):
    manifest = json.loads((replayed / "manifest.json").read_text())
    summary = json.loads((replayed / "summary.json").read_text())
    assert {r["provenance"] for r in manifest["routes"].values()} == {"recorded"}
    assert {s["provenance"]["provenance"] for s in summary["routes"].values()} == {"recorded"}
    assert (
        "| tuned | finetuned |" in (replayed / "report.md").read_text()
        and "recorded" in (replayed / "report.md").read_text()
    )
    assert main(["gate", str(replayed), *GATE, "--json"]) == 0
    verdict = json.loads(capsys.readouterr().out)
    assert verdict["evidence"]["verified"] is True
    assert {role: info["provenance"] for role, info in verdict["evidence"]["routes"].items()} == \
        {"candidate": "recorded", "baseline": "recorded"}


def test_the_packet_of_a_verified_replay_is_not_a_demonstration(replayed, tmp_path):
    assert (
        main(["packet", str(replayed), "--baseline", "base", "--candidate", "tuned", "--out", str(tmp_path / "p")]) == 0
    )
    packet = json.loads((tmp_path / "p" / "packet.json").read_text())
    assert packet["evidence"]["verified"] is True and packet["verdict"]["status"] == "approve"
    html = (tmp_path / "p" / "packet.html").read_text()
    assert "NOT EVIDENCE" not in html and "tuned recorded" in html


def test_a_verified_recording_is_priced_at_the_configured_models_price(replayed, live):
    live_costs = {
        (r["route"], r["case_id"]): r["cost_usd"] for r in map(json.loads, (live["run"] / "results.jsonl").open())
    }
    rows = [json.loads(line) for line in (replayed / "results.jsonl").read_text().splitlines()]
    assert all(r["cost_usd"] is not None and r["cost_usd"] == pytest.approx(live_costs[(r["route"], r["case_id"])])
               for r in rows)


def test_changing_one_routes_prompt_makes_it_stale_and_the_gate_names_it(live, tmp_path, capsys):
    def new_prompt(data):
        data["routes"]["tuned"]["system"] = "You are a pirate."

    suite = suite_copy(tmp_path / "changed", new_prompt)
    assert replay(suite, live["recording"], tmp_path / "run") == 0
    capsys.readouterr()
    assert main(["gate", str(tmp_path / "run"), *GATE]) == 1
    out = capsys.readouterr().out
    assert "evidence.candidate" in out and "tuned is stale (system changed)" in out
    assert "baseline: base answers are recorded" in out


def test_the_shipped_stand_in_recording_replayed_for_a_changed_suite_names_the_stale_routes(tmp_path, capsys):
    text = EXAMPLE.read_text(encoding="utf-8").replace("triage01", "triage02-NEW").replace(
        "You triage support tickets for Northwind Cloud.", "You are a pirate.")
    changed = EXAMPLE.parent / f".changed-{tmp_path.name}.yaml"  # beside the original: its paths resolve
    changed.write_text(text, encoding="utf-8")
    try:
        assert replay(changed, SHIPPED, tmp_path / "stale-run") == 0
    finally:
        changed.unlink()
    capsys.readouterr()
    assert main(["gate", str(tmp_path / "stale-run"), *GATE]) == 1
    out = capsys.readouterr().out
    assert "tuned is stale (model, system changed)" in out and "base is stale (system changed)" in out


def test_the_shipped_recording_for_the_unchanged_suite_is_a_stand_in_and_never_evidence(tmp_path, capsys):
    assert replay(EXAMPLE, SHIPPED, tmp_path / "run") == 0
    capsys.readouterr()
    assert main(["gate", str(tmp_path / "run"), *GATE]) == 1
    assert "tuned is stand-in" in capsys.readouterr().out


@pytest.fixture(scope="module")
def offline(tmp_path_factory):
    out = tmp_path_factory.mktemp("offline") / "run"
    assert main(["run", str(EXAMPLE), "--offline", "--out", str(out), "--no-progress"]) == 0
    return out


def test_an_offline_run_is_not_approved_and_the_gate_says_the_routes_are_stand_ins(offline, capsys):
    assert main(["gate", str(offline), *GATE]) == 1
    out = capsys.readouterr().out
    assert "evidence.candidate" in out and "tuned is stand-in" in out and "without --offline" in out


def test_allow_unverified_evaluates_the_policy_and_still_says_not_evidence(offline, tmp_path, capsys):
    code = main(["gate", str(offline), *GATE, "--allow-unverified", "--summary", str(tmp_path / "gate.md"),
                 "--junit", str(tmp_path / "gate.xml")])
    out = capsys.readouterr().out
    assert code == 0 and "NOT EVIDENCE" in out.splitlines()[-1]
    assert "NOT EVIDENCE" in (tmp_path / "gate.md").read_text()
    assert next(ET.parse(tmp_path / "gate.xml").iter("skipped")).get("message").startswith("NOT EVIDENCE")
    assert main(["gate", str(offline), *GATE, "--allow-unverified", "--json"]) == 0
    verdict = json.loads(capsys.readouterr().out)
    assert verdict["evidence"]["verified"] is False and verdict["evidence"]["notice"].startswith("NOT EVIDENCE")


def test_the_run_summary_warns_that_stand_in_answers_are_not_evidence(offline, capsys):
    from evalkit.report.markdown import render_report
    from evalkit.store import load_run

    run = load_run(offline)
    assert "**Not evidence about the configured models:** base, prompted, rag, tuned" in render_report(run)


# -- bad input --

LFS = "version https://git-lfs.github.com/spec/v1\noid sha256:4d7a2146\nsize 12345\n"


def test_a_git_lfs_pointer_as_recording_is_bad_input_naming_the_file(tmp_path, capsys):
    pointer = tmp_path / "recording.jsonl"
    pointer.write_text(LFS)
    assert replay(EXAMPLE, pointer, tmp_path / "run") == 2
    assert f"{pointer}: this is a Git LFS pointer, not the recording: run git lfs pull" in capsys.readouterr().err
    assert not (tmp_path / "run" / "results.jsonl").exists()


def test_a_git_lfs_pointer_as_case_file_is_bad_input_naming_the_file(tmp_path, capsys):
    (tmp_path / "cases.jsonl").write_text(LFS)
    suite = suite_copy(tmp_path, lambda data: data.update(cases=str(tmp_path / "cases.jsonl")))
    assert main(["run", str(suite), "--offline", "--out", str(tmp_path / "run")]) == 2
    assert "cases.jsonl: this is a Git LFS pointer, not the case file: run git lfs pull" in capsys.readouterr().err


def test_a_recording_that_answers_none_of_the_cases_is_bad_input_before_any_call(tmp_path, capsys):
    other = tmp_path / "other.jsonl"
    other.write_text(json.dumps({"case_id": "x-1", "output": "{}"}) + "\n")
    assert replay(EXAMPLE, other, tmp_path / "run") == 2
    assert f"{other}: the recording answers none of the suite's 46 cases" in capsys.readouterr().err
    assert not (tmp_path / "run" / "results.jsonl").exists()
