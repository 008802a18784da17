"""Reinforcement fine-tuning from the suite: `ft export --format openai-rft`, `--grader-out`,
`ft reward`, and the bad input they refuse."""

from __future__ import annotations

import ast
import json
import subprocess
import sys

import pytest
import yaml

from conftest import REPO
from evalkit.cli import main
from grader_eval import grade, sample_for

EXAMPLE = REPO / "evals" / "support_triage.yaml"
SCHEMA = {"type": "object", "required": ["label", "severity", "note"], "additionalProperties": False,
          "properties": {"label": {"type": "string", "enum": ["billing", "cancel", "login"]},
                         "severity": {"type": "string"}, "note": {"type": "string"}}}


def case(case_id, label, severity, text, split="train"):
    return {
        "id": case_id,
        "input": text,
        "expected": {"label": label, "severity": severity, "note": "n."},
        "split": split,
    }


CASES = [
    case("t1", "billing", "low", "charged twice"),
    case("t2", "cancel", "high", "cancel my plan"),
    case("t3", "login", "medium", "cannot sign in"),
    case("t4", "billing", "high", "refund the double charge"),
    case("t5", "cancel", "low", "end my subscription"),
    case("t6", "login", "urgent", "locked out of admin"),
    case("h1", "billing", "low", "wrong invoice", "holdout"),
    case("h2", "login", "high", "password fails", "holdout"),
]


@pytest.fixture
def write_suite(tmp_path):
    def _write(cases=CASES, fields=None, **task):
        (tmp_path / "cases.jsonl").write_text("".join(json.dumps(c) + "\n" for c in cases), encoding="utf-8")
        spec = {"name": "tiny_rft",
                "task": {"labels": ["billing", "cancel", "login"], "output_format": "json", "label_field": "label",
                         "output_schema": SCHEMA,
                         "fields": fields if fields is not None else {
                             "severity": {"type": "ordinal", "order": ["low", "medium", "high", "urgent"]},
                             "note": {"type": "text", "checks": {"max_chars": 40}}},
                         **task},
                "cases": "cases.jsonl",
                "routes": {"tuned": {"kind": "finetuned", "model": "openai:ft:o4-mini:x::y", "base_model": "o4-mini",
                                     "system": "Answer with JSON: label, severity, note.", "prompt": "{{ input }}"}}}
        path = tmp_path / "suite.yaml"
        path.write_text(yaml.safe_dump(spec, sort_keys=False), encoding="utf-8")
        return path

    return _write


def export(suite, tmp_path, *extra):
    return main(["ft", "export", str(suite), "--format", "openai-rft", "--out", str(tmp_path / "train.jsonl"),
                 "--validation-out", str(tmp_path / "val.jsonl"), "--validation-fraction", "0.34", *extra])


def lines(path):
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


def grader_of(suite, tmp_path):
    out = tmp_path / "grader.json"
    assert main(["ft", "reward", str(suite), "--format", "openai-grader", "--out", str(out)]) == 0
    return json.loads(out.read_text(encoding="utf-8"))


# ---------------------------------------------------------------- export


def test_rft_lines_end_with_the_user_message_and_carry_the_expected_answer(write_suite, tmp_path):
    assert export(write_suite(), tmp_path) == 0
    records = lines(tmp_path / "train.jsonl") + lines(tmp_path / "val.jsonl")
    by_text = {r["messages"][-1]["content"]: r for r in records}
    assert len(records) == 6 and all(r["messages"][-1]["role"] == "user" for r in records)
    assert {k: v for k, v in by_text["cancel my plan"].items() if k != "messages"} == {
        "label": "cancel",
        "severity": "high",
    }


def test_rft_export_needs_a_validation_file(write_suite, tmp_path, capsys):
    code = main(["ft", "export", str(write_suite()), "--format", "openai-rft", "--out", str(tmp_path / "train.jsonl")])
    assert code == 2
    assert "--validation-out" in capsys.readouterr().err


