"""`evalkit ft export`: the train split as a training file that sees exactly what inference sees."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest

from conftest import HOLDOUT, REPO, TRAIN
from evalkit.cli import main
from evalkit.errors import BadInput
from evalkit.finetune.export import export_training_data
from evalkit.finetune.validate import validate_file
from evalkit.planning import build_plans
from evalkit.routes import serialise_expected
from evalkit.suite import load_suite

TUNED = {"kind": "finetuned", "model": "mock:expected", "system": "Triage tickets.", "prompt": "Ticket: {{ input }}"}
EXAMPLE_SUITE = REPO / "evals" / "support_triage.yaml"


def read_jsonl(path) -> list[dict]:
    return [json.loads(line) for line in Path(path).read_text(encoding="utf-8").splitlines()]


@pytest.fixture
def tuned_suite(make_suite):
    return load_suite(make_suite(routes={"tuned": TUNED}))


def test_each_example_is_the_routes_prompt_and_the_serialised_expected_answer(tuned_suite, tmp_path):
    export_training_data(tuned_suite, tmp_path / "train.jsonl")
    plan = build_plans(tuned_suite, ["tuned"])["tuned"]
    expected = [
        {"messages": [*plan.render(c).messages, {"role": "assistant", "content": serialise_expected(c, tuned_suite)}]}
        for c in tuned_suite.train
    ]
    assert read_jsonl(tmp_path / "train.jsonl") == expected


def test_the_assistant_message_is_json_as_the_output_schema_wants(tuned_suite, tmp_path):
    export_training_data(tuned_suite, tmp_path / "train.jsonl")
    assert read_jsonl(tmp_path / "train.jsonl")[0]["messages"][-1]["content"] == '{"label": "billing_dispute"}'


def test_holdout_cases_are_never_exported(tuned_suite, tmp_path):
    export_training_data(tuned_suite, tmp_path / "train.jsonl")
    text = (tmp_path / "train.jsonl").read_text()
    assert len(read_jsonl(tmp_path / "train.jsonl")) == len(TRAIN)
    assert not any(case["input"] in text for case in HOLDOUT)


def test_a_route_without_examples_exports_no_examples(tuned_suite, tmp_path):
    export_training_data(tuned_suite, tmp_path / "train.jsonl")
    assert all(
        len(r["messages"]) == 3 and "Example" not in r["messages"][0]["content"]
        for r in read_jsonl(tmp_path / "train.jsonl")
    )


def test_a_tuned_route_with_few_shot_examples_never_shows_a_case_its_own_answer(make_suite, tmp_path):
    suite = load_suite(make_suite(routes={"tuned": {**TUNED, "examples": {"k": 2, "strategy": "similar"}}}))
    export_training_data(suite, tmp_path / "train.jsonl")
    for case, record in zip(suite.train, read_jsonl(tmp_path / "train.jsonl")):
        system = record["messages"][0]["content"]
        assert "Example 2" in system and case.input not in system


def test_the_validation_file_is_carved_from_the_train_split(tuned_suite, tmp_path):
    result = export_training_data(tuned_suite, tmp_path / "train.jsonl", validation_out=tmp_path / "val.jsonl",
                                  validation_fraction=0.5, seed=3)
    train, val = read_jsonl(tmp_path / "train.jsonl"), read_jsonl(tmp_path / "val.jsonl")
    assert (len(train), len(val)) == (result.n_examples, result.n_validation) == (3, 3)
    assert not {json.dumps(r) for r in train} & {json.dumps(r) for r in val}


def test_preference_export_takes_the_cases_with_a_rejected_answer(make_suite, tmp_path):
    cases = [{**c, "rejected": "cancellation"} if c["id"] == "t1" else c for c in TRAIN] + HOLDOUT
    suite = load_suite(make_suite(cases, routes={"tuned": TUNED}))
    result = export_training_data(suite, tmp_path / "dpo.jsonl", fmt="openai-dpo")
    [record] = read_jsonl(tmp_path / "dpo.jsonl")
    assert record["preferred_output"] == [{"role": "assistant", "content": '{"label": "billing_dispute"}'}]
    assert record["non_preferred_output"] == [{"role": "assistant", "content": '{"label": "cancellation"}'}]
    assert len(result.skipped) == len(TRAIN) - 1


def test_preference_export_without_rejected_answers_is_bad_input(tuned_suite, tmp_path):
    with pytest.raises(BadInput, match="rejected"):
        export_training_data(tuned_suite, tmp_path / "dpo.jsonl", fmt="openai-dpo")


def test_a_suite_with_several_finetuned_routes_needs_route(make_suite, tmp_path):
    suite = load_suite(make_suite(routes={"a": TUNED, "b": TUNED}))
    with pytest.raises(BadInput, match="--route"):
        export_training_data(suite, tmp_path / "train.jsonl")


def test_the_command_prints_the_files_sha256(make_suite, tmp_path, capsys):
    suite_path = make_suite(routes={"tuned": TUNED})
    assert main(["ft", "export", str(suite_path), "--out", str(tmp_path / "train.jsonl")]) == 0
    digest = hashlib.sha256((tmp_path / "train.jsonl").read_bytes()).hexdigest()
    assert f"sha256 {digest}" in capsys.readouterr().out


# ---------------------------------------------------------------- the example suite, every format


EXAMPLE_DATASET = REPO / "datasets" / "support_triage"


@pytest.fixture(scope="module")
def example_suite():
    """The shipped example suite as it is: its train cases carry their own `rejected` answers."""
    if not (EXAMPLE_DATASET / "cases.jsonl").exists():
        pytest.skip("the example dataset datasets/support_triage is not there yet")
    return load_suite(EXAMPLE_SUITE)


def shipped_cases_with_rejected() -> list[dict]:
    return [case for case in read_jsonl(EXAMPLE_DATASET / "cases.jsonl") if "rejected" in case]


@pytest.mark.parametrize("fmt", ["openai-chat", "openai-dpo", "hf-chat", "vertex-gemini"])
def test_export_then_validate_round_trips_with_no_error_on_the_example_suite(example_suite, tmp_path, fmt):
    result = export_training_data(
        example_suite, tmp_path / f"{fmt}.jsonl", fmt=fmt, validation_out=tmp_path / "val.jsonl"
    )
    for path in (result.path, result.validation_path):
        report = validate_file(path, fmt)
        assert report.errors == [] and report.n_examples > 0


def test_the_example_suite_exports_every_train_case(example_suite, tmp_path):
    result = export_training_data(example_suite, tmp_path / "train.jsonl", validation_out=tmp_path / "val.jsonl")
    assert result.n_examples + result.n_validation == len(example_suite.train)


def test_the_preference_export_of_the_example_suite_takes_exactly_the_train_cases_with_rejected(
    example_suite, tmp_path
):
    shipped = shipped_cases_with_rejected()
    train_ids = [case["id"] for case in read_jsonl(EXAMPLE_DATASET / "cases.jsonl") if case["split"] == "train"]
    result = export_training_data(example_suite, tmp_path / "dpo.jsonl", fmt="openai-dpo")
    records = read_jsonl(tmp_path / "dpo.jsonl")
    assert result.n_examples == len(records) == len(shipped) >= 40
    assert result.skipped == [case_id for case_id in train_ids if case_id not in {c["id"] for c in shipped}]
    assert [(r["preferred_output"][0]["content"], r["non_preferred_output"][0]["content"]) for r in records] == [
        (json.dumps(c["expected"], ensure_ascii=False), json.dumps(c["rejected"], ensure_ascii=False)) for c in shipped]


def test_every_shipped_rejected_answer_fits_the_output_schema_and_names_another_label(example_suite):
    import jsonschema

    schema = json.loads((EXAMPLE_DATASET / "output_schema.json").read_text(encoding="utf-8"))
    labels = set(example_suite.spec.task.labels)
    shipped = shipped_cases_with_rejected()
    assert shipped and all(case["split"] == "train" for case in shipped)
    for case in shipped:
        jsonschema.validate(case["rejected"], schema)
        assert (
            case["rejected"]["reason_code"] in labels
            and case["rejected"]["reason_code"] != case["expected"]["reason_code"]
        ), case["id"]


def test_the_command_exports_the_shipped_example_suite(tmp_path):
    if not (REPO / "datasets" / "support_triage" / "cases.jsonl").exists():
        pytest.skip("the example dataset datasets/support_triage is not there yet")
    assert main(["ft", "export", str(EXAMPLE_SUITE), "--out", str(tmp_path / "t.jsonl"), "--format", "hf-chat"]) == 0
    assert main(["ft", "validate", str(tmp_path / "t.jsonl"), "--format", "hf-chat"]) == 0



def test_a_zero_leakage_threshold_is_refused_not_replaced_by_the_default(tuned_suite, tmp_path):
    with pytest.raises(BadInput, match="threshold"):
        export_training_data(tuned_suite, tmp_path / "train.jsonl", threshold=0.0)
    assert not (tmp_path / "train.jsonl").exists()


def test_a_bad_validation_fraction_names_its_own_option(tuned_suite, tmp_path):
    with pytest.raises(BadInput, match="--validation-fraction"):
        export_training_data(tuned_suite, tmp_path / "train.jsonl", validation_out=tmp_path / "valid.jsonl",
                             validation_fraction=1.5)
