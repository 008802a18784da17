"""google: Gemini through the google-genai SDK, against the local Gemini/Vertex stub."""

from __future__ import annotations

import pytest

from evalkit.cli import main
from evalkit.testing.google_stub import GeminiStub
from stub_helpers import LABELS, gold, rows, run, write_suite

GEMINI_KEY = "gemini-test-KEY-31f9a0c2d7"


def gemini_gold(model, body):
    text = body["contents"][-1]["parts"][0]["text"]
    return gold({"messages": [{"content": text}]})


@pytest.fixture(autouse=True)
def _isolated(monkeypatch, tmp_path):
    monkeypatch.setenv("GEMINI_API_KEY", GEMINI_KEY)
    monkeypatch.setenv("EVALKIT_CACHE_DIR", str(tmp_path / "cache"))
    for name in ("GOOGLE_API_KEY", "GOOGLE_GENAI_USE_VERTEXAI", "GOOGLE_CLOUD_PROJECT", "GOOGLE_CLOUD_LOCATION",
                 "GOOGLE_GEMINI_BASE_URL"):
        monkeypatch.delenv(name, raising=False)


def google_route(stub, model="gemini-2.5-flash", **extra):
    return {"kind": "base", "model": f"google:{model}", "base_url": stub.url, "system": "Triage.", **extra}


def vertex_credentials(monkeypatch):
    import google.auth
    from google.oauth2.credentials import Credentials

    monkeypatch.setattr(google.auth, "default", lambda *a, **k: (Credentials(token="vertex-test-token"), "proj-7"))


def test_gemini_answers_are_scored(tmp_path):
    with GeminiStub(gemini_gold) as stub:
        result = run(write_suite(tmp_path, {"gem": google_route(stub)}, n=4), tmp_path / "run")
    assert result.summary["routes"]["gem"]["accuracy"]["value"] == 1.0


def test_structured_output_sends_the_schema_as_json_schema(tmp_path):
    with GeminiStub(gemini_gold) as stub:
        run(write_suite(tmp_path, {"gem": google_route(stub)}, n=1), tmp_path / "run")
    config = stub.requests[0]["json"]["generationConfig"]
    assert (
        config["responseMimeType"] == "application/json"
        and config["responseJsonSchema"]["properties"]["label"]["enum"] == LABELS
    )


def test_system_prompt_and_params_map_to_gemini_fields(tmp_path):
    with GeminiStub(gemini_gold) as stub:
        run(write_suite(tmp_path, {"gem": google_route(stub)}, n=1), tmp_path / "run")
    sent = stub.requests[0]["json"]
    assert (sent["systemInstruction"]["parts"][0]["text"], sent["generationConfig"]["maxOutputTokens"],
            sent["generationConfig"]["seed"]) == ("Triage.", 200, 7)


def test_usage_tokens_and_model_version_are_recorded(tmp_path):
    with GeminiStub(lambda m, b: '{"label": "cancellation", "reason": "x y"}') as stub:
        result = run(write_suite(tmp_path, {"gem": google_route(stub)}, n=1), tmp_path / "run")
    row = rows(result.run_dir)[0]
    assert (row["output_tokens"], row["model"], row["finish_reason"]) == (5, "gemini-2.5-flash", "STOP")
    assert row["input_tokens"] > 0


def test_tuned_endpoint_is_priced_as_its_base_model(tmp_path, monkeypatch):
    vertex_credentials(monkeypatch)
    endpoint = "projects/proj-7/locations/europe-west4/endpoints/8801"
    with GeminiStub(lambda m, b: '{"label": "cancellation", "reason": "x"}') as stub:
        route = google_route(stub, endpoint, kind="finetuned", base_model="gemini-2.5-flash")
        result = run(write_suite(tmp_path, {"tuned": route}, n=1), tmp_path / "run")
    row = rows(result.run_dir)[0]
    assert row["cost_usd"] == pytest.approx((row["input_tokens"] * 0.30 + row["output_tokens"] * 2.50) / 1e6)


def test_key_is_sent_in_the_api_key_header(tmp_path):
    with GeminiStub(gemini_gold) as stub:
        run(write_suite(tmp_path, {"gem": google_route(stub)}, n=1), tmp_path / "run")
    assert stub.requests[0]["headers"]["x-goog-api-key"] == GEMINI_KEY


def test_rate_limit_is_retried(tmp_path):
    with GeminiStub(gemini_gold, fail_script=lambda n, path, body: (429, "quota") if n == 0 else None) as stub:
        result = run(write_suite(tmp_path, {"gem": google_route(stub)}, n=1), tmp_path / "run")
    assert rows(result.run_dir)[0]["attempts"] == 2


def test_client_error_is_an_error_row_with_the_message(tmp_path):
    with GeminiStub(gemini_gold, fail_script=lambda n, path, body: (400, "bad schema")) as stub:
        result = run(write_suite(tmp_path, {"gem": google_route(stub)}, n=1), tmp_path / "run", max_error_rate=1.0)
    assert rows(result.run_dir)[0]["error"] == {"type": "bad_request", "message": "HTTP 400: bad schema"}


def test_tuned_vertex_endpoint_is_called_on_its_project_and_location(tmp_path, monkeypatch):
    vertex_credentials(monkeypatch)
    endpoint = "projects/proj-7/locations/europe-west4/endpoints/8801"
    with GeminiStub(gemini_gold) as stub:
        result = run(write_suite(tmp_path, {"tuned": google_route(stub, endpoint)}, n=2), tmp_path / "run")
    assert result.summary["routes"]["tuned"]["accuracy"]["value"] == 1.0
    assert stub.requests[0]["path"].endswith(f"/{endpoint}:generateContent")
    assert stub.requests[0]["headers"]["authorization"] == "Bearer vertex-test-token"


def test_vertex_without_project_is_bad_input(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("GOOGLE_GENAI_USE_VERTEXAI", "true")
    suite = write_suite(tmp_path, {"gem": {"kind": "base", "model": "google:gemini-2.5-flash"}}, n=1)
    assert main(["run", str(suite), "--no-progress"]) == 2
    assert "needs a project and a location" in capsys.readouterr().err


def test_missing_key_names_the_variable(tmp_path, monkeypatch, capsys):
    monkeypatch.delenv("GEMINI_API_KEY")
    suite = write_suite(tmp_path, {"gem": {"kind": "base", "model": "google:gemini-2.5-flash"}}, n=1)
    assert main(["run", str(suite), "--no-progress"]) == 2
    assert "set GEMINI_API_KEY" in capsys.readouterr().err


def test_missing_sdk_names_the_extra_to_install(tmp_path, monkeypatch, capsys):
    import importlib.util

    real = importlib.util.find_spec
    monkeypatch.setattr(
        importlib.util, "find_spec", lambda name, *a: None if name == "google.genai" else real(name, *a)
    )
    suite = write_suite(tmp_path, {"gem": {"kind": "base", "model": "google:gemini-2.5-flash"}}, n=1)
    assert main(["run", str(suite), "--no-progress"]) == 2
    assert "pip install 'evalkit-harness[google]'" in capsys.readouterr().err


def test_text_mode_asks_for_text_without_a_schema(tmp_path):
    with GeminiStub(lambda m, b: "cancellation") as stub:
        result = run(write_suite(tmp_path, {"gem": google_route(stub)}, n=1, text_mode=True), tmp_path / "run")
    assert "responseJsonSchema" not in stub.requests[0]["json"].get("generationConfig", {})
    assert rows(result.run_dir)[0]["predicted_label"] == "cancellation"