def test_a_case_without_the_expected_field_is_named(write_suite, tmp_path, capsys):
    cases = [*CASES[:2], {**CASES[2], "expected": {"label": "login", "note": "n."}}, *CASES[3:]]
    assert export(write_suite(cases), tmp_path) == 2
    err = capsys.readouterr().err
    assert "'t3'" in err and "'severity'" in err and "Traceback" not in err


def test_the_example_suite_exports_rft_files_and_a_grader(tmp_path):
    assert main(["ft", "export", str(EXAMPLE), "--format", "openai-rft", "--out", str(tmp_path / "t.jsonl"),
                 "--validation-out", str(tmp_path / "v.jsonl"), "--grader-out", str(tmp_path / "g.json")]) == 0
    first = lines(tmp_path / "t.jsonl")[0]
    assert set(first) == {"messages", "reason_code", "severity"}
    assert json.loads((tmp_path / "g.json").read_text(encoding="utf-8"))["type"] == "multi"


def test_an_rft_export_warns_when_the_prompt_never_asks_for_the_answer_field(tmp_path, capsys):
    assert main(["ft", "export", str(EXAMPLE), "--format", "openai-rft", "--out", str(tmp_path / "t.jsonl"),
                 "--validation-out", str(tmp_path / "v.jsonl")]) == 0
    assert "route 'tuned' does not name the answer's field 'reason_code'" in capsys.readouterr().err


def test_hf_grpo_lines_carry_the_prompt_and_the_reference_columns(write_suite, tmp_path):
    out = tmp_path / "grpo.jsonl"
    assert main(["ft", "export", str(write_suite()), "--format", "hf-grpo", "--out", str(out)]) == 0
    first = lines(out)[0]
    assert set(first) == {"prompt", "label", "severity"} and first["prompt"][-1]["role"] == "user"
    assert main(["ft", "validate", str(out)]) == 0


# ---------------------------------------------------------------- bad input


def test_text_output_mode_has_nothing_for_a_grader_to_read(tmp_path, capsys):
    (tmp_path / "cases.jsonl").write_text(
        json.dumps({"id": "a", "input": "x", "expected": "billing"}) + "\n", encoding="utf-8"
    )
    suite = tmp_path / "suite.yaml"
    suite.write_text(
        yaml.safe_dump(
            {
                "name": "t",
                "task": {"labels": ["billing", "login"], "output_format": "text"},
                "cases": "cases.jsonl",
                "routes": {"b": {"kind": "base", "model": "mock:expected"}},
            }
        ),
        encoding="utf-8",
    )
    assert main(["ft", "reward", str(suite), "--out", str(tmp_path / "r.py")]) == 2
    assert "output_format" in capsys.readouterr().err


def test_a_suite_whose_every_weight_is_zero_has_no_field_to_reward(write_suite, tmp_path, capsys):
    suite = write_suite(fields={"severity": {"type": "ordinal", "order": ["low", "high"], "weight": 0}}, label_weight=0)
    assert main(["ft", "reward", str(suite), "--out", str(tmp_path / "r.py")]) == 2
    assert "no scored field the grader can express" in capsys.readouterr().err


# ---------------------------------------------------------------- the grader


def test_a_label_only_suite_without_a_schema_gets_one_string_check(write_suite, tmp_path):
    grader = grader_of(write_suite(fields={}, output_schema=None), tmp_path)
    assert grader == {"type": "string_check", "name": "label", "input": "{{ sample.output_json.label }}",
                      "reference": "{{ item.label }}", "operation": "eq"}


def test_the_multi_grader_weights_label_and_fields_as_the_suite_says(write_suite, tmp_path):
    fields = {"severity": {"type": "ordinal", "order": ["low", "medium", "high", "urgent"], "weight": 0.5}}
    grader = grader_of(write_suite(fields=fields, label_weight=2), tmp_path)
    assert grader["calculate_output"] == "valid * (2.0 * label + 0.5 * severity) / 2.5"
    assert grader["graders"]["label"]["type"] == "string_check"


def test_a_zero_weight_field_is_left_out_of_the_grader(write_suite, tmp_path):
    fields = {"severity": {"type": "ordinal", "order": ["low", "high"]}, "note": {"type": "text", "weight": 0}}
    assert set(grader_of(write_suite(fields=fields), tmp_path)["graders"]) == {"valid", "label", "severity"}


