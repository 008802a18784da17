"""The pieces of the batch lane that are plain computation: custom ids, splitting into
batches under the providers' limits, batch prices, settings, and the state file."""

from __future__ import annotations

import re

import pytest

from evalkit.batch import BatchOptions
from evalkit.batch.adapters import entry_size, split
from evalkit.batch.lane import batch_price
from evalkit.batch.state import BatchRecord, BatchState, custom_id
from evalkit.errors import BadInput
from evalkit.suite import Price

ANTHROPIC_CUSTOM_ID = re.compile(r"^[a-zA-Z0-9_-]{1,64}$")


def record(batch_id: str, requests: dict, route: str = "r", attempt: int = 1) -> BatchRecord:
    return BatchRecord(id=batch_id, provider="openai", route=route, model="gpt-4.1-mini", attempt=attempt,
                       requests=requests, submitted_at="2026-11-23T10:00:00+00:00")


def test_custom_ids_are_stable_distinct_and_acceptable_to_anthropic():
    a = custom_id("base", "case/with spaces and ünïcode" * 5, 0)
    assert a == custom_id("base", "case/with spaces and ünïcode" * 5, 0)
    assert (
        len(
            {
                a,
                custom_id("base", "case/with spaces and ünïcode" * 5, 1),
                custom_id("rag", "case/with spaces and ünïcode" * 5, 0),
            }
        )
        == 3
    )
    assert ANTHROPIC_CUSTOM_ID.match(a)


def test_split_respects_the_request_count():
    assert list(split(range(7), [1] * 7, max_count=3, max_bytes=100)) == [[0, 1, 2], [3, 4, 5], [6]]


def test_split_respects_the_byte_size():
    assert list(split("abcde", [40, 40, 40, 10, 10], max_count=100, max_bytes=90)) == [["a", "b"], ["c", "d", "e"]]


def test_an_item_larger_than_the_byte_limit_still_gets_a_batch_of_its_own():
    assert list(split("ab", [500, 10], max_count=100, max_bytes=90)) == [["a"], ["b"]]


def test_entry_size_counts_utf8_bytes_and_the_newline():
    assert entry_size({"a": "é"}) == len('{"a":"é"}'.encode()) + 1


def test_the_batch_price_comes_from_the_batch_rates():
    price = batch_price(Price(input=0.4, output=1.6, batch_input=0.2, batch_output=0.8))
    assert (price.input, price.output) == (0.2, 0.8)


@pytest.mark.parametrize("price", [None, Price(input=0.4, output=1.6), Price(input=0.4, output=1.6, batch_input=0.2)])
def test_without_batch_rates_the_batch_price_is_unknown(price):
    assert batch_price(price) is None


def test_settings_given_win_over_stored_ones_which_win_over_the_defaults():
    resolved = BatchOptions(resubmit=3).resolved({"poll_s": 2.5, "resubmit": 0})
    assert (resolved.poll_s, resolved.resubmit, resolved.max_requests) == (2.5, 3, None)
    assert BatchOptions().resolved().poll_s == 30.0


def test_the_state_file_round_trips(tmp_path):
    state = BatchState(BatchState.path_in(tmp_path), {"poll_s": 1.0}, [record("b1", {"ek-1": ["c1", 0]})])
    state.save()
    loaded = BatchState.load(tmp_path)
    assert loaded.settings == {"poll_s": 1.0} and loaded.batches == state.batches


def test_a_run_without_a_state_file_has_no_state(tmp_path):
    assert BatchState.load(tmp_path) is None


def test_a_damaged_state_file_is_bad_input_naming_it(tmp_path):
    (tmp_path / "batches.json").write_text("{not json")
    with pytest.raises(BadInput, match="batches.json"):
        BatchState.load(tmp_path)


def test_the_last_batch_that_holds_a_request_is_the_one_that_counts(tmp_path):
    first = record("b1", {"ek-1": ["c1", 0], "ek-2": ["c2", 0]})
    again = record("b2", {"ek-2": ["c2", 0]}, attempt=2)
    holder = BatchState(BatchState.path_in(tmp_path), {}, [first, again]).latest()
    assert holder[("c1", "r", 0)].id == "b1" and holder[("c2", "r", 0)].id == "b2"
