"""evalkit packet: packet.json holds the figures of summary.json, compare and gate, unchanged."""

from __future__ import annotations

import json

import pytest

from evalkit.cli import main
from packet_runs import BASE, CASES, GATE, TUNED, build_run

PRICES = {f"replay:{route}.jsonl": {"input": 2.0, "output": 8.0} for route in ("base", "prompted", "tuned")}


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory):
    return build_run(tmp_path_factory.mktemp("gated"), gate=GATE, pricing=PRICES, owner="ml-team@example.com (Ada)")


@pytest.fixture(scope="module")
def packet_dir(run_dir, tmp_path_factory):
    out = tmp_path_factory.mktemp("packet")
    assert main(["packet", str(run_dir), "--baseline", "base", "--candidate", "tuned", "--monthly-volume", "50000",
                 "--out", str(out)]) == 0
    return out


@pytest.fixture(scope="module")
def packet(packet_dir):
    return json.loads((packet_dir / "packet.json").read_text())


def printed_json(capsys, argv: list[str]):
    capsys.readouterr()
    main(argv)
    return json.loads(capsys.readouterr().out)


def test_packet_writes_html_markdown_and_json(packet_dir):
    assert {p.name for p in packet_dir.iterdir()} == {"packet.html", "packet.md", "packet.json"}


def test_every_route_summary_equals_summary_json(run_dir, packet):
    summary = json.loads((run_dir / "summary.json").read_text())["routes"]
    assert [r["name"] for r in packet["routes"]] == ["base", "prompted", "tuned"]
    for route in packet["routes"]:
        assert route["summary"] == summary[route["route"]]


def test_comparison_equals_compare_json(run_dir, packet, capsys):
    printed = printed_json(capsys, ["compare", f"{run_dir}:base", f"{run_dir}:tuned", "--json"])
    assert packet["comparison"] == printed


def test_each_other_route_is_compared_with_the_baseline_and_the_candidate(run_dir, packet, capsys):
    assert packet["layers"]["prompted"] == printed_json(
        capsys, ["compare", f"{run_dir}:base", f"{run_dir}:prompted", "--json"]
    )
    assert packet["versus_candidate"]["prompted"] == printed_json(
        capsys, ["compare", f"{run_dir}:prompted", f"{run_dir}:tuned", "--json"]
    )


def test_verdict_checks_equal_gate_json(run_dir, packet, capsys):
    gate = printed_json(capsys, ["gate", str(run_dir), "--json"])
    assert packet["verdict"]["checks"] == gate["checks"]
    assert packet["verdict"]["status"] == gate["decision"] == "reject"
    assert packet["verdict"]["exit_code"] == gate["exit_code"] == 1


def test_fixed_and_broken_cases_are_the_comparisons_flips_with_every_routes_output(packet):
    flips = packet["comparison"]["flips"]
    assert [c["id"] for c in packet["cases"]] == flips["fixed"] + flips["broken"] == ["c01", "c02", "c03", "c04", "c06"]
    c03 = next(c for c in packet["cases"] if c["id"] == "c03")
    assert c03["change"] == "fixed" and c03["input"] == {"subject": "ticket 3", "body": "body of ticket 3"}
    assert {o["route"]: o["output"] for o in c03["outputs"]} == {
        "base": "I cannot tell",
        "prompted": "cancellation",
        "tuned": "billing_dispute",
    }


def test_tag_failures_take_accuracy_from_summary_and_flips_from_compare(packet):
    by_tag = {t["tag"]: t for t in packet["failures"]["by_tag"]}
    assert by_tag["adjacent-labels"]["routes"]["base"] == packet["routes"][0]["summary"]["by_tag"]["adjacent-labels"]
    assert by_tag["adjacent-labels"]["flips_vs_baseline"]["tuned"] == {
        key: packet["comparison"]["by_tag"]["adjacent-labels"][key] for key in ("fixed", "broken")}
    assert by_tag["adjacent-labels"]["flips_vs_baseline"]["prompted"] == {"fixed": 1, "broken": 1}


def test_monthly_cost_projects_cost_per_1k_at_the_given_volume(packet):
    for entry, route in zip(packet["cost"]["routes"], packet["routes"]):
        assert entry["per_1k"] == route["summary"]["cost_usd"]["per_1k"]
        assert entry["monthly_usd"] == pytest.approx(entry["per_1k"] * 50)


def test_prompt_token_saving_comes_from_compare(packet):
    tokens = {t["name"]: t for t in packet["cost"]["prompt_tokens"]}
    assert tokens["prompted"]["candidate_vs_this"] == packet["versus_candidate"]["prompted"]["tokens"]["input_mean"]
    assert tokens["prompted"]["candidate_vs_this"]["delta"] == -840


