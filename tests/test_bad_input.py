"""Bad input stops the run before any call, exits 2, and names the file, line or key."""

from __future__ import annotations

import pytest

from conftest import HOLDOUT, TRAIN, make_case
from evalkit.cli import main
from evalkit.errors import BadInput


def run_cli(capsys, *args: str) -> tuple[int, str]:
    code = main(["run", *args, "--no-progress"])
    err = capsys.readouterr().err
    return code, err


def test_missing_suite_file_names_the_file(tmp_path, capsys):
    code, err = run_cli(capsys, str(tmp_path / "nope.yaml"))
    assert code == 2
    assert "nope.yaml" in err and "not found" in err
    assert "Traceback" not in err


def test_yaml_syntax_error_names_the_line(tmp_path, capsys):
    path = tmp_path / "suite.yaml"
    path.write_text("name: x\ntask:\n  labels: [a, b\nroutes: {}\n")
    code, err = run_cli(capsys, str(path))
    assert code == 2
    assert f"{path}:4" in err and "invalid YAML" in err


def test_unknown_key_names_the_key_its_line_and_the_nearest_known_key(make_suite, capsys):
    path = make_suite(routes={"base": {"kind": "base", "model": "mock:expected", "promt": "{{ input }}"}})
    code, err = run_cli(capsys, str(path))
    assert code == 2
    assert "routes.base.promt" in err and "did you mean 'prompt'" in err
    line = next(i for i, text in enumerate(path.read_text().splitlines(), 1) if "promt" in text)
    assert f"suite.yaml:{line}" in err


def test_missing_case_file_names_it(make_suite, capsys):
    path = make_suite(cases="missing.jsonl")
    code, err = run_cli(capsys, str(path))
    assert code == 2 and "missing.jsonl" in err and "not found" in err


def test_case_json_syntax_error_names_the_line(make_suite, tmp_path, capsys):
    path = make_suite()
    with (tmp_path / "cases.jsonl").open("a") as handle:
        handle.write('{"id": "broken", "input": "x"\n')
    code, err = run_cli(capsys, str(path))
    assert code == 2
    assert f"cases.jsonl:{len(TRAIN + HOLDOUT) + 1}" in err and "invalid JSON" in err


def test_duplicate_case_id_names_both_places(make_suite, tmp_path, capsys):
    path = make_suite(TRAIN + HOLDOUT + [make_case("h1", "cancellation", "another text")])
    code, err = run_cli(capsys, str(path))
    assert code == 2
    assert "duplicate case id 'h1'" in err and "cases.jsonl:7" in err and "cases.jsonl:11" in err


def test_label_outside_the_set_is_an_error(make_suite, capsys):
    path = make_suite(TRAIN + HOLDOUT + [make_case("h9", "refund_request", "money back")])
    code, err = run_cli(capsys, str(path))
    assert code == 2 and "'refund_request' is not in task.labels" in err and "cases.jsonl:11" in err


def test_template_field_the_case_lacks_names_route_case_and_field(make_suite, capsys):
    path = make_suite(routes={"base": {"kind": "base", "model": "mock:expected", "prompt": "{{ subject }}"}})
    code, err = run_cli(capsys, str(path))
    assert code == 2
    assert "route 'base'" in err and "case 'h1'" in err and "'subject' is undefined" in err


def test_a_template_expression_that_fails_is_bad_input_not_a_traceback(make_suite, capsys):
    path = make_suite(routes={"base": {"kind": "base", "model": "mock:expected", "prompt": "{{ input }} {{ 1 / 0 }}"}})
    code, err = run_cli(capsys, str(path))
    assert code == 2 and "route 'base'" in err and "ZeroDivisionError" in err and "Traceback" not in err


def test_a_retrieval_overlap_as_long_as_its_chunks_is_bad_input(make_suite, capsys):
    routes = {"rag": {"kind": "rag", "model": "mock:expected", "retrieval": {"chunk_chars": 100, "overlap": 100}}}
    code, err = run_cli(capsys, str(make_suite(routes=routes, corpus="cases.jsonl")))
    assert code == 2 and "overlap (100) must be smaller than chunk_chars (100)" in err


def test_empty_case_file_is_an_error(make_suite, tmp_path, capsys):
    path = make_suite()
    (tmp_path / "cases.jsonl").write_text("")
    code, err = run_cli(capsys, str(path))
    assert code == 2 and "holds no cases" in err


def test_train_case_equal_to_a_holdout_case_is_an_error(make_suite, capsys):
    path = make_suite(TRAIN + HOLDOUT + [make_case("t9", "billing_dispute", "I was  CHARGED twice!", split="train")])
    code, err = run_cli(capsys, str(path))
    assert code == 2 and "same text as holdout case 'h1'" in err


def test_every_train_case_repeating_a_holdout_case_is_counted_in_one_message(make_suite, capsys):
    twins = [make_case(f"t9{i}", "billing_dispute", "I was  CHARGED twice!", split="train") for i in range(3)]
    code, err = run_cli(capsys, str(make_suite(TRAIN + HOLDOUT + twins)))
    assert code == 2 and "2 more train cases repeat a holdout case" in err


def test_unknown_provider_is_bad_input(make_suite, capsys):
    path = make_suite(routes={"base": {"kind": "base", "model": "nosuch:model"}})
    code, err = run_cli(capsys, str(path))
    assert code == 2 and "unknown provider 'nosuch'" in err


def test_missing_api_key_names_the_variable_and_offline(make_suite, monkeypatch, capsys):
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    path = make_suite(routes={"base": {"kind": "base", "model": "openai:gpt-4.1-mini"}})
    code, err = run_cli(capsys, str(path))
    assert code == 2
    assert "OPENAI_API_KEY" in err and "--offline" in err


def test_no_output_folder_is_written_on_bad_input(make_suite, tmp_path, capsys):
    path = make_suite(routes={"base": {"kind": "base", "model": "mock:expected", "prompt": "{{ nothing }}"}})
    code, _ = run_cli(capsys, str(path), "--out", str(tmp_path / "run"))
    assert code == 2 and not (tmp_path / "run").exists()


def test_debug_shows_the_traceback(tmp_path):
    with pytest.raises(BadInput):
        main(["--debug", "run", str(tmp_path / "nope.yaml")])
