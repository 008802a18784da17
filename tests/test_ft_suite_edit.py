"""Writing a finished job into the suite: the smallest text edit, comments kept."""

from __future__ import annotations

import pytest
import yaml

from evalkit.errors import BadInput
from evalkit.finetune.suite_edit import route_yaml, scalar, update_route_text

SUITE = """\
name: s  # the suite
routes:
  base:
    kind: base
    model: mock:expected
  tuned:
    kind: finetuned  # keep me
    model: openai:ft:old
    prompt: |
      Ticket: {{ input }}

gate: {candidate: tuned}
"""
FIELDS = {"model": "openai:ft:gpt-4o-mini:org::abc", "job_id": "ftjob-1"}


def test_an_existing_value_is_replaced_in_place():
    new = update_route_text(SUITE, "tuned", {"model": "openai:ft:new"})
    assert new == SUITE.replace("model: openai:ft:old", "model: openai:ft:new")


def test_a_missing_key_goes_at_the_end_of_the_routes_block_before_its_blank_line():
    new = update_route_text(SUITE, "tuned", FIELDS)
    assert "      Ticket: {{ input }}\n    job_id: ftjob-1\n\ngate:" in new
    assert "kind: finetuned  # keep me" in new and new.startswith("name: s  # the suite\n")


def test_the_block_scalar_before_an_inserted_key_keeps_its_value():
    new = update_route_text(SUITE, "tuned", FIELDS)
    assert yaml.safe_load(new)["routes"]["tuned"]["prompt"] == yaml.safe_load(SUITE)["routes"]["tuned"]["prompt"]


def test_a_missing_route_gets_a_new_block_at_the_end_of_routes():
    routes = yaml.safe_load(update_route_text(SUITE, "tuned2", FIELDS))["routes"]
    assert routes["tuned2"] == {"kind": "finetuned", **FIELDS}
    assert list(routes) == ["base", "tuned", "tuned2"]


def test_a_route_that_is_not_finetuned_is_refused():
    with pytest.raises(BadInput, match="base route"):
        update_route_text(SUITE, "base", FIELDS)


def test_a_flow_style_route_is_refused_with_the_print_hint():
    text = "name: s\nroutes:\n  tuned: {kind: finetuned, model: 'openai:x'}\n"
    with pytest.raises(BadInput, match="--print"):
        update_route_text(text, "tuned", FIELDS)


def test_values_that_yaml_would_misread_are_quoted():
    assert scalar("ftjob-1") == "ftjob-1"
    assert yaml.safe_load(f"k: {scalar('true')}") == {"k": "true"}
    assert yaml.safe_load(f"k: {scalar('a: b # c')}") == {"k": "a: b # c"}


def test_the_printed_yaml_is_a_routes_entry():
    assert yaml.safe_load("routes:\n" + route_yaml("tuned", FIELDS)) == {
        "routes": {"tuned": {"kind": "finetuned", **FIELDS}}
    }
