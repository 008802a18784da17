"""`evalkit ft launch/status --provider vertex` against the local Vertex AI tuning and Cloud Storage stub."""

from __future__ import annotations

import json

import pytest

from conftest import HOLDOUT, TRAIN, write_cases
from evalkit.cli import main
from evalkit.suite import load_suite
from evalkit.testing.google_stub import GeminiStub

RECORD = {"systemInstruction": {"role": "system", "parts": [{"text": "Triage."}]},
          "contents": [{"role": "user", "parts": [{"text": "I was charged twice"}]},
                       {"role": "model", "parts": [{"text": "billing_dispute"}]}]}
SUITE = """\
name: tiny
task:
  labels: [billing_dispute, cancellation, login_failure]
  output_format: text
cases: cases.jsonl
routes:
  base: {kind: base, model: "mock:expected"}
  tuned:
    kind: finetuned
    model: google:placeholder  # replaced when the job succeeds
    system: Triage.
"""


@pytest.fixture(autouse=True)
def env(monkeypatch, tmp_path):
    import google.auth
    from google.oauth2.credentials import Credentials

    monkeypatch.setattr(google.auth, "default", lambda *a, **k: (Credentials(token="vertex-test-token"), "proj-7"))
    monkeypatch.setenv("GOOGLE_CLOUD_PROJECT", "proj-7")
    monkeypatch.setenv("GOOGLE_CLOUD_LOCATION", "us-central1")
    monkeypatch.setenv("EVALKIT_HOME", str(tmp_path / "home"))
    monkeypatch.delenv("GOOGLE_VERTEX_BASE_URL", raising=False)


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


def launch(stub, train, *extra):
    return main(["ft", "launch", str(train), "--provider", "vertex", "--model", "gemini-2.5-flash",
                 "--base-url", stub.url, *extra])


def created(stub):
    return [r["json"] for r in stub.requests if r["method"] == "POST" and r["path"].endswith("/tuningJobs")]


def test_launch_with_a_gs_uri_starts_a_supervised_tuning_job_on_it(train):
    with GeminiStub() as stub:
        assert launch(stub, train, "--training-uri", "gs://team-data/train.jsonl", "--epochs", "3") == 0
    [job] = created(stub)
    assert (
        job["baseModel"],
        job["supervisedTuningSpec"]["trainingDatasetUri"],
        job["supervisedTuningSpec"]["hyperParameters"]["epochCount"],
    ) == ("gemini-2.5-flash", "gs://team-data/train.jsonl", 3)


def test_launch_with_a_bucket_uploads_the_file_there_first(train):
    with GeminiStub() as stub:
        assert launch(stub, train, "--bucket", "team-data") == 0
    [(uri, data)] = stub.uploads.items()
    assert data == train.read_bytes() and created(stub)[0]["supervisedTuningSpec"]["trainingDatasetUri"] == uri
    assert uri.startswith("gs://team-data/evalkit/") and uri.endswith("-train.jsonl")


def test_launch_without_uri_or_bucket_is_bad_input(train, capsys):
    with GeminiStub() as stub:
        assert launch(stub, train) == 2
    assert "--training-uri gs://BUCKET/PATH" in capsys.readouterr().err and not created(stub)


def test_a_refused_job_is_one_line_and_exit_2(train, capsys):
    with GeminiStub(tuning_refusal=(400, "base model gemini-2.5-flash is not tunable in us-central1")) as stub:
        assert launch(stub, train, "--training-uri", "gs://b/t.jsonl") == 2
    assert "vertex refused to create a tuning job on gemini-2.5-flash: base model" in capsys.readouterr().err


def test_status_writes_the_tuned_endpoint_into_the_route(train, suite, capsys):
    with GeminiStub(tuning_polls=1) as stub:
        assert launch(stub, train, "--training-uri", "gs://b/t.jsonl", "--suite", str(suite), "--json") == 0
        job = json.loads(capsys.readouterr().out)["id"]
        assert (
            main(["ft", "status", job, "--provider", "vertex", "--base-url", stub.url, "--wait", "--interval", "0"])
            == 0
        )
    route = load_suite(suite).spec.routes["tuned"]
    assert route.model == "google:projects/proj-7/locations/us-central1/endpoints/881000"
    assert (route.job_id, route.provider, route.base_model) == (job, "vertex", "gemini-2.5-flash")


def test_status_records_trained_tokens_times_epochs_at_the_google_training_price(train, suite, capsys):
    with GeminiStub(tuning_polls=0) as stub:
        assert (
            launch(stub, train, "--training-uri", "gs://b/t.jsonl", "--epochs", "2", "--suite", str(suite), "--json")
            == 0
        )
        job = json.loads(capsys.readouterr().out)["id"]
        assert main(["ft", "status", job, "--provider", "vertex", "--base-url", stub.url]) == 0
    route = load_suite(suite).spec.routes["tuned"]
    assert (route.trained_tokens, route.training_cost_usd) == (246912, pytest.approx(246912 * 5.00 / 1e6))


def test_a_failed_job_exits_1_with_its_error(train, capsys):
    with GeminiStub(tuning_polls=0, tuning_outcome="failed") as stub:
        assert launch(stub, train, "--training-uri", "gs://b/t.jsonl", "--json") == 0
        job = json.loads(capsys.readouterr().out)["id"]
        assert main(["ft", "status", job, "--provider", "vertex", "--base-url", stub.url]) == 1
    assert "training data has 0 valid examples" in capsys.readouterr().out


def test_bucket_with_another_provider_is_bad_input(train, monkeypatch, capsys):
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test")
    code = main(["ft", "launch", str(train), "--provider", "openai", "--model", "gpt-4.1-mini", "--bucket", "b",
                 "--format", "vertex-gemini"])
    assert code == 2 and "go with --provider vertex" in capsys.readouterr().err
