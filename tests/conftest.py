"""Shared fixtures: small suites written into tmp_path, and the path of ../shared."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parents[1]
SHARED_DATASETS = REPO.parent / "shared" / "datasets"
LABELS = ["billing_dispute", "cancellation", "login_failure"]


def needs_shared(*parts: str) -> Path:
    """The path of a shared dataset, or skip the test with the reason."""
    path = SHARED_DATASETS.joinpath(*parts)
    if not path.exists():
        pytest.skip(f"{path} is absent: the shared datasets sit beside the project only in the workplace and CI")
    return path


def write_cases(path: Path, cases: list[dict]) -> Path:
    path.write_text("".join(json.dumps(c) + "\n" for c in cases), encoding="utf-8")
    return path


def make_case(case_id: str, label: str, text: str, *, split: str = "holdout", tags=None, **extra) -> dict:
    case = {"id": case_id, "input": text, "expected": label, "split": split}
    if tags:
        case["tags"] = tags
    case.update(extra)
    return case


TRAIN = [
    make_case("t1", "billing_dispute", "you billed me two times this month", split="train"),
    make_case("t2", "billing_dispute", "a charge I do not recognise on my card", split="train"),
    make_case("t3", "cancellation", "I want to cancel my account now", split="train"),
    make_case("t4", "cancellation", "please end my subscription", split="train"),
    make_case("t5", "login_failure", "login page throws an error", split="train"),
    make_case("t6", "login_failure", "cannot sign in, password rejected", split="train"),
]
HOLDOUT = [
    make_case("h1", "billing_dispute", "I was charged twice", tags=["adjacent-labels"]),
    make_case("h2", "cancellation", "cancel my subscription please", tags=["easy"]),
    make_case("h3", "login_failure", "sign in fails with error 500", tags=["easy"]),
    make_case("h4", "billing_dispute", "charged after I cancelled", tags=["adjacent-labels"]),
]


@pytest.fixture
def make_suite(tmp_path):
    """Write a suite (and its cases) into tmp_path; keyword arguments override suite keys."""

    def _make(case_list: list[dict] | None = None, *, routes: dict | None = None, **overrides) -> Path:
        write_cases(tmp_path / "cases.jsonl", case_list if case_list is not None else TRAIN + HOLDOUT)
        suite = {
            "name": "tiny",
            "task": {"labels": LABELS, "output_format": "json", "label_field": "label",
                     "output_schema": {"type": "object", "required": ["label"],
                                       "properties": {"label": {"type": "string"}}}},
            "cases": "cases.jsonl",
            "routes": routes or {"base": {"kind": "base", "model": "mock:expected"}},
        }
        suite.update(overrides)
        path = tmp_path / "suite.yaml"
        path.write_text(yaml.safe_dump(suite, sort_keys=False), encoding="utf-8")
        return path

    return _make
