"""Where an answer came from: a recording line judged against the request made now, and a
route's provenance as the weakest of its answered rows."""

from __future__ import annotations

from evalkit.provenance import legacy_provenance, of_recording, route_provenance, weakest

PARTS = {"model": "m1", "system": "s1", "messages": "u1", "examples": "e1", "context": "c1", "params": "p1"}
SHA = "a" * 64


def line(**fields):
    return {
        "case_id": "c1",
        "output": "x",
        "request_sha256": SHA,
        "request_parts": PARTS,
        "provenance": "live",
        **fields,
    }


def test_a_live_answer_recorded_for_the_same_request_is_recorded():
    assert of_recording(line(), PARTS, SHA) == ("recorded", [])


def test_a_line_without_a_fingerprint_is_unverified():
    assert of_recording({"case_id": "c1", "output": "x"}, PARTS, SHA) == ("unverified", [])


def test_a_recording_for_another_request_is_stale_and_names_the_parts_that_changed():
    assert of_recording(line(), {**PARTS, "system": "s2", "model": "m2"}, "b" * 64) == ("stale", ["model", "system"])


def test_a_recorded_stand_in_answer_stays_a_stand_in_even_for_the_same_request():
    assert of_recording(line(provenance="stand-in"), PARTS, SHA) == ("stand-in", [])


def test_a_fingerprinted_line_without_its_origin_is_unverified():
    assert of_recording({k: v for k, v in line().items() if k != "provenance"}, PARTS, SHA) == ("unverified", [])


def test_the_weakest_provenance_wins():
    assert weakest(["live", "cache", "recorded"]) == "recorded"
    assert weakest(["live", "stale", "stand-in"]) == "stale"


def test_error_rows_do_not_weaken_their_route():
    rows = [{"provenance": "live"}, {"provenance": "stand-in", "error": {"type": "timeout"}}]
    found = route_provenance(rows, endpoint="http://127.0.0.1:9/v1")
    assert (found["provenance"], found["evidence"], found["counts"]) == ("live", True, {"live": 1})


def test_one_stale_row_makes_the_route_stale_with_its_parts():
    found = route_provenance([{"provenance": "recorded"}, {"provenance": "stale", "stale_parts": ["examples"]}])
    assert (found["provenance"], found["stale_parts"], found["evidence"]) == ("stale", ["examples"], False)


def test_rows_written_before_provenance_take_it_from_what_the_route_ran_as():
    assert legacy_provenance("local:classifier") == "stand-in" and legacy_provenance("replay:x.jsonl") == "unverified"
    assert route_provenance([{"cached": True}], legacy="live")["provenance"] == "cache"


def test_a_route_without_answers_has_no_provenance_and_no_evidence():
    found = route_provenance([{"error": {"type": "timeout"}, "provenance": "live"}])
    assert found["provenance"] is None and found["evidence"] is False


def test_a_manifest_route_names_the_model_configured_and_the_one_called():
    from evalkit.provenance import route_models

    models = route_models({"model": "openai:gpt-4.1-mini", "ran_as": "local:classifier", "resolved_model": "local:x"})
    assert (models.configured, models.ran_as, models.resolved) == ("openai:gpt-4.1-mini", "local:classifier", "local:x")


def test_a_manifest_from_before_ran_as_reads_the_configured_model_as_called():
    from evalkit.provenance import route_models

    assert route_models({"model": "openai:gpt-4.1-mini"}).ran_as == "openai:gpt-4.1-mini"
