"""`evalkit ft validate`: the OpenAI cookbook notebook's checks, token counts and billing figures."""

from __future__ import annotations

import json

import pytest

from conftest import needs_shared
from evalkit.cli import main
from evalkit.finetune.tokens import counter_for, default_epochs
from evalkit.finetune.validate import validate_file

SYSTEM = {"role": "system", "content": "You are terse."}
USER = {"role": "user", "content": "Hello there"}
ASSISTANT = {"role": "assistant", "content": "Hi."}


def write_jsonl(path, records) -> str:
    path.write_text("".join((r if isinstance(r, str) else json.dumps(r)) + "\n" for r in records), encoding="utf-8")
    return str(path)


# The reference figures are the printed outputs of the cookbook notebook
# examples/Chat_finetuning_data_prep.ipynb (openai/openai-cookbook, commit 2e652704bf3d),
# run on examples/data/toy_chat_fine_tuning.jsonl (the file in ../shared/datasets/openai_cookbook_toy):
#   Num examples: 5 / No errors found
#   Num examples missing system message: 1 / Num examples missing user message: 1
#   num_messages_per_example:      min / max: 2, 9        mean / median: 3.8, 3.0        "p5 / p95": 2.0, 6.6000000000000005  # noqa: E501 - verbatim
#   num_total_tokens_per_example:  min / max: 26, 8032    mean / median: 1648.4, 45.0    "p5 / p95": 26.8, 4863.6
#   num_assistant_tokens_per_example: min / max: 4, 8000 mean / median: 1610.2, 10.0    "p5 / p95": 6.0, 4811.200000000001  # noqa: E501 - verbatim
#   1 examples may be over the 4096 token limit
#   Dataset has ~4306 tokens that will be charged for during training
#   By default, you'll train for 20 epochs on this dataset
#   By default, you'll be charged for ~86120 tokens
# (the notebook labels its 10th and 90th percentiles "p5 / p95": it calls np.quantile(values, 0.1 / 0.9)).


@pytest.fixture
def toy_report():
    return validate_file(needs_shared("openai_cookbook_toy", "toy_chat_fine_tuning.jsonl"))


def test_toy_file_has_the_notebooks_example_count_and_no_errors(toy_report):
    assert toy_report.n_examples == 5
    assert toy_report.errors == []


def test_toy_file_has_the_notebooks_missing_system_and_user_counts(toy_report):
    assert (toy_report.missing_system, toy_report.missing_user) == (1, 1)


def test_toy_file_token_distribution_equals_the_notebooks(toy_report):
    d = toy_report.to_dict()["distributions"]
    assert d["messages_per_example"] == {
        "min": 2,
        "max": 9,
        "mean": 3.8,
        "median": 3.0,
        "p10": 2.0,
        "p90": pytest.approx(6.6),
    }
    assert d["tokens_per_example"] == {"min": 26, "max": 8032, "mean": pytest.approx(1648.4), "median": 45.0,
                                       "p10": pytest.approx(26.8), "p90": pytest.approx(4863.6)}
    assert d["assistant_tokens_per_example"] == {"min": 4, "max": 8000, "mean": pytest.approx(1610.2), "median": 10.0,
                                                 "p10": pytest.approx(6.0), "p90": pytest.approx(4811.2)}


def test_toy_file_billing_equals_the_notebooks(toy_report):
    assert toy_report.over_limit_lines == [5]
    assert (toy_report.billed_tokens, toy_report.default_epochs, toy_report.charged_tokens) == (4306, 20, 86120)


def test_toy_file_warnings_name_their_lines(toy_report):
    assert [(w.line, w.kind) for w in toy_report.warnings] == [
        (3, "missing_system_message"), (4, "missing_user_message"), (5, "over_token_limit")]


@pytest.mark.parametrize("record, kind", [
    ("[1, 2]", "data_type"),
    ({"prompt": "x"}, "missing_messages_list"),
    ({"messages": [SYSTEM, {"role": "user"}, ASSISTANT]}, "message_missing_key"),
    ({"messages": [USER, {**ASSISTANT, "mood": "happy"}]}, "message_unrecognized_key"),
    ({"messages": [{"role": "robot", "content": "beep"}, ASSISTANT]}, "unrecognized_role"),
    ({"messages": [{"role": "user", "content": ""}, ASSISTANT]}, "missing_content"),
    ({"messages": [SYSTEM, USER]}, "example_missing_assistant_message"),
    ("{not json", "invalid_json"),
])
def test_each_notebook_check_reports_its_error_kind_on_its_line(tmp_path, record, kind):
    path = write_jsonl(tmp_path / "train.jsonl", [{"messages": [SYSTEM, USER, ASSISTANT]}, record])
    report = validate_file(path, "openai-chat")
    assert kind in {e.kind for e in report.errors}
    assert {e.line for e in report.errors} == {2}


