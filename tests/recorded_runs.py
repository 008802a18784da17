"""Build real runs for the compare and gate tests: a text-mode suite whose routes replay
hand-written answers, run through the real runner into tmp_path.

`answers` maps a route to {case_id: label}; a label may be a list (one per repeat), None
(the recorded call returned no output: an error row) or any text outside the label set
(unparsed). Latency and tokens ride along on every replay line.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import yaml

from evalkit.runner import RunOptions, run_suite

LABELS = ["billing_dispute", "cancellation", "login_failure"]


def build_run(folder: Path, cases: list[tuple[str, str, list[str]]], answers: dict[str, dict[str, Any]], *,
              repeats: int = 1, gate: dict | None = None, pricing: dict | None = None, latency_ms: dict | None = None,
              labels: list[str] = LABELS, name: str = "tiny") -> Path:
    """Write the suite, its cases and replay files into `folder`, run it, return the run directory."""
    folder.mkdir(parents=True, exist_ok=True)
    with (folder / "cases.jsonl").open("w") as handle:
        for case_id, label, tags in cases:
            handle.write(
                json.dumps({"id": case_id, "input": f"ticket {case_id}", "expected": label, "tags": tags}) + "\n"
            )
    routes = {}
    for route, by_case in answers.items():
        lines = []
        for case_id, answer in by_case.items():
            for repeat in range(repeats):
                output = answer[repeat] if isinstance(answer, list) else answer
                lines.append(
                    {
                        "case_id": case_id,
                        "repeat": repeat,
                        "output": output,
                        "latency_ms": (latency_ms or {}).get(route, 100.0),
                        "input_tokens": 40,
                        "output_tokens": 3,
                    }
                )
        (folder / f"{route}.jsonl").write_text("".join(json.dumps(line) + "\n" for line in lines))
        routes[route] = {"kind": "base", "model": f"replay:{route}.jsonl"}
    suite: dict[str, Any] = {"name": name, "task": {"labels": labels, "output_format": "text"},
                             "cases": "cases.jsonl", "routes": routes}
    if gate is not None:
        suite["gate"] = gate
    if pricing is not None:
        suite["pricing"] = pricing
    (folder / "suite.yaml").write_text(yaml.safe_dump(suite, sort_keys=False))
    result = run_suite(folder / "suite.yaml", RunOptions(out=folder / "run", repeats=repeats, progress=False))
    return result.run_dir


def cases_with(labels: list[str], tags: list[list[str]] | None = None) -> list[tuple[str, str, list[str]]]:
    """Cases c01, c02, ... with the given expected labels (and tags)."""
    return [(f"c{i:02d}", label, (tags[i - 1] if tags else [])) for i, label in enumerate(labels, start=1)]
