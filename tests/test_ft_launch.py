"""`evalkit ft launch` / `status` against the local stub of OpenAI's and Together's fine-tuning APIs."""

from __future__ import annotations

import hashlib
import json

import pytest

from conftest import HOLDOUT, TRAIN, write_cases
from evalkit.cli import main
from evalkit.suite import load_suite
from evalkit.testing import StubServer

RECORD = {"messages": [{"role": "system", "content": "Triage."}, {"role": "user", "content": "I was charged twice"},
                       {"role": "assistant", "content": '{"label": "billing_dispute"}'}]}
SUITE = """\
# The tuned route is filled in by `evalkit ft status`.
name: tiny
task:
  labels: [billing_dispute, cancellation, login_failure]
  output_format: text
cases: cases.jsonl
routes:
  base:
    kind: base
    model: mock:expected
  tuned:  # the candidate
    kind: finetuned
    model: openai:ft:placeholder  # replaced when the job succeeds
    system: Triage.
gate:
  candidate: tuned
"""


@pytest.fixture
def stub():
    with StubServer() as server:
        yield server


@pytest.fixture
def env(monkeypatch, tmp_path):
    monkeypatch.setenv("OPENAI_API_KEY", "sk-secret-openai")
    monkeypatch.setenv("TOGETHER_API_KEY", "tg-secret-together")
    monkeypatch.setenv("EVALKIT_HOME", str(tmp_path / "home"))
    monkeypatch.delenv("OPENAI_BASE_URL", raising=False)
    monkeypatch.delenv("TOGETHER_BASE_URL", raising=False)


@pytest.fixture
def train(tmp_path):
    path = tmp_path / "train.jsonl"
    path.write_text((json.dumps(RECORD) + "\n") * 12, encoding="utf-8")
    return path


@pytest.fixture
def suite(tmp_path):
    write_cases(tmp_path / "cases.jsonl", TRAIN + HOLDOUT)
    path = tmp_path / "suite.yaml"
    path.write_text(SUITE, encoding="utf-8")
    return path


def openai_launch(stub, train, *extra):
    return main(["ft", "launch", str(train), "--provider", "openai", "--model", "gpt-4o-mini-2024-07-18",
                 "--base-url", stub.base_url_openai, *extra])


def together_launch(stub, train, *extra):
    return main(
        [
            "ft",
            "launch",
            str(train),
            "--provider",
            "together",
            "--model",
            "meta-llama/Meta-Llama-3.1-8B-Instruct-Reference",
            "--base-url",
            stub.url + "/v1",
            *extra,
        ]
    )


def status(stub, provider, job_id, *extra):
    base = stub.base_url_openai if provider == "openai" else stub.url + "/v1"
    return main(["ft", "status", job_id, "--provider", provider, "--base-url", base, *extra])


def posted(stub, path):
    return [r["json"] for r in stub.requests if r["method"] == "POST" and r["path"] == path]


# ---------------------------------------------------------------- OpenAI


def test_openai_launch_uploads_the_file_for_fine_tuning(stub, env, train):
    assert openai_launch(stub, train) == 0
    [upload] = posted(stub, "/v1/files")
    assert upload["purpose"] == "fine-tune"
    assert upload["file"]["content"] == train.read_text(encoding="utf-8")


def test_openai_launch_creates_the_job_with_model_suffix_and_epochs(stub, env, train):
    assert openai_launch(stub, train, "--suffix", "triage", "--epochs", "4") == 0
    [job] = posted(stub, "/v1/fine_tuning/jobs")
    assert (job["model"], job["training_file"], job["suffix"]) == ("gpt-4o-mini-2024-07-18", "file-stub1", "triage")
    assert job["method"] == {"type": "supervised", "supervised": {"hyperparameters": {"n_epochs": 4}}}


def test_openai_launch_uploads_the_validation_file_too(stub, env, train):
    assert openai_launch(stub, train, "--validation", str(train)) == 0
    [job] = posted(stub, "/v1/fine_tuning/jobs")
    assert job["validation_file"] == "file-stub2"


def test_a_preference_file_asks_for_dpo(stub, env, tmp_path):
    dpo = tmp_path / "dpo.jsonl"
    record = {"input": {"messages": RECORD["messages"][:2]}, "preferred_output": [RECORD["messages"][2]],
              "non_preferred_output": [{"role": "assistant", "content": '{"label": "cancellation"}'}]}
    dpo.write_text(json.dumps(record) + "\n", encoding="utf-8")
    assert openai_launch(stub, dpo) == 0
    assert posted(stub, "/v1/fine_tuning/jobs")[0]["method"]["type"] == "dpo"


