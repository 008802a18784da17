"""JUnit XML of a gate verdict: one test case per check, so CI shows each check by name.

A failed quality check is a `<failure>`, a failed completeness check (run stopped early,
errors beyond the budget) an `<error>`: the run could not be judged. Either way the
element's `message` is the check's reason. A passing check's reason goes to `<system-out>`.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET

from evalkit.gate import Verdict
from evalkit.provenance import describe
from evalkit.report.gate_summary import threshold_text, value_text


def render_junit(verdict: Verdict) -> str:
    failures = sum(1 for c in verdict.blocking if c.category != "completeness")
    errors = sum(1 for c in verdict.blocking if c.category == "completeness")
    waived = [c for c in verdict.not_evidence if c not in verdict.blocking]
    counts = {
        "tests": str(len(verdict.checks)),
        "failures": str(failures),
        "errors": str(errors),
        "skipped": str(len(waived)),
    }
    root = ET.Element("testsuites", {"name": "evalkit gate", **counts, "time": "0"})
    suite = ET.SubElement(root, "testsuite", {"name": f"evalkit gate {verdict.candidate}", **counts, "time": "0"})
    properties = ET.SubElement(suite, "properties")
    evidence = verdict.evidence_notice() or "verified: every judged answer came from the configured model"
    for name, value in (
        ("candidate", verdict.candidate),
        ("baseline", verdict.baseline or ""),
        ("decision", verdict.decision),
        ("exit_code", str(verdict.exit_code)),
        ("evidence", evidence),
        *((f"provenance.{role}", describe(info)) for role, info in verdict.provenance.items()),
    ):
        ET.SubElement(properties, "property", {"name": name, "value": value})
    if verdict.operating_characteristics:
        ET.SubElement(
            properties,
            "property",
            {"name": "operating_characteristics", "value": verdict.operating_characteristics["sentence"]},
        )
    for check in verdict.checks:
        case = ET.SubElement(suite, "testcase", {"classname": "evalkit.gate", "name": check.name, "time": "0"})
        detail = f"value {value_text(check, check.value)}, threshold {threshold_text(check) or 'none'}: {check.reason}"
        if check.passed:
            ET.SubElement(case, "system-out").text = detail
        elif check in waived:
            ET.SubElement(case, "skipped", {"message": f"NOT EVIDENCE (--allow-unverified): {check.reason}"})
        else:
            tag = "error" if check.category == "completeness" else "failure"
            kind = "incomplete" if tag == "error" else "not-evidence" if check.category == "evidence" else "rejected"
            element = ET.SubElement(case, tag, {"message": check.reason, "type": kind})
            element.text = detail
    ET.indent(root)
    return '<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(root, encoding="unicode") + "\n"