def test_owner_and_provenance_come_from_the_suite_and_manifest(run_dir, packet):
    manifest = json.loads((run_dir / "manifest.json").read_text())
    assert packet["ownership"]["owner"] == "ml-team@example.com (Ada)"
    (run,) = packet["provenance"]["runs"]
    assert run["suite_sha256"] == manifest["suite"]["sha256"] and run["cases_sha256"] == manifest["cases_sha256"]
    assert run["git_commit"] == manifest["git"]["commit"] and run["started_at"] == manifest["started_at"]
    assert run["evalkit_version"] == manifest["evalkit_version"]


def test_html_refers_to_nothing_outside_itself(packet_dir):
    html = (packet_dir / "packet.html").read_text()
    for needle in ("http://", "https://", "<script", "<link", "@import", "src="):
        assert needle not in html
    assert html.count("<svg") == 4  # headline, two confusion matrices, tags


def test_html_and_markdown_show_the_reject_verdict_with_its_reasons(packet_dir, packet):
    html, md = (packet_dir / "packet.html").read_text(), (packet_dir / "packet.md").read_text()
    failed = [c for c in packet["verdict"]["checks"] if not c["passed"]]
    assert failed and 'data-verdict="reject"' in html and "## 1. Verdict: REJECT" in md
    assert all(c["reason"] in html for c in failed)


def test_without_a_gate_policy_the_packet_says_so(tmp_path, capsys):
    run_dir = build_run(tmp_path / "bare")
    assert (
        main(["packet", str(run_dir), "--baseline", "base", "--candidate", "tuned", "--out", str(tmp_path / "p")]) == 0
    )
    packet = json.loads((tmp_path / "p" / "packet.json").read_text())
    assert packet["verdict"]["status"] == "no_policy" and packet["verdict"]["headline"] == "no gate policy"
    assert "no gate policy" in capsys.readouterr().out
    assert "NO GATE POLICY" in (tmp_path / "p" / "packet.html").read_text()


def test_baseline_and_candidate_default_to_the_policys_routes(run_dir, tmp_path):
    assert main(["packet", str(run_dir), "--out", str(tmp_path)]) == 0
    packet = json.loads((tmp_path / "packet.json").read_text())
    assert (packet["baseline"], packet["candidate"]) == ("base", "tuned")


def test_with_chooses_the_other_routes_shown(run_dir, tmp_path):
    assert (
        main(
            ["packet", str(run_dir), "--baseline", "base", "--candidate", "tuned", "--with", "", "--out", str(tmp_path)]
        )
        == 0
    )
    packet = json.loads((tmp_path / "packet.json").read_text())
    assert [r["name"] for r in packet["routes"]] == ["base", "tuned"] and packet["layers"] == {}


def test_baseline_and_candidate_can_come_from_two_runs(run_dir, tmp_path, capsys):
    other = build_run(tmp_path / "second", {"tuned": TUNED})
    assert main(["packet", str(run_dir), "--baseline", "base", "--candidate", f"{other}:tuned", "--with", "",
                 "--out", str(tmp_path / "p")]) == 0
    packet = json.loads((tmp_path / "p" / "packet.json").read_text())
    assert [(r["name"], r["run_dir"]) for r in packet["routes"]] == [("base", str(run_dir)), ("tuned", str(other))]
    assert len(packet["provenance"]["runs"]) == 2
    assert packet["comparison"] == printed_json(capsys, ["compare", f"{run_dir}:base", f"{other}:tuned", "--json"])


def test_the_same_route_name_from_two_runs_gets_the_run_folder_in_its_name(run_dir, tmp_path):
    other = build_run(tmp_path / "second")
    assert main(["packet", str(run_dir), "--baseline", "tuned", "--candidate", f"{other}:tuned", "--with", "",
                 "--out", str(tmp_path / "p")]) == 0
    packet = json.loads((tmp_path / "p" / "packet.json").read_text())
    assert [r["name"] for r in packet["routes"]] == ["tuned", "tuned (run)"]


def test_shutdown_date_and_training_cost_recorded_in_the_manifest_are_shown(run_dir, tmp_path):
    import shutil

    copy = tmp_path / "run"
    shutil.copytree(run_dir, copy)
    manifest = json.loads((copy / "manifest.json").read_text())
    manifest["routes"]["tuned"].update(shutdown_date="2027-01-14", shutdown_source="provider", training_cost_usd=12.5,
                                       base_model="gpt-4.1-mini-2025-04-14")
    (copy / "manifest.json").write_text(json.dumps(manifest))
    assert main(["packet", str(copy), "--out", str(tmp_path / "p")]) == 0
    packet = json.loads((tmp_path / "p" / "packet.json").read_text())
    assert packet["ownership"]["shutdowns"] == [
        {"name": "tuned", "model": "replay:tuned.jsonl", "shutdown_date": "2027-01-14", "shutdown_source": "provider"}
    ]
    assert packet["cost"]["training"][0]["cost_usd"] == 12.5
    html, md = (tmp_path / "p" / "packet.html").read_text(), (tmp_path / "p" / "packet.md").read_text()
    assert "2027-01-14" in html and "$12.50" in html and "2027-01-14" in md


