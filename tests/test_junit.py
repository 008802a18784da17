"""JUnit XML of a verdict: valid XML, one test case per check, the reason as the failure message."""

from __future__ import annotations

import xml.etree.ElementTree as ET

import pytest

from evalkit.gate import Check, Verdict
from evalkit.report.junit import render_junit

VERDICT = Verdict(
    candidate="reports/run:tuned",
    baseline="reports/run:base",
    policy={},
    checks=[
        Check("complete.candidate", None, None, True, "the candidate run is complete", op="", category="completeness"),
        Check(
            "error_budget.candidate",
            0.1,
            0.02,
            False,
            "3 of 30 candidate rows (10.0%) are errors",
            op="<=",
            category="completeness",
        ),
        Check("min.accuracy", 0.8, 0.85, False, "accuracy 0.800 (n=30) is below the floor 0.850 & <more>"),
        Check("max_latency_p95_ms", 900.0, 3000.0, True, "p95 latency 900 ms within the ceiling", op="<="),
    ],
)


@pytest.fixture
def root():
    return ET.fromstring(render_junit(VERDICT))


def test_one_test_case_per_check_named_after_it(root):
    names = [case.get("name") for case in root.iter("testcase")]
    assert names == ["complete.candidate", "error_budget.candidate", "min.accuracy", "max_latency_p95_ms"]


def test_a_failed_check_is_a_failure_whose_message_is_the_reason(root):
    case = next(c for c in root.iter("testcase") if c.get("name") == "min.accuracy")
    assert case.find("failure").get("message") == "accuracy 0.800 (n=30) is below the floor 0.850 & <more>"


def test_a_failed_completeness_check_is_an_error(root):
    case = next(c for c in root.iter("testcase") if c.get("name") == "error_budget.candidate")
    assert case.find("failure") is None
    assert case.find("error").get("message") == "3 of 30 candidate rows (10.0%) are errors"


def test_passing_checks_have_neither_failure_nor_error(root):
    case = next(c for c in root.iter("testcase") if c.get("name") == "max_latency_p95_ms")
    assert case.find("failure") is None and case.find("error") is None
    assert "within the ceiling" in case.find("system-out").text


def test_the_counts_add_up(root):
    suite = root.find("testsuite")
    assert (suite.get("tests"), suite.get("failures"), suite.get("errors")) == ("4", "1", "1")
    assert root.get("tests") == "4"


def test_the_verdict_rides_along_as_properties(root):
    properties = {p.get("name"): p.get("value") for p in root.iter("property")}
    assert properties == {"candidate": "reports/run:tuned", "baseline": "reports/run:base",
                          "decision": "incomplete", "exit_code": "3",
                          "evidence": "verified: every judged answer came from the configured model"}


STAND_IN = {"route": "tuned", "provenance": "stand-in", "evidence": False, "counts": {"stand-in": 30},
            "stale_parts": [], "endpoint": None}
NOT_EVIDENCE = Check("evidence.candidate", None, None, False, "tuned is stand-in", op="", category="evidence")


def test_answers_that_are_not_evidence_fail_as_not_evidence():
    verdict = Verdict("r:tuned", None, [NOT_EVIDENCE], {}, provenance={"candidate": STAND_IN})
    case = next(ET.fromstring(render_junit(verdict)).iter("testcase"))
    assert case.find("failure").get("type") == "not-evidence"


def test_with_allow_unverified_the_evidence_check_is_skipped_and_says_not_evidence():
    verdict = Verdict("r:tuned", None, [NOT_EVIDENCE], {}, provenance={"candidate": STAND_IN}, allow_unverified=True)
    root = ET.fromstring(render_junit(verdict))
    case = next(root.iter("testcase"))
    assert case.find("failure") is None and case.find("skipped").get("message").startswith("NOT EVIDENCE")
    properties = {p.get("name"): p.get("value") for p in root.iter("property")}
    assert properties["evidence"].startswith("NOT EVIDENCE: tuned (candidate) is stand-in")
    assert verdict.exit_code == 0


def test_a_checks_category_is_written_as_kind_in_the_verdicts_json():
    data = NOT_EVIDENCE.to_dict()
    assert data["kind"] == "evidence" and "category" not in data
