"""The request fingerprint: one SHA-256 of everything that can change the answer, and a hash per part."""

from __future__ import annotations

import hashlib

import pytest

from evalkit.fingerprint import Fingerprinter, changed_parts
from evalkit.suite import canonical_json

MESSAGES = [{"role": "system", "content": "Triage."}, {"role": "user", "content": "I was charged twice"}]
PARAMS = {"temperature": 0, "seed": 7, "max_tokens": 50, "timeout_s": 30}


def printer(**changes) -> Fingerprinter:
    settings = {"provider": "openai", "model": "gpt-4.1-mini", "base_url": None, "params": PARAMS,
                "schema": {"type": "object"}, **changes}
    return Fingerprinter(**settings)


def test_fingerprint_is_the_sha256_of_the_canonical_request_document():
    fingerprints = printer()
    expected = hashlib.sha256(canonical_json(fingerprints.document(MESSAGES)).encode()).hexdigest()
    assert fingerprints.of(MESSAGES).sha256 == expected


def test_fingerprint_of_a_route_running_own_code_includes_its_source_hash():
    one, two = printer(material={"source_sha256": "1" * 64}), printer(material={"source_sha256": "2" * 64})
    assert one.of(MESSAGES).sha256 != two.of(MESSAGES).sha256
    assert changed_parts(one.of(MESSAGES).parts, two.of(MESSAGES).parts) == ["model"]
    fingerprints = one
    assert fingerprints.of(MESSAGES).sha256 == \
        hashlib.sha256(canonical_json(fingerprints.document(MESSAGES)).encode()).hexdigest()


@pytest.mark.parametrize("change, part", [
    ({"model": "gpt-4.1"}, "model"), ({"provider": "anthropic"}, "model"), ({"base_url": "http://other/v1"}, "model"),
    ({"schema": {"type": "object", "required": ["label"]}}, "params"),
    ({"params": {"temperature": 0, "seed": 8, "max_tokens": 50}}, "params"),
])
def test_anything_that_changes_the_answer_changes_the_fingerprint_and_names_its_part(change, part):
    before, after = printer().of(MESSAGES), printer(**change).of(MESSAGES)
    assert before.sha256 != after.sha256
    assert changed_parts(before.parts, after.parts) == [part]


def test_a_new_system_prompt_is_named_as_the_system_part():
    other = [{"role": "system", "content": "You are a pirate."}, MESSAGES[1]]
    assert changed_parts(printer().of(MESSAGES).parts, printer().of(other).parts) == ["system"]


def test_examples_and_context_are_parts_of_their_own():
    plain = printer().of(MESSAGES, [], [])
    assert changed_parts(plain.parts, printer().of(MESSAGES, [], ["Refunds take 5 days."]).parts) == ["context"]
    assert changed_parts(plain.parts, printer().of(MESSAGES, [{"id": "t1"}], []).parts) == ["examples"]


def test_timeout_does_not_change_the_fingerprint():
    assert printer(params={**PARAMS, "timeout_s": 5}).of(MESSAGES).sha256 == printer().of(MESSAGES).sha256


def test_a_recording_without_part_hashes_can_only_say_the_request_changed():
    assert changed_parts(None, printer().of(MESSAGES).parts) == ["request"]
