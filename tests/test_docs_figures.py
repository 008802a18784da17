"""The figures docs/ci.md quotes are computed: each `<!-- fig:NAME -->text<!-- /fig -->` must
equal what the code gives today, so the page cannot drift from the statistics."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from evalkit import stats
from evalkit.gate import operating_characteristics
from evalkit.policy import GatePolicy

CI_MD = Path(__file__).resolve().parents[1] / "docs" / "ci.md"


def figure_of_46_cases_a_fifth_discordant() -> str:
    table = {"both": 32.2, "only_a": 4.6, "only_b": 4.6, "neither": 4.6}  # 80% accuracy each side
    comparison = {"metrics": {"accuracy": {"newcombe": {"n": 46, "table": table}}}}
    return operating_characteristics(GatePolicy(baseline="b", require_significant_improvement=True), comparison)[
        "sentence"
    ]


FIGURES = {
    "sdd46": lambda: f"{stats.smallest_detectable_difference(46, 0.2)[0]:.3f}",
    "exact12": lambda: f"{stats.conditional_false_approval(12):.1%}",
    "midp12": lambda: f"{stats.conditional_false_approval(12, mid_p=True):.1%}",
    "size46": lambda: f"{stats.significance_power(46, 0.2, 0.0):.3f}",
    "hw46_0": lambda: f"{stats.newcombe_half_width(46, 0.0):.3f}",
    "hw46_20": lambda: f"{stats.newcombe_half_width(46, 0.2):.3f}",
    "point46": lambda: f"{stats.approval_probability(46, -0.05, 0.2, 0.8, margin=0.0, drop_on='point'):.2f}",
    "ci46": lambda: f"{stats.approval_probability(46, -0.05, 0.2, 0.8, margin=0.0, drop_on='ci95'):.3f}",
    "oc46": figure_of_46_cases_a_fifth_discordant,
}


def quoted() -> dict[str, str]:
    return dict(re.findall(r"<!-- fig:(\w+) -->(.*?)<!-- /fig -->", CI_MD.read_text(encoding="utf-8"), flags=re.S))


def test_every_figure_marked_in_ci_md_is_one_the_tests_compute():
    assert set(quoted()) == set(FIGURES)


@pytest.mark.parametrize("name", sorted(FIGURES))
def test_figure_in_ci_md_equals_the_code(name):
    assert quoted()[name] == FIGURES[name]()


def test_thirty_cases_with_a_fifth_discordant_detect_no_gain_at_80_percent_power():
    assert stats.smallest_detectable_difference(30, 0.2)[0] is None
    assert "with 30\ncases and a fifth discordant no gain up to that fifth reaches 80% power" in CI_MD.read_text(
        encoding="utf-8"
    )


def test_the_readme_coverage_table_is_the_saved_measurement():
    import json
    import sys

    repo = CI_MD.parents[1]
    sys.path.insert(0, str(repo))
    from benchmarks.coverage import render

    saved = json.loads((repo / "benchmarks" / "coverage.json").read_text(encoding="utf-8"))
    saved["repeats"] = {int(n): value for n, value in saved["repeats"].items()}
    assert render(saved) in (repo / "README.md").read_text(encoding="utf-8")
