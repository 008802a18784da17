"""http: routes: the team's own service answers a route, through a local server on 127.0.0.1."""

from __future__ import annotations

import json

import pytest

from conftest import HOLDOUT, TRAIN
from evalkit.cli import main
from evalkit.testing.services import LocalService
from stub_helpers import rows, run

TOKEN = "svc-token-7c1e9b2a44d0"


def classify(text: str) -> str:
    text = text.lower()
    return "billing_dispute" if "charge" in text else "cancellation" if "cancel" in text else "login_failure"


def service_answer(request):
    body = request["json"]
    return 200, {
        "result": {"answer": {"label": classify(body["ticket"])}},
        "usage": {"in": 11, "out": 3},
        "sources": [{"doc_id": "billing", "relevance": 0.9}, {"doc_id": "access"}],
    }


@pytest.fixture(autouse=True)
def _isolated(monkeypatch, tmp_path):
    monkeypatch.setenv("EVALKIT_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.setenv("TRIAGE_TOKEN", TOKEN)


def http_route(service, **http) -> dict:
    config = {"headers": {"Authorization": "Bearer ${TRIAGE_TOKEN}"}, "body": {"ticket": "{{ case.text }}", "k": 2},
              "response": {"output": "result.answer", "input_tokens": "usage.in", "output_tokens": "usage.out",
                           "retrieved": "sources", "retrieved_id": "doc_id", "retrieved_score": "relevance"}}
    config.update(http)
    return {"kind": "rag", "model": f"http:{service.url}/classify", "http": config}


def test_service_answers_are_read_by_their_paths(make_suite, tmp_path):
    with LocalService(service_answer) as service:
        result = run(make_suite(routes={"svc": http_route(service)}), tmp_path / "run")
    first = next(r for r in rows(result.run_dir) if r["case_id"] == "h1")
    assert (json.loads(first["output"]), first["input_tokens"], first["output_tokens"], first["correct"]) == \
        ({"label": "billing_dispute"}, 11, 3, True)


def test_body_is_rendered_from_the_template_and_headers_from_the_environment(make_suite, tmp_path):
    with LocalService(service_answer) as service:
        run(make_suite(routes={"svc": http_route(service)}), tmp_path / "run")
    sent = next(r for r in service.requests if r["json"]["ticket"] == "I was charged twice")
    assert (sent["method"], sent["path"], sent["json"]["k"], sent["headers"]["authorization"]) == \
        ("POST", "/classify", 2, f"Bearer {TOKEN}")


def test_a_whole_expression_keeps_its_type(make_suite, tmp_path):
    with LocalService(lambda r: (200, {"result": {"answer": {"label": "cancellation"}}, "sources": []})) as service:
        run(
            make_suite(routes={"svc": http_route(service, body={"ticket": "x", "history": "{{ messages }}"})}),
            tmp_path / "run",
        )
    assert service.requests[0]["json"]["history"][-1]["role"] == "user"


def test_retrieved_documents_are_scored(make_suite, tmp_path):
    cases = TRAIN + [{**case, "sources": ["access"]} for case in HOLDOUT]
    with LocalService(service_answer) as service:
        result = run(make_suite(cases, routes={"svc": http_route(service)}), tmp_path / "run")
    assert result.summary["routes"]["svc"]["retrieval"] == {"recall_at_k": 1.0, "mrr": 0.5, "k": 2, "n": 4}


def test_output_path_matching_nothing_is_an_error_row_quoting_the_response(make_suite, tmp_path):
    with LocalService(lambda r: (200, {"result": {"text": "billing"}})) as service:
        result = run(make_suite(routes={"svc": http_route(service)}), tmp_path / "run", max_error_rate=1.0)
    error = rows(result.run_dir)[0]["error"]
    assert error["type"] == "bad_response"
    assert (
        error["message"]
        == 'output path \'result.answer\' matched nothing in the response: {"result": {"text": "billing"}}'
    )


def test_server_errors_are_retried(make_suite, tmp_path):
    seen = []

    def flaky(request):
        seen.append(1)
        return (503, {"error": "busy"}, {"retry-after": "0"}) if len(seen) == 1 else service_answer(request)

    with LocalService(flaky) as service:
        result = run(make_suite(TRAIN + HOLDOUT[:1], routes={"svc": http_route(service)}), tmp_path / "run")
    assert rows(result.run_dir)[0]["attempts"] == 2 and rows(result.run_dir)[0]["error"] is None


def test_client_errors_become_error_rows_with_the_status(make_suite, tmp_path):
    with LocalService(lambda r: (422, {"detail": "ticket too long"})) as service:
        result = run(make_suite(TRAIN + HOLDOUT[:1], routes={"svc": http_route(service)}), tmp_path / "run",
                     max_error_rate=1.0)
    row = rows(result.run_dir)[0]
    assert (row["error"]["message"], row["attempts"]) == ('HTTP 422: {"detail": "ticket too long"}', 1)


def test_plain_text_response_is_the_output_without_an_output_path(make_suite, tmp_path):
    with LocalService(lambda r: (200, "cancellation")) as service:
        path = make_suite(
            TRAIN + HOLDOUT[:1],
            routes={"svc": {"kind": "base", "model": f"http:{service.url}"}},
            task={"labels": ["billing_dispute", "cancellation", "login_failure"], "output_format": "text"},
        )
        result = run(path, tmp_path / "run")
    assert rows(result.run_dir)[0]["predicted_label"] == "cancellation"


def test_the_token_never_reaches_disk(make_suite, tmp_path):
    with LocalService(lambda r: (401, {"error": f"token {TOKEN} is revoked"})) as service:
        run(make_suite(routes={"svc": http_route(service)}), tmp_path / "runs" / "a", max_error_rate=1.0)
    files = [p for p in (tmp_path / "runs").rglob("*") if p.is_file()]
    assert files and not any(TOKEN.encode() in p.read_bytes() for p in files)


def test_a_header_value_written_in_the_suite_is_hidden_in_the_manifest(make_suite, tmp_path):
    literal = "Bearer inline-secret-0042"
    with LocalService(service_answer) as service:
        result = run(
            make_suite(routes={"svc": http_route(service, headers={"Authorization": literal})}), tmp_path / "run"
        )
    manifest = (result.run_dir / "manifest.json").read_text()
    assert "inline-secret-0042" not in manifest and service.requests[0]["headers"]["authorization"] == literal


def test_route_without_url_is_bad_input(make_suite, capsys):
    path = make_suite(routes={"svc": {"kind": "base", "model": "http:triage"}})
    assert main(["run", str(path), "--no-progress"]) == 2
    assert "an http: route needs a URL" in capsys.readouterr().err


def test_missing_header_variable_is_bad_input(make_suite, monkeypatch, capsys):
    monkeypatch.delenv("TRIAGE_TOKEN")
    path = make_suite(routes={"svc": {"kind": "base", "model": "http:http://127.0.0.1:9/x",
                                      "http": {"headers": {"Authorization": "Bearer ${TRIAGE_TOKEN}"}}}})
    assert main(["run", str(path), "--no-progress"]) == 2
    assert "read TRIAGE_TOKEN from the environment" in capsys.readouterr().err


def test_get_sends_no_body(make_suite, tmp_path):
    with LocalService(lambda r: (200, {"result": {"answer": {"label": "cancellation"}}, "sources": []})) as service:
        run(make_suite(TRAIN + HOLDOUT[:1], routes={"svc": http_route(service, method="GET")}), tmp_path / "run")
    assert (service.requests[0]["method"], service.requests[0]["body"]) == ("GET", b"")
