"""The example suite's offline run produces a packet, gated by the suite's own gate: section."""

from __future__ import annotations

import json

import pytest

from conftest import REPO
from evalkit.cli import main

EXAMPLE = REPO / "evals" / "support_triage.yaml"


@pytest.fixture(scope="module")
def example_packet(tmp_path_factory):
    folder = tmp_path_factory.mktemp("example-packet")
    assert main(["run", str(EXAMPLE), "--offline", "--out", str(folder / "run"), "--no-progress"]) == 0
    assert main(["packet", str(folder / "run"), "--monthly-volume", "20000", "--out", str(folder / "packet")]) == 0
    return folder


def test_the_example_packet_compares_tuned_with_base_under_the_suites_gate(example_packet):
    packet = json.loads((example_packet / "packet" / "packet.json").read_text())
    assert (packet["baseline"], packet["candidate"]) == ("base", "tuned")
    assert packet["verdict"]["status"] in ("approve", "reject") and packet["verdict"]["checks"]
    assert [r["name"] for r in packet["routes"]] == ["base", "prompted", "rag", "tuned"]
    assert packet["ownership"]["owner"].startswith("support-ml@northwind.example")


def test_the_example_packet_lists_the_changed_cases_with_their_inputs(example_packet):
    packet = json.loads((example_packet / "packet" / "packet.json").read_text())
    assert (
        len(packet["cases"])
        == len(packet["comparison"]["flips"]["fixed"]) + len(packet["comparison"]["flips"]["broken"])
        > 0
    )
    assert all(case["input_text"] for case in packet["cases"])


def test_the_example_packet_html_and_markdown_are_written(example_packet):
    html = (example_packet / "packet" / "packet.html").read_text()
    md = (example_packet / "packet" / "packet.md").read_text()
    assert "support_triage" in html and "tuned vs base" in html and "## 7. Cost and ownership" in md


def test_an_offline_packet_says_its_answers_came_from_stand_ins_not_the_configured_models(example_packet):
    packet = json.loads((example_packet / "packet" / "packet.json").read_text())
    assert [(e["name"], e["ran_as"], e["provenance"]) for e in packet["evidence"]["not_evidence"]] == [
        ("base", "local:keywords", "stand-in"), ("prompted", "local:nearest", "stand-in"),
        ("rag", "local:retrieval", "stand-in"), ("tuned", "local:classifier", "stand-in")]
    assert packet["verdict"]["evidence"]["verified"] is False
    for name in ("packet.html", "packet.md"):
        head = (example_packet / "packet" / name).read_text().split("Verdict")[0]
        assert "Demonstration · NOT EVIDENCE" in head and "answered by a stand-in, not the configured model" in head


def test_a_demonstration_packet_never_shows_an_approve_verdict(example_packet, tmp_path):
    args = ["packet", str(example_packet / "run"), "--allow-unverified", "--out", str(tmp_path / "demo")]
    assert main(args) == 0
    assert json.loads((tmp_path / "demo" / "packet.json").read_text())["verdict"]["status"] == "approve"
    html = (tmp_path / "demo" / "packet.html").read_text()
    md = (tmp_path / "demo" / "packet.md").read_text()
    assert '<span class="word">NOT EVIDENCE</span>' in html and '<span class="word">APPROVE</span>' not in html
    assert "## 1. Verdict: NOT EVIDENCE" in md and "## 1. Verdict: APPROVE" not in md
