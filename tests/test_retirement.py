"""Model retirement: the manifest records each route's shutdown date and the run warns when
it is near. The provider's answer wins; fine-tunes inherit their base model's schedule."""

from __future__ import annotations

from datetime import date

import pytest

from evalkit.retirement import base_model, known_shutdown, schedule, warning
from evalkit.testing.stub_server import StubServer, fail
from stub_helpers import anthropic_route, gold, isolate, model_calls, openai_route, run, write_suite

TODAY = date(2026, 11, 23)


@pytest.fixture(autouse=True)
def _isolated(monkeypatch, tmp_path):
    isolate(monkeypatch, tmp_path)


def test_fine_tuned_id_names_its_base_model():
    assert base_model("ft:gpt-4.1-mini-2025-04-14:northwind::triage01") == "gpt-4.1-mini-2025-04-14"
    assert base_model("gpt-4.1-mini") == "gpt-4.1-mini"


def test_fine_tune_inherits_the_announced_date_of_its_base_family():
    assert known_shutdown("openai", "ft:gpt-4.1-mini-2025-04-14:northwind::triage01") == "2027-01-14"
    assert known_shutdown("openai", "ft:gpt-4o-2024-08-06:acme::x") == "2027-01-14"
    assert known_shutdown("openai", "gpt-5.4") is None


def test_providers_own_date_wins_over_the_table():
    info = schedule("openai", "gpt-4o", "2026-12-01", TODAY)
    assert (info["shutdown_date"], info["shutdown_source"]) == ("2026-12-01", "provider")


def test_table_is_used_when_the_provider_says_nothing():
    info = schedule("openai", "gpt-4.1-mini", None, TODAY)
    assert (info["shutdown_date"], info["shutdown_source"]) == ("2027-01-14", "evalkit table")


def test_unknown_model_has_no_date_and_no_warning():
    assert schedule("anthropic", "claude-sonnet-4-6", None, TODAY) == \
        {"shutdown_date": None, "shutdown_source": None, "retirement_warning": None}


def test_warning_only_within_ninety_days():
    assert warning("openai", "gpt-4o", date(2027, 2, 21), TODAY) is not None  # 90 days
    assert warning("openai", "gpt-4o", date(2027, 2, 22), TODAY) is None  # 91 days
    text = warning("openai", "ft:gpt-4o-2024-08-06:acme::x", date(2027, 1, 14), TODAY, route="tuned")
    assert "route 'tuned'" in text and "2027-01-14" in text and "in 52 days" in text and "gpt-4o-2024-08-06" in text


def test_a_past_date_says_the_model_is_gone():
    assert "was shut down on 2026-10-23" in warning("openai", "gpt-4", date(2026, 10, 23), TODAY)


def test_manifest_records_the_date_the_models_endpoint_reports_and_warns(tmp_path):
    soon = date.today().replace(day=1).isoformat()  # within 90 days of any run date
    with StubServer(lambda kind, body: gold(body), model_shutdown_dates={"gpt-4o-mini": soon}) as stub:
        suite = write_suite(tmp_path, {"base": openai_route(stub, model="gpt-4o-mini")}, n=1)
        result = run(suite, tmp_path / "run", cache="off")
    info = result.manifest["routes"]["base"]
    assert (info["shutdown_date"], info["shutdown_source"]) == (soon, "provider")
    assert info["retirement_warning"] in result.warnings
    assert info["retirement_warning"] in result.manifest["warnings"]


def test_fine_tune_asks_the_endpoint_for_its_base_model(tmp_path):
    tuned = "ft:gpt-4o-mini-2024-07-18:acme::abc"
    with StubServer(
        lambda kind, body: gold(body), model_shutdown_dates={"gpt-4o-mini-2024-07-18": "2030-01-01"}
    ) as stub:
        suite = write_suite(tmp_path, {"tuned": openai_route(stub, model=tuned, kind="finetuned")}, n=1)
        result = run(suite, tmp_path / "run", cache="off")
    asked = [r["path"] for r in stub.requests if r["method"] == "GET"]
    assert asked == [f"/v1/models/{tuned}", "/v1/models/gpt-4o-mini-2024-07-18"]
    assert result.manifest["routes"]["tuned"]["shutdown_date"] == "2030-01-01"
    assert result.manifest["routes"]["tuned"]["retirement_warning"] is None


def test_a_failing_models_endpoint_never_fails_the_run(tmp_path):
    with StubServer(
        lambda kind, body: gold(body), fail_script=lambda n, kind, body: None if body else fail(500)
    ) as stub:
        suite = write_suite(tmp_path, {"base": openai_route(stub, model="gpt-5.4")}, n=2)
        result = run(suite, tmp_path / "run", cache="off")
    assert result.complete and result.exit_code == 0
    assert result.manifest["routes"]["base"]["shutdown_date"] is None
    assert len(model_calls(stub)) == 2


@pytest.mark.filterwarnings("ignore::DeprecationWarning")  # the SDK warns on every call to a retired model
def test_anthropic_routes_read_the_deprecation_table_of_the_sdk(tmp_path, monkeypatch):
    # each SDK release ships its own table (older ones list claude-3-opus, newer ones drop it): pin one entry
    sdk_messages = pytest.importorskip("anthropic.resources.messages.messages")
    monkeypatch.setattr(sdk_messages, "DEPRECATED_MODELS", {"claude-3-opus-20240229": "January 5th, 2026"})
    with StubServer(lambda kind, body: gold(body)) as stub:
        suite = write_suite(tmp_path, {"old": anthropic_route(stub, model="claude-3-opus-20240229")}, n=1)
        result = run(suite, tmp_path / "run", cache="off")
    info = result.manifest["routes"]["old"]
    assert (info["shutdown_date"], info["shutdown_source"]) == ("2026-01-05", "provider")
    assert "was shut down" in info["retirement_warning"]


def test_anthropic_model_the_sdk_does_not_list_falls_back_to_the_table(tmp_path):
    with StubServer(lambda kind, body: gold(body)) as stub:
        suite = write_suite(tmp_path, {"old": anthropic_route(stub, model="claude-3-5-sonnet-20241022")}, n=1)
        result = run(suite, tmp_path / "run", cache="off")
    info = result.manifest["routes"]["old"]
    assert (info["shutdown_date"], info["shutdown_source"]) == ("2025-10-22", "evalkit table")


def test_cached_rerun_does_not_ask_the_models_endpoint_again(tmp_path):
    with StubServer(lambda kind, body: gold(body)) as stub:
        suite = write_suite(tmp_path, {"base": openai_route(stub)}, n=1)
        run(suite, tmp_path / "first")
        stub.reset_counts()
        result = run(suite, tmp_path / "second")
    assert stub.request_count == 0
    assert result.manifest["routes"]["base"]["shutdown_date"] == "2027-01-14"