def test_an_answer_that_does_not_parse_scores_zero_by_the_grader(write_suite, tmp_path):
    grader = grader_of(write_suite(), tmp_path)
    assert grade(grader, sample_for("label: billing"), {"label": "billing", "severity": "low"}) == 0.0


def test_a_schema_invalid_answer_with_the_right_label_scores_zero(write_suite, tmp_path):
    grader = grader_of(write_suite(), tmp_path)
    answer = json.dumps({"label": "billing", "severity": "low"})  # no note: the schema requires it
    assert grade(grader, sample_for(answer), {"label": "billing", "severity": "low"}) == 0.0


def test_a_text_fields_checks_count_in_the_grader(write_suite, tmp_path):
    grader = grader_of(write_suite(), tmp_path)
    item = {"label": "billing", "severity": "low"}
    short = json.dumps({"label": "billing", "severity": "low", "note": "double charge."})
    long = json.dumps({"label": "billing", "severity": "low", "note": "x" * 41})
    assert (grade(grader, sample_for(short), item), grade(grader, sample_for(long), item)) == (
        1.0,
        pytest.approx(2 / 3),
    )


# ---------------------------------------------------------------- the TRL reward module


@pytest.fixture
def trl_module(write_suite, tmp_path):
    out = tmp_path / "mod" / "reward.py"
    assert main(["ft", "reward", str(write_suite()), "--format", "trl", "--out", str(out)]) == 0
    return out


def test_the_trl_module_imports_only_the_standard_library(trl_module):
    tree = ast.parse(trl_module.read_text(encoding="utf-8"))
    imported = {
        alias.name.split(".")[0] for node in ast.walk(tree) if isinstance(node, ast.Import) for alias in node.names
    }
    imported |= {node.module.split(".")[0] for node in ast.walk(tree) if isinstance(node, ast.ImportFrom)}
    assert imported <= set(sys.stdlib_module_names)


def test_the_trl_module_runs_without_site_packages(trl_module):
    code = (
        "import sys; sys.path.insert(0, sys.argv[1]); from reward import reward; "
        'print(reward(prompts=[\'p\'], completions=[\'{"label": "login", "severity": "high", "note": "n."}\'], '
        "label=['login'], severity=['medium']))"
    )
    done = subprocess.run(
        [sys.executable, "-S", "-I", "-c", code, str(trl_module.parent)], capture_output=True, text=True
    )
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout) == [pytest.approx((1 + 2 / 3 + 1) / 3)]


def test_the_trl_reward_reads_conversational_completions(trl_module):
    from test_rft_parity import load_module

    reward = load_module(trl_module).reward
    answer = json.dumps({"label": "cancel", "severity": "low", "note": "n."})
    assert reward(
        prompts=[[{"role": "user", "content": "end it"}]],
        completions=[[{"role": "assistant", "content": answer}]],
        label=["cancel"],
        severity=["low"],
        completion_ids=[[1, 2]],
    ) == [1.0]


def test_the_trl_reward_names_a_missing_dataset_column(trl_module):
    from test_rft_parity import load_module

    with pytest.raises(KeyError, match="severity"):
        load_module(trl_module).reward(prompts=["p"], completions=["{}"], label=["cancel"])


def test_the_light_schema_check_tells_a_boolean_from_a_number():
    from evalkit.finetune.rewardcore import schema_error

    schema = {"type": "object", "properties": {"n": {"type": "number"}}}
    assert (schema_error({"n": 2.5}, schema), schema_error({"n": True}, schema)) == (
        None,
        "(root)/n is not of type number",
    )


def test_with_ignore_case_the_label_is_graded_by_a_python_grader_that_folds_case(write_suite, tmp_path):
    grader = grader_of(write_suite(fields={}, ignore_case=True, output_schema=None), tmp_path)
    answer = json.dumps({"label": "Billing"})
    assert grader["graders"]["label"]["type"] == "python"
    assert grade(grader, sample_for(answer), {"label": "billing"}) == 1.0