def test_errors_are_counted_per_offending_message_as_the_notebook_counts(tmp_path):
    bad = {"messages": [{"role": "user", "content": None}, {"role": "assistant", "content": 3}]}
    report = validate_file(write_jsonl(tmp_path / "t.jsonl", [bad]), "openai-chat")
    assert report.error_counts == {"missing_content": 2}


def test_validate_exits_1_on_format_errors_and_prints_the_line(tmp_path, capsys):
    path = write_jsonl(tmp_path / "t.jsonl", [{"messages": [SYSTEM, USER, ASSISTANT]}, {"messages": [USER]}])
    assert main(["ft", "validate", path]) == 1
    assert "line 2: example_missing_assistant_message" in capsys.readouterr().out


def test_validate_exits_0_on_a_clean_file(tmp_path):
    assert main(["ft", "validate", write_jsonl(tmp_path / "t.jsonl", [{"messages": [SYSTEM, USER, ASSISTANT]}])]) == 0


def test_validate_json_carries_the_billing_figures(tmp_path, capsys):
    path = write_jsonl(tmp_path / "t.jsonl", [{"messages": [SYSTEM, USER, ASSISTANT]}] * 10)
    main(["ft", "validate", path, "--json"])
    data = json.loads(capsys.readouterr().out)
    assert data["default_epochs"] == 10 and data["charged_tokens"] == 10 * data["billed_tokens"]


def test_a_model_picks_its_encoding_and_training_limit():
    assert (counter_for("gpt-4o-mini-2024-07-18").encoding, counter_for("gpt-4o-mini-2024-07-18").limit) == (
        "o200k_base",
        65_536,
    )
    assert counter_for("openai:gpt-3.5-turbo-0125").encoding == "cl100k_base"
    assert counter_for(None).limit == 4096


def test_a_model_from_another_provider_is_counted_approximately():
    assert counter_for("together:meta-llama/Meta-Llama-3.1-8B-Instruct-Reference").approximate


def test_with_a_model_a_long_example_is_no_longer_over_the_limit(tmp_path):
    long = {"messages": [USER, {"role": "assistant", "content": "word " * 5000}]}
    path = write_jsonl(tmp_path / "t.jsonl", [long])
    assert validate_file(path).over_limit_lines == [1]
    assert validate_file(path, model="gpt-4.1-mini").over_limit_lines == []


@pytest.mark.parametrize("n, epochs", [(5, 20), (3, 25), (34, 3), (100, 3), (9000, 2), (30000, 1)])
def test_default_epochs_follow_the_notebooks_rule(n, epochs):
    assert default_epochs(n) == epochs


def test_the_format_is_guessed_from_the_first_line(tmp_path):
    record = {"contents": [{"role": "user", "parts": [{"text": "hi"}]}, {"role": "model", "parts": [{"text": "yo"}]}]}
    assert validate_file(write_jsonl(tmp_path / "t.jsonl", [record])).format == "vertex-gemini"


def test_vertex_checks_roles_and_parts(tmp_path):
    record = {"contents": [{"role": "assistant", "parts": [{"text": "hi"}]}, {"role": "model", "parts": []}]}
    report = validate_file(write_jsonl(tmp_path / "t.jsonl", [record]), "vertex-gemini")
    assert sorted(e.kind for e in report.errors) == ["missing_content", "unrecognized_role"]


def test_dpo_needs_one_assistant_message_in_each_output(tmp_path):
    record = {"input": {"messages": [USER]}, "preferred_output": [ASSISTANT], "non_preferred_output": []}
    report = validate_file(write_jsonl(tmp_path / "t.jsonl", [record]), "openai-dpo")
    assert [e.kind for e in report.errors] == ["missing_output"]


def test_hf_chat_refuses_openai_only_keys(tmp_path):
    record = {"messages": [USER, {**ASSISTANT, "weight": 1}]}
    assert validate_file(write_jsonl(tmp_path / "t.jsonl", [record]), "openai-chat").ok
    assert [e.kind for e in validate_file(tmp_path / "t.jsonl", "hf-chat").errors] == ["message_unrecognized_key"]


def test_an_unknown_format_is_bad_input_naming_the_known_ones(tmp_path, capsys):
    path = write_jsonl(tmp_path / "t.jsonl", [{"messages": [USER, ASSISTANT]}])
    assert main(["ft", "validate", path, "--format", "alpaca"]) == 2
    assert "openai-chat" in capsys.readouterr().err
