"""Parity: evalkit's reward of a row, the exported OpenAI grader (evaluated locally) and the
exported TRL reward module give every row the same score."""

from __future__ import annotations

import importlib.util
import json

import pytest

from conftest import REPO
from evalkit.cli import main
from evalkit.finetune.rft import references, reward_plan, row_reward
from evalkit.scoring import Scorer
from evalkit.suite import load_suite
from grader_eval import grade, sample_for

EXAMPLE = REPO / "evals" / "support_triage.yaml"


def load_module(path):
    spec = importlib.util.spec_from_file_location(f"reward_{abs(hash(str(path)))}", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def example(tmp_path_factory):
    folder = tmp_path_factory.mktemp("rft_parity")
    assert main(["run", str(EXAMPLE), "--offline", "--out", str(folder / "run"), "--no-progress"]) == 0
    assert main(["ft", "reward", str(EXAMPLE), "--format", "openai-grader", "--out", str(folder / "grader.json")]) == 0
    assert main(["ft", "reward", str(EXAMPLE), "--format", "trl", "--out", str(folder / "reward.py")]) == 0
    rows = [json.loads(line) for line in (folder / "run" / "results.jsonl").read_text(encoding="utf-8").splitlines()]
    suite = load_suite(EXAMPLE)
    return {"suite": suite, "plan": reward_plan(suite), "rows": rows,
            "grader": json.loads((folder / "grader.json").read_text(encoding="utf-8")),
            "trl": load_module(folder / "reward.py")}


def three_ways(example, output: str, row: dict, case) -> tuple[float, float, float]:
    plan = example["plan"]
    item = references(plan, case)
    by_evalkit = row_reward(plan, row)
    by_grader = grade(example["grader"], sample_for(output), item)
    [by_trl] = example["trl"].reward(prompts=["..."], completions=[output], **{k: [v] for k, v in item.items()})
    return by_evalkit, by_grader, by_trl


def test_every_row_of_the_offline_run_scores_the_same_three_ways(example):
    cases = {case.id: case for case in example["suite"].cases}
    scores = {}
    for row in example["rows"]:
        evalkit_score, grader_score, trl_score = three_ways(example, row["output"], row, cases[row["case_id"]])
        assert grader_score == pytest.approx(evalkit_score, abs=1e-12), (row["route"], row["case_id"])
        assert trl_score == pytest.approx(evalkit_score, abs=1e-12), (row["route"], row["case_id"])
        scores[(row["route"], row["case_id"])] = evalkit_score
    assert {route for route, _ in scores} == {"base", "prompted", "rag", "tuned"}
    assert len(scores) == len(example["rows"]) == 4 * len(example["suite"].holdout)
    assert len(set(scores.values())) >= 4  # full, partial and no credit all occur


ANSWERS = {
    "right": {"reason_code": "bug_report", "severity": "medium", "rationale": "A regression broke the totals."},
    "severity two steps off": {"reason_code": "bug_report", "severity": "urgent", "rationale": "A regression."},
    "wrong label": {"reason_code": "feature_request", "severity": "low", "rationale": "Wants a pie chart."},
    "two sentences": {"reason_code": "bug_report", "severity": "medium", "rationale": "Totals are wrong. Fix it."},
    "rationale too long": {"reason_code": "bug_report", "severity": "high", "rationale": "x" * 301},
    "unknown severity": {"reason_code": "bug_report", "severity": "critical", "rationale": "A regression."},
    "extra key": {"reason_code": "bug_report", "severity": "medium", "rationale": "A regression.", "team": "web"},
    "no rationale": {"reason_code": "bug_report", "severity": "medium"},
    "label not in the set": {"reason_code": "regression", "severity": "medium", "rationale": "A regression."},
}


@pytest.mark.parametrize("name", [*ANSWERS, "not json"])
def test_crafted_answers_score_the_same_three_ways(example, name):
    suite = example["suite"]
    case = next(c for c in suite.holdout if c.id == "st-h-001")
    output = json.dumps(ANSWERS[name]) if name in ANSWERS else "I think this is a bug report."
    scorer = Scorer(suite.spec.task, suite.output_schema)
    score = scorer.score(output)
    row = {
        "case_id": case.id,
        "parsed_ok": score.parsed_ok,
        "error": None,
        "correct": score.predicted_label == case.expected["reason_code"],
        **scorer.field_scores(score, case.expected, []),
    }
    evalkit_score, grader_score, trl_score = three_ways(example, output, row, case)
    assert grader_score == pytest.approx(evalkit_score, abs=1e-12)
    assert trl_score == pytest.approx(evalkit_score, abs=1e-12)


def test_severity_two_steps_off_earns_a_third_of_its_share(example):
    case = next(c for c in example["suite"].holdout if c.id == "st-h-001")
    item = references(example["plan"], case)
    output = json.dumps(ANSWERS["severity two steps off"])
    # label 1, severity 1 - 2/3, rationale 1; equal weights
    assert grade(example["grader"], sample_for(output), item) == pytest.approx((1 + 1 / 3 + 1) / 3)


def test_a_fenced_json_answer_scores_in_the_trl_reward_as_evalkit_parses_it(example):
    case = next(c for c in example["suite"].holdout if c.id == "st-h-001")
    item = references(example["plan"], case)
    fenced = "Here you go:\n```json\n" + json.dumps(ANSWERS["right"]) + "\n```"
    assert example["trl"].reward(completions=[fenced], **{k: [v] for k, v in item.items()}) == [1.0]
