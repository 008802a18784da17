"""`evalkit ft leakage`: holdout cases that also sit in the training data; export refuses them."""

from __future__ import annotations

import json

import pytest

from conftest import HOLDOUT, TRAIN, make_case
from evalkit.cli import main
from evalkit.finetune.export import LeakageFound, export_training_data
from evalkit.finetune.leakage import Text, find_leaks, suite_leaks
from evalkit.suite import load_suite

TUNED = {"kind": "finetuned", "model": "mock:expected", "system": "Triage.", "prompt": "Ticket: {{ input }}"}
HOLDOUT_TEXT = (
    "My invoice for March shows the Team plan charged twice on the same day, please refund one of the two charges."
)
NEAR_COPY = (
    "my invoice for March shows the Team plan was charged twice on the same day; please refund one of those two charges"
)


@pytest.fixture
def leaky_suite(make_suite):
    """A suite whose train split holds a near copy (a word added, one changed, punctuation) of a holdout case."""
    cases = [*TRAIN, make_case("t-copy", "billing_dispute", NEAR_COPY, split="train"),
             *HOLDOUT, make_case("h-invoice", "billing_dispute", HOLDOUT_TEXT)]
    return make_suite(cases, routes={"tuned": TUNED})


def test_a_near_copy_in_the_train_split_is_caught(leaky_suite):
    [leak] = suite_leaks(load_suite(leaky_suite))
    assert (leak.holdout_id, leak.other_id, leak.match) == ("h-invoice", "t-copy", "near")
    assert leak.similarity >= 0.9


def test_distinct_cases_on_the_same_topic_are_not_leaks(make_suite):
    assert suite_leaks(load_suite(make_suite(routes={"tuned": TUNED}))) == []


def test_a_higher_threshold_lets_the_near_copy_pass(leaky_suite):
    assert suite_leaks(load_suite(leaky_suite), threshold=0.99) == []


def test_equal_normalised_text_is_an_exact_leak():
    [leak] = find_leaks([Text("h", "Refund me, NOW!")], [Text("t", "refund me now")])
    assert (leak.match, leak.similarity) == ("exact", 1.0)


def test_export_refuses_a_leaky_suite(leaky_suite, tmp_path):
    with pytest.raises(LeakageFound, match="h-invoice"):
        export_training_data(load_suite(leaky_suite), tmp_path / "train.jsonl")
    assert not (tmp_path / "train.jsonl").exists()


def test_export_command_refuses_with_exit_2_and_one_line(leaky_suite, tmp_path, capsys):
    assert main(["ft", "export", str(leaky_suite), "--out", str(tmp_path / "train.jsonl")]) == 2
    err = capsys.readouterr().err
    assert "refusing to export" in err and "--allow-leakage" in err and len(err.strip().splitlines()) == 1


def test_allow_leakage_writes_and_warns(leaky_suite, tmp_path, capsys):
    assert main(["ft", "export", str(leaky_suite), "--out", str(tmp_path / "train.jsonl"), "--allow-leakage"]) == 0
    assert (tmp_path / "train.jsonl").exists() and "t-copy" in capsys.readouterr().err


def test_leakage_command_lists_the_pair_and_exits_1(leaky_suite, capsys):
    assert main(["ft", "leakage", str(leaky_suite)]) == 1
    out = capsys.readouterr().out
    assert "h-invoice" in out and "t-copy" in out


def test_leakage_command_exits_0_when_clean(make_suite):
    assert main(["ft", "leakage", str(make_suite(routes={"tuned": TUNED}))]) == 0


def test_a_training_file_holding_a_holdout_prompt_is_caught_with_its_line(make_suite, tmp_path, capsys):
    suite_path = make_suite(routes={"tuned": TUNED})
    records = [
        {
            "messages": [
                {"role": "user", "content": "Ticket: something else entirely"},
                {"role": "assistant", "content": "x"},
            ]
        },
        {
            "messages": [
                {"role": "system", "content": "Triage."},
                {"role": "user", "content": f"Ticket: {HOLDOUT[2]['input']}"},
                {"role": "assistant", "content": "x"},
            ]
        },
    ]
    training = tmp_path / "external.jsonl"
    training.write_text("".join(json.dumps(r) + "\n" for r in records), encoding="utf-8")
    assert main(["ft", "leakage", str(suite_path), "--training-file", str(training), "--json"]) == 1
    [leak] = json.loads(capsys.readouterr().out)
    assert (leak["holdout_id"], leak["source"], leak["kind"]) == ("h3", f"{training}:2", "exact")