def test_status_wait_writes_the_tuned_model_into_the_suites_route(stub, env, train, suite):
    assert openai_launch(stub, train, "--suite", str(suite)) == 0
    assert status(stub, "openai", "ftjob-stub1", "--wait", "--interval", "0") == 0
    route = load_suite(suite).spec.routes["tuned"]
    assert route.model == "openai:ft:gpt-4o-mini-2024-07-18:stub-org::stub1"
    assert (route.job_id, route.provider, route.base_model) == ("ftjob-stub1", "openai", "gpt-4o-mini-2024-07-18")
    assert route.training_file_sha256 == hashlib.sha256(train.read_bytes()).hexdigest()


def test_status_records_the_trained_tokens_and_their_cost_at_the_tables_training_price(stub, env, train, suite):
    openai_launch(stub, train, "--suite", str(suite))
    status(stub, "openai", "ftjob-stub1", "--wait", "--interval", "0")
    route = load_suite(suite).spec.routes["tuned"]
    # the stub reports 1,000 trained tokens; fine-tuning gpt-4o-mini costs $3.00 per million training tokens
    assert (route.trained_tokens, route.training_cost_usd) == (1000, pytest.approx(0.003))


def test_the_suites_own_training_price_wins_over_the_shipped_table(stub, env, train, suite):
    suite.write_text(
        SUITE + "pricing:\n  openai:ft:gpt-4o-mini: {input: 0.3, output: 1.2, training: 10.0}\n", encoding="utf-8"
    )
    openai_launch(stub, train, "--suite", str(suite))
    status(stub, "openai", "ftjob-stub1", "--wait", "--interval", "0")
    # 1,000 tokens at $10 per million
    assert load_suite(suite).spec.routes["tuned"].training_cost_usd == pytest.approx(0.01)


def test_status_edits_only_the_routes_lines_and_keeps_comments(stub, env, train, suite):
    openai_launch(stub, train, "--suite", str(suite))
    status(stub, "openai", "ftjob-stub1", "--wait", "--interval", "0")
    before, after = SUITE.splitlines(), suite.read_text(encoding="utf-8").splitlines()
    changed = [line for line in after if line not in before]
    assert [line.split(":")[0].strip() for line in changed] == [
        "model",
        "base_model",
        "job_id",
        "provider",
        "training_file_sha256",
        "trained_tokens",
        "training_cost_usd",
    ]
    assert "  tuned:  # the candidate" in after and after[0].startswith("# The tuned route")
    assert [line for line in before if line not in after] == [
        "    model: openai:ft:placeholder  # replaced when the job succeeds"
    ]


def test_status_prints_the_jobs_events(stub, env, train, capsys):
    openai_launch(stub, train)
    status(stub, "openai", "ftjob-stub1", "--wait", "--interval", "0")
    out = capsys.readouterr().out
    assert out.index("Created fine-tuning job") < out.index("Job is running") < out.index("Job is succeeded")


def test_status_print_shows_the_yaml_and_leaves_the_suite_alone(stub, env, train, suite, capsys):
    openai_launch(stub, train, "--suite", str(suite))
    assert status(stub, "openai", "ftjob-stub1", "--wait", "--interval", "0", "--print") == 0
    assert suite.read_text(encoding="utf-8") == SUITE
    assert "model: openai:ft:gpt-4o-mini-2024-07-18:stub-org::stub1" in capsys.readouterr().out


def test_status_without_wait_reports_a_running_job_and_writes_nothing(stub, env, train, suite, capsys):
    openai_launch(stub, train, "--suite", str(suite))
    assert status(stub, "openai", "ftjob-stub1") == 0
    assert "queued" in capsys.readouterr().out and suite.read_text(encoding="utf-8") == SUITE


def test_a_failed_job_exits_1_and_writes_nothing(stub, env, train, suite):
    stub.fine_tuning_outcome = "failed"
    openai_launch(stub, train, "--suite", str(suite))
    assert status(stub, "openai", "ftjob-stub1", "--wait", "--interval", "0") == 1
    assert suite.read_text(encoding="utf-8") == SUITE


# ---------------------------------------------------------------- refusals and bad input


def test_an_organisation_refused_by_openai_gets_one_line_and_exit_2(stub, env, train, capsys):
    stub.fine_tuning_refusal = (403, "This organization is not allowed to create new fine-tuning jobs.")
    assert openai_launch(stub, train) == 2
    err = capsys.readouterr().err
    assert err.strip().splitlines() == [
        "evalkit: error: openai refused to create a fine-tuning job on gpt-4o-mini-2024-07-18: "
        "This organization is not allowed to create new fine-tuning jobs. (HTTP 403)"
    ]


def test_a_model_not_offered_for_tuning_by_together_gets_one_line_and_exit_2(stub, env, train, capsys):
    stub.fine_tunable_models = {"Qwen/Qwen3-8B"}
    assert together_launch(stub, train) == 2
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1 and "not available for fine-tuning" in err and "Traceback" not in err


