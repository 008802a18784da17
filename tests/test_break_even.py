"""The packet's cost per route and the tuned route's break-even, from known numbers."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

import pytest

from evalkit.packet import HOURS_PER_MONTH, RouteRef, _cost

NO_TOKENS = {"tokens": {"input_mean": None}}


def _ref(name, *, billed, projected=None, kind="base", **info):
    summary = {"cost_usd": {"total": billed, "per_1k": billed}, "tokens": {"input_mean": 100, "output_mean": 5}}
    if projected is not None:
        summary["projected_cost_usd"] = {"total": projected, "per_1k": projected, "projected": True}
    run = SimpleNamespace(summary={"routes": {name: summary}}, manifest={"routes": {name: {"kind": kind, **info}}})
    return RouteRef(name, name, run, name)


def _routes(hosting=0.01):
    return [_ref("base", billed=2.0),
            _ref("prompted", billed=0.0, projected=1.5),  # a stand-in answered: priced as its configured model
            _ref("tuned", billed=0.5, kind="finetuned", training_cost_usd=27.0, hosting_usd_per_hour=hosting)]


def _cost_of(routes, meets):
    layers = {"prompted": NO_TOKENS}
    return _cost(
        routes, "base", "tuned", {"cost_usd": None, **NO_TOKENS}, layers, {"prompted": NO_TOKENS}, 20_000, meets
    )


def test_break_even_is_training_cost_over_the_monthly_saving_against_the_cheapest_route_meeting_the_policy():
    cost = _cost_of(_routes(), {"base": True, "prompted": True})
    tuned_monthly = 0.5 * 20 + 0.01 * HOURS_PER_MONTH  # per 1k x 20,000 cases, plus hosting by the hour
    b = cost["break_even"]
    assert b["against"] == "prompted" and b["against_monthly_usd"] == pytest.approx(1.5 * 20)
    assert b["candidate_monthly_usd"] == pytest.approx(tuned_monthly)
    assert b["months"] == pytest.approx(27.0 / (30.0 - tuned_monthly))


def test_the_projected_price_of_a_stand_in_route_is_what_the_decision_uses():
    entry = {e["name"]: e for e in _cost_of(_routes(), None)["routes"]}["prompted"]
    assert entry["projected"] and entry["per_1k"] == 0.0 and entry["decision_per_1k"] == 1.5


def test_with_no_other_route_meeting_the_policy_the_break_even_is_against_the_baseline():
    b = _cost_of(_routes(), {"base": False, "prompted": False})["break_even"]
    assert b["against"] == "base" and "no other route meets the policy" in b["against_why"]


def test_a_tuned_route_whose_hosting_outweighs_the_saving_never_breaks_even():
    b = _cost_of(_routes(hosting=1.0), {"base": True, "prompted": True})["break_even"]
    assert b["months"] is None and b["note"].startswith("never")


def test_the_headline_cost_pair_reads_the_decisions_price_and_says_when_it_is_projected():
    routes = [_ref("base", billed=0.0, projected=1.5), _ref("tuned", billed=0.0, projected=0.5, kind="finetuned")]
    pair = _cost(routes, "base", "tuned", {"cost_usd": None, **NO_TOKENS}, {}, {}, 20_000)["decision_per_1k"]
    assert (pair["a"], pair["b"], pair["delta"], pair["projected"]) == (1.5, 0.5, -1.0, True)


def test_the_example_packet_shows_projected_prices_not_zero(tmp_path):
    from evalkit.cli import main

    suite = Path(__file__).resolve().parents[1] / "evals" / "support_triage.yaml"
    run_dir, packet_dir = tmp_path / "run", tmp_path / "packet"
    assert main(["run", str(suite), "--offline", "--out", str(run_dir), "--no-progress"]) == 0
    args = ["packet", str(run_dir), "--baseline", "base", "--candidate", "tuned", "--allow-unverified"]
    assert main([*args, "--out", str(packet_dir)]) == 0
    markdown = (packet_dir / "packet.md").read_text()
    line = next(line for line in markdown.splitlines() if line.startswith("| cost per 1,000 cases"))
    assert "(projected)" in line and "\\$0.00" not in line
