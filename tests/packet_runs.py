"""Real runs for the packet tests: a text-mode suite whose routes replay written answers,
run through the real runner. Each route has its own prompt length and latency so the
packet's cost, token and latency figures differ between routes."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import yaml

from evalkit.runner import RunOptions, run_suite

LABELS = ["billing_dispute", "cancellation", "login_failure"]
KINDS = {"base": "base", "prompted": "prompted", "tuned": "finetuned"}
PROMPT_TOKENS = {"base": 120, "prompted": 900, "tuned": 60}

CASES = [
    {"id": f"c{i:02d}", "input": {"subject": f"ticket {i}", "body": f"body of ticket {i}"},
     "expected": LABELS[i % 3], "tags": ["adjacent-labels"] if i % 2 else ["easy"]}
    for i in range(1, 13)
]
RIGHT = {c["id"]: c["expected"] for c in CASES}
# base misses c01-c04; prompted fixes c01-c02 and breaks c05; tuned fixes c01-c04 and breaks c06
BASE = {**RIGHT, "c01": "login_failure", "c02": "cancellation", "c03": "I cannot tell", "c04": "billing_dispute"}
PROMPTED = {**RIGHT, "c03": "cancellation", "c04": "billing_dispute", "c05": "billing_dispute"}
TUNED = {**RIGHT, "c06": "cancellation"}
# tuned: 11/12, reject
GATE = {"candidate": "tuned", "baseline": "base", "min": {"accuracy": 0.95}, "max_drop": {"accuracy": 0.0}}


def build_run(folder: Path, answers: dict[str, dict[str, Any]] | None = None, *, cases: list[dict] | None = None,
              gate: dict | None = None, pricing: dict | None = None, owner: str | None = None) -> Path:
    """Write a suite, its cases and one replay file per route into `folder`, run it, return the run directory."""
    answers = answers if answers is not None else {"base": BASE, "prompted": PROMPTED, "tuned": TUNED}
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "cases.jsonl").write_text("".join(json.dumps(c) + "\n" for c in (cases or CASES)), encoding="utf-8")
    routes = {}
    for route, by_case in answers.items():
        lines = [{"case_id": case_id, "output": output, "latency_ms": 100.0 + 10 * i,
                  "input_tokens": PROMPT_TOKENS.get(route, 100), "output_tokens": 4}
                 for i, (case_id, output) in enumerate(by_case.items())]
        (folder / f"{route}.jsonl").write_text("".join(json.dumps(line) + "\n" for line in lines), encoding="utf-8")
        routes[route] = {"kind": KINDS.get(route, "base"), "model": f"replay:{route}.jsonl"}
        if routes[route]["kind"] == "prompted":
            routes[route]["examples"] = {"k": 0}  # the replayed answers need no few-shot pool
    suite: dict[str, Any] = {
        "name": "triage",
        "description": "Tickets into three reason codes.",
        "task": {"labels": LABELS, "output_format": "text"},
        "cases": "cases.jsonl",
        "routes": routes,
    }
    for key, value in (("owner", owner), ("gate", gate), ("pricing", pricing)):
        if value is not None:
            suite[key] = value
    (folder / "suite.yaml").write_text(yaml.safe_dump(suite, sort_keys=False), encoding="utf-8")
    return run_suite(folder / "suite.yaml", RunOptions(out=folder / "run", progress=False)).run_dir


# -- a run whose baseline answers with hostile text (the escaping and browser tests) --

SCRIPT = "<script>document.title='pwned'</script>"
IMG = "<img src=x onerror=\"document.title='pwned'\">"
TEMPLATE = "{{ 7 * 7 }} {% if true %}yes{% endif %}"
MARKDOWN = "`rm -rf /` | [click](javascript:alert(1)) **loud** $x$"

HOSTILE_CASES = [dict(c) for c in CASES]
HOSTILE_CASES[1]["input"] = {"subject": "<b>bold</b> {{ secret }}", "body": "see " + IMG}
HOSTILE_BASE = {**RIGHT, "c01": SCRIPT, "c02": IMG, "c03": TEMPLATE, "c04": MARKDOWN}


def hostile_packet(folder) -> dict:
    """A packet whose baseline answered four cases with hostile text that the candidate fixed."""
    from evalkit.packet import make_packet, write_packet

    run_dir = build_run(folder / "suite", {"base": HOSTILE_BASE, "tuned": TUNED}, cases=HOSTILE_CASES)
    packet = make_packet(run_dir, baseline="base", candidate="tuned")
    write_packet(packet, folder / "packet")
    return packet
