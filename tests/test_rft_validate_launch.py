"""`ft validate` on RFT files, and `ft launch openai --method reinforcement` / `ft status` against the stub."""

from __future__ import annotations

import json

import pytest

from conftest import REPO
from evalkit.cli import main
from evalkit.suite import load_suite
from evalkit.testing import StubServer

EXAMPLE = REPO / "evals" / "support_triage.yaml"


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    folder = tmp_path_factory.mktemp("rft_export")
    assert main(["ft", "export", str(EXAMPLE), "--format", "openai-rft", "--out", str(folder / "train.jsonl"),
                 "--validation-out", str(folder / "val.jsonl"), "--grader-out", str(folder / "grader.json")]) == 0
    return folder


def validate(path, *extra):
    return main(["ft", "validate", str(path), *extra])


def rewritten(exported, tmp_path, change):
    records = [json.loads(line) for line in (exported / "train.jsonl").read_text(encoding="utf-8").splitlines()]
    change(records)
    path = tmp_path / "changed.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in records), encoding="utf-8")
    return path


# ---------------------------------------------------------------- validate


def test_validate_accepts_the_export(exported, capsys):
    assert validate(exported / "train.jsonl", "--validation", str(exported / "val.jsonl"), "--grader",
                    str(exported / "grader.json"), "--model", "o4-mini-2025-04-16") == 0
    out = capsys.readouterr().out
    assert "format openai-rft" in out and "No format errors" in out and "Warnings" not in out


def test_validate_rejects_a_line_whose_last_message_is_not_the_users(exported, tmp_path, capsys):
    def answer_first(records):
        records[2]["messages"].append({"role": "assistant", "content": '{"reason_code": "other"}'})

    assert validate(rewritten(exported, tmp_path, answer_first)) == 1
    assert "line 3: last_message_not_user" in capsys.readouterr().out


def test_validate_rejects_a_line_without_a_reference_field_the_others_have(exported, tmp_path, capsys):
    assert validate(rewritten(exported, tmp_path, lambda records: records[4].pop("severity"))) == 1
    assert "line 5: missing_reference_field" in capsys.readouterr().out


def test_validate_rejects_lines_without_the_field_the_grader_reads(exported, tmp_path, capsys):
    def drop_severity_everywhere(records):
        for record in records:
            record.pop("severity")

    assert (
        validate(rewritten(exported, tmp_path, drop_severity_everywhere), "--grader", str(exported / "grader.json"))
        == 1
    )
    assert "no reference field 'severity'" in capsys.readouterr().out


def test_validate_warns_when_the_model_does_not_reason(exported, capsys):
    assert (
        validate(exported / "train.jsonl", "--validation", str(exported / "val.jsonl"), "--model", "gpt-4.1-mini") == 0
    )
    assert "not_a_reasoning_model" in capsys.readouterr().out


def test_validate_warns_without_a_validation_file(exported, capsys):
    assert validate(exported / "train.jsonl", "--model", "o4-mini") == 0
    assert "no_validation_file" in capsys.readouterr().out


# ---------------------------------------------------------------- launch and status


@pytest.fixture
def stub():
    with StubServer() as server:
        yield server


@pytest.fixture
def env(monkeypatch, tmp_path):
    monkeypatch.setenv("OPENAI_API_KEY", "sk-secret-openai")
    monkeypatch.setenv("EVALKIT_HOME", str(tmp_path / "home"))
    monkeypatch.delenv("OPENAI_BASE_URL", raising=False)


def launch(exported, base_url, *extra):
    return main(["ft", "launch", str(exported / "train.jsonl"), "--provider", "openai", "--model", "o4-mini-2025-04-16",
                 "--base-url", base_url, *extra])


def jobs(stub, path="/v1/fine_tuning/jobs"):
    return [r["json"] for r in stub.requests if r["method"] == "POST" and r["path"] == path]


def test_launch_by_reinforcement_sends_the_grader_with_the_job(stub, env, exported):
    grader = json.loads((exported / "grader.json").read_text(encoding="utf-8"))
    assert (
        launch(
            exported,
            stub.base_url_openai,
            "--method",
            "reinforcement",
            "--validation",
            str(exported / "val.jsonl"),
            "--grader",
            str(exported / "grader.json"),
        )
        == 0
    )
    [job] = jobs(stub)
    assert job["method"] == {"type": "reinforcement", "reinforcement": {"hyperparameters": {}, "grader": grader}}
    assert job["validation_file"] == "file-stub2"


def test_launch_builds_the_grader_from_the_suite_when_none_is_given(stub, env, exported, tmp_path):
    assert (
        launch(exported, stub.base_url_openai, "--validation", str(exported / "val.jsonl"), "--suite", str(EXAMPLE))
        == 0
    )
    assert jobs(stub)[0]["method"]["reinforcement"]["grader"] == json.loads(
        (exported / "grader.json").read_text(encoding="utf-8")
    )


def test_launch_reaches_an_azure_openai_v1_endpoint(stub, env, exported):
    assert launch(exported, stub.url + "/openai/v1", "--validation", str(exported / "val.jsonl"),
                  "--grader", str(exported / "grader.json")) == 0
    assert jobs(stub, "/openai/v1/fine_tuning/jobs")[0]["method"]["type"] == "reinforcement"


def test_launch_by_reinforcement_needs_a_validation_file(stub, env, exported, capsys):
    assert launch(exported, stub.base_url_openai, "--grader", str(exported / "grader.json")) == 2
    assert "--validation" in capsys.readouterr().err and not jobs(stub)


def test_launch_refuses_a_method_the_file_does_not_train(stub, env, exported, capsys):
    assert (
        launch(exported, stub.base_url_openai, "--method", "supervised", "--validation", str(exported / "val.jsonl"))
        == 2
    )
    assert "--method supervised" in capsys.readouterr().err


def test_status_registers_the_reinforcement_tuned_model_in_the_route(stub, env, exported, tmp_path):
    suite = tmp_path / "suite.yaml"
    suite.write_text(EXAMPLE.read_text(encoding="utf-8").replace("../datasets/", str(REPO / "datasets") + "/")
                     + "allow_outside_paths: true\n", encoding="utf-8")
    assert launch(exported, stub.base_url_openai, "--validation", str(exported / "val.jsonl"),
                  "--grader", str(exported / "grader.json"), "--suite", str(suite)) == 0
    assert main(["ft", "status", "ftjob-stub1", "--provider", "openai", "--base-url", stub.base_url_openai,
                 "--wait", "--interval", "0"]) == 0
    route = load_suite(suite).spec.routes["tuned"]
    assert (route.model, route.base_model) == ("openai:ft:o4-mini-2025-04-16:stub-org::stub1", "o4-mini-2025-04-16")


def test_the_stub_refuses_a_reinforcement_job_without_a_grader(stub, env, exported):
    import openai

    client = openai.OpenAI(api_key="sk-x", base_url=stub.base_url_openai)
    with (exported / "train.jsonl").open("rb") as handle:
        file_id = client.files.create(file=("t.jsonl", handle), purpose="fine-tune").id
    with pytest.raises(openai.BadRequestError, match="grader"):
        client.fine_tuning.jobs.create(model="o4-mini", training_file=file_id, method={"type": "reinforcement"})