@pytest.mark.parametrize("argv, message", [
    (["--baseline", "base", "--candidate", "nope"], "route 'nope' is not in the run"),
    (["--baseline", "base", "--candidate", "base"], "the same route"),
    (["--baseline", "base", "--candidate", "tuned", "--monthly-volume", "0"], "--monthly-volume"),
])
def test_bad_arguments_exit_2_with_a_clear_message(run_dir, tmp_path, capsys, argv, message):
    assert main(["packet", str(run_dir), *argv, "--out", str(tmp_path)]) == 2
    assert message in capsys.readouterr().err
    assert not (tmp_path / "packet.html").exists()


def test_without_roles_or_policy_the_packet_asks_for_them(tmp_path, capsys):
    run_dir = build_run(tmp_path / "bare")
    assert main(["packet", str(run_dir), "--out", str(tmp_path / "p")]) == 2
    assert "--baseline and --candidate" in capsys.readouterr().err


def test_error_rows_beyond_the_budget_make_an_incomplete_verdict_and_still_a_packet(tmp_path):
    flaky = {**TUNED, "c07": None, "c08": None}  # the recorded calls returned nothing: error rows
    gate = {**GATE, "error_budget": 0.05}
    run_dir = build_run(tmp_path / "flaky", {"base": BASE, "tuned": flaky}, gate=gate)
    assert main(["packet", str(run_dir), "--out", str(tmp_path / "p")]) == 0
    packet = json.loads((tmp_path / "p" / "packet.json").read_text())
    assert packet["verdict"]["status"] == "incomplete" and packet["verdict"]["exit_code"] == 3
    c07 = next(c for c in packet["cases"] if c["id"] == "c07")
    tuned = next(o for o in c07["outputs"] if o["route"] == "tuned")
    assert c07["change"] == "broken" and tuned["error"]["type"] == "replay_error"
    html = (tmp_path / "p" / "packet.html").read_text()
    assert 'data-verdict="incomplete"' in html and "error: replay_error" in html


def test_a_packet_of_hand_written_recordings_is_a_demonstration_naming_every_route(packet, packet_dir):
    assert packet["evidence"]["demonstration"] is True
    assert {e["name"]: e["provenance"] for e in packet["evidence"]["not_evidence"]} == \
        {r["name"]: "unverified" for r in packet["routes"]}
    for name in ("packet.html", "packet.md"):
        assert "Demonstration · NOT EVIDENCE" in (packet_dir / name).read_text()


def test_a_route_without_an_answer_for_a_changed_case_says_so_in_html_and_markdown(run_dir, tmp_path):
    partial = {case_id: label for case_id, label in BASE.items() if case_id != "c01"}  # c01 is fixed by tuned
    other = build_run(tmp_path / "partial", {"partial": partial}, cases=[c for c in CASES if c["id"] != "c01"])
    assert main(["packet", str(run_dir), "--baseline", "base", "--candidate", "tuned", "--with", f"{other}:partial",
                 "--out", str(tmp_path / "p")]) == 0
    packet = json.loads((tmp_path / "p" / "packet.json").read_text())
    (case,) = [c for c in packet["cases"] if c["id"] == "c01"]
    assert {"route": "partial", "missing": True} in case["outputs"]
    assert "no answer for this case in the run" in (tmp_path / "p" / "packet.html").read_text()
    assert "| partial | no answer | – |" in (tmp_path / "p" / "packet.md").read_text()


def test_retirement_dates_stay_on_lines_of_their_own(run_dir, tmp_path):
    import re
    import shutil
    from html.parser import HTMLParser

    copy = tmp_path / "run"
    shutil.copytree(run_dir, copy)
    manifest = json.loads((copy / "manifest.json").read_text())
    for route, day in (("base", "2027-02-01"), ("tuned", "2027-01-14")):
        manifest["routes"][route].update(shutdown_date=day, shutdown_source="evalkit table",
                                         retirement_warning=f"route {route!r}: shuts down on {day}")
    (copy / "manifest.json").write_text(json.dumps(manifest))
    assert main(["packet", str(copy), "--out", str(tmp_path / "p")]) == 0
    md = (tmp_path / "p" / "packet.md").read_text()
    bullets = [line for line in md.splitlines() if line.startswith("- Announced shutdown")]
    assert len(bullets) == 2 and all(line.count("Announced shutdown") == 1 for line in bullets)

    class Text(HTMLParser):
        def __init__(self):
            super().__init__()
            self.parts = []

        def handle_data(self, data):
            self.parts.append(data)

    reader = Text()
    reader.feed((tmp_path / "p" / "packet.html").read_text())
    text = "".join(reader.parts)
    assert re.search(r"replay:tuned\.jsonl\s+source: evalkit table\s+route 'tuned'", text)