def test_a_missing_key_is_bad_input_naming_the_variable_and_nothing_is_sent(stub, env, train, monkeypatch, capsys):
    monkeypatch.delenv("TOGETHER_API_KEY")
    assert together_launch(stub, train) == 2
    assert "TOGETHER_API_KEY" in capsys.readouterr().err and stub.request_count == 0


def test_a_file_with_format_errors_is_never_uploaded(stub, env, tmp_path, capsys):
    bad = tmp_path / "bad.jsonl"
    bad.write_text(json.dumps({"messages": [{"role": "user", "content": "hi"}]}) + "\n", encoding="utf-8")
    assert openai_launch(stub, bad) == 2
    assert "format error" in capsys.readouterr().err and stub.request_count == 0


def test_an_unreachable_provider_exits_3(env, train):
    assert (
        main(
            [
                "ft",
                "launch",
                str(train),
                "--provider",
                "together",
                "--model",
                "m",
                "--base-url",
                "http://127.0.0.1:9/v1",
            ]
        )
        == 3
    )


def test_an_unknown_provider_is_bad_input(env, train, capsys):
    assert main(["ft", "launch", str(train), "--provider", "fireworks", "--model", "m"]) == 2
    assert "openai, together" in capsys.readouterr().err


def test_keys_are_never_written(stub, env, train, suite, tmp_path):
    together_launch(stub, train, "--suite", str(suite))
    status(stub, "together", "ft-stub1", "--wait", "--interval", "0")
    written = suite.read_text(encoding="utf-8") + "".join(
        p.read_text() for p in (tmp_path / "home").rglob("*") if p.is_file()
    )
    assert "tg-secret-together" not in written and "sk-secret-openai" not in written
    assert "api_key_env: TOGETHER_API_KEY" in written


# ---------------------------------------------------------------- Together


def test_together_upload_sends_the_documented_form_fields(stub, env, train):
    assert together_launch(stub, train) == 0
    [upload] = posted(stub, "/v1/files/upload")
    assert (upload["purpose"], upload["file_name"], upload["file_type"]) == ("fine-tune", "train.jsonl", "jsonl")
    assert upload["file"]["content"] == train.read_text(encoding="utf-8")


def test_together_job_trains_a_lora_adapter_with_sft_by_default(stub, env, train):
    assert together_launch(stub, train, "--epochs", "2", "--suffix", "triage") == 0
    [job] = posted(stub, "/v1/fine-tunes")
    assert (job["training_file"], job["n_epochs"], job["suffix"]) == ("file-stub1", 2, "triage")
    assert job["training_method"]["method"] == "sft" and job["training_type"]["type"] == "Lora"


def test_together_no_lora_asks_for_a_full_fine_tune(stub, env, train):
    together_launch(stub, train, "--no-lora")
    assert posted(stub, "/v1/fine-tunes")[0]["training_type"] == {"type": "Full"}


def test_together_success_points_the_route_at_togethers_openai_compatible_endpoint(stub, env, train, suite):
    together_launch(stub, train, "--suite", str(suite))
    assert status(stub, "together", "ft-stub1", "--wait", "--interval", "0") == 0
    route = load_suite(suite).spec.routes["tuned"]
    assert route.model == "openai:stub-user/Meta-Llama-3.1-8B-Instruct-Reference-stub1"
    assert (route.base_url, route.api_key_env, route.provider) == (stub.url + "/v1", "TOGETHER_API_KEY", "together")
    assert (route.trained_tokens, route.training_cost_usd) == (1000, None)  # no Together training price in the table


def test_waiting_past_the_timeout_exits_3_with_the_job_still_running(stub, env, train, suite):
    openai_launch(stub, train, "--suite", str(suite))
    assert status(stub, "openai", "ftjob-stub1", "--wait", "--timeout", "0") == 3
    assert suite.read_text(encoding="utf-8") == SUITE


def test_a_route_that_cannot_be_edited_gets_the_yaml_printed_and_exit_2(stub, env, train, suite, capsys):
    suite.write_text(
        SUITE.replace(
            "  tuned:  # the candidate\n    kind: finetuned\n"
            "    model: openai:ft:placeholder  # replaced when the job succeeds\n    system: Triage.\n",
            "  tuned: {kind: finetuned, model: 'openai:ft:placeholder'}\n",
        ),
        encoding="utf-8",
    )
    openai_launch(stub, train, "--suite", str(suite))
    assert status(stub, "openai", "ftjob-stub1", "--wait", "--interval", "0") == 2
    captured = capsys.readouterr()
    assert "model: openai:ft:gpt-4o-mini-2024-07-18:stub-org::stub1" in captured.out and "--print" in captured.err
