"""An LLM judge for text fields, with its own evidence.

A text field may declare `judge: {model, rubric, scale, pass_at}`. After a route answers, each
judged field of a parsed answer is sent to the judge model (any provider: mock:, replay: and
local: work offline) with the rubric, the case's input, the expected value as a reference and the
answer's value; the judge replies with a grade on the scale. The row's field entry keeps
`judge: {grade, passed, model, input_tokens, output_tokens, latency_ms, cost_usd, cached,
provenance}` (or `error`); the field counts as right when its checks pass and the grade reaches
`pass_at`. Judge calls go through the run's concurrency limit and the response cache (a
cached re-run sends nothing), are written with their row (a resumed run judges what it answers
again), and their cost stays apart from the route's. Cases may carry human grades
(`grades: {field: grade}`): the summary then shows how the judge agrees with them (evalkit.metrics).
"""

from __future__ import annotations

import os
import re
from typing import Any

from evalkit.errors import BadInput
from evalkit.providers.base import Provider, ProviderRequest, get_provider_class, split_model
from evalkit.rows import Row

JUDGE_PARAMS = {"temperature": 0, "max_tokens": 16, "structured": False}
_NUMBER = re.compile(r"-?\d+")


def judge_messages(judge, field: str, case_text: str, reference: Any, answer: Any) -> list[dict[str, str]]:
    scale = ", ".join(str(g) for g in judge.scale)
    system = (
        f"You grade one field of an answer. Rubric: {judge.rubric.strip()}\n"
        f"Reply with the grade only: one of {scale} ({judge.scale[0]} worst, {judge.scale[-1]} best)."
    )
    reference_text = "" if reference is None else f"Reference answer for this field:\n{reference}\n\n"
    user = f"Case:\n{case_text}\n\n{reference_text}Answer to grade (field {field!r}):\n{answer}"
    return [{"role": "system", "content": system}, {"role": "user", "content": user}]


def parse_grade(text: str, scale: list[int]) -> int | None:
    """The first whole number on the scale in the judge's reply; None when there is none."""
    for match in _NUMBER.finditer(text or ""):
        value = int(match.group())
        if value in scale:
            return value
    return None


class Judges:
    """The judges of a run: one provider per judge model, made and prepared before any call."""

    def __init__(self, suite, *, offline: bool):
        self.suite = suite
        self.fields = {name: spec for name, spec in suite.spec.task.fields.items() if spec.judge is not None}
        self.providers: dict[str, Provider] = {}
        self.skipped: dict[str, str] = {}
        for name, spec in self.fields.items():
            model = spec.judge.model
            if model in self.providers or model in self.skipped:
                continue
            prefix, model_name = split_model(model)
            provider = get_provider_class(prefix)(model_name, route_name=f"judge of {name}", route=None, suite=suite)
            provider.ref = model
            if offline and provider.remote:
                self.skipped[model] = "not judged: --offline replaces remote models, and a judge has no stand-in"
                continue
            variable = provider.key_variable()
            if variable and not os.environ.get(variable):
                raise BadInput(f"the judge of field {name!r} ({model}) needs an API key: set {variable}")
            provider.prepare()
            self.providers[model] = provider

    def __bool__(self) -> bool:
        return bool(self.fields)

    def opened(self) -> list[Provider]:
        return list(self.providers.values())

    async def grade(self, row: Row, case, executor) -> None:
        """Judge every judged field of a parsed row, in place."""
        from evalkit.cache import cache_key
        from evalkit.fingerprint import Fingerprinter
        from evalkit.pricing import call_cost, price_for

        fields = row.get("fields") or {}
        for name, spec in self.fields.items():
            entry = fields.get(name)
            if entry is None or not row.get("parsed_ok") or entry.get("predicted") in (None, ""):
                continue
            judge = spec.judge
            if judge.model in self.skipped:
                entry["judge"] = {"model": judge.model, "skipped": self.skipped[judge.model]}
                continue
            provider = self.providers[judge.model]
            messages = judge_messages(
                judge, name, case.text() if case is not None else "", entry.get("expected"), entry["predicted"]
            )
            request = ProviderRequest(
                row["case_id"], row["route"], row.get("repeat", 0), messages, dict(JUDGE_PARAMS), None, case
            )
            prefix, model_name = split_model(judge.model)
            fingerprint = Fingerprinter(
                provider=prefix,
                model=model_name,
                base_url=None,
                params=JUDGE_PARAMS,
                schema=None,
                material={"judge_of": name},
            ).of(messages)
            key = cache_key(fingerprint.sha256, provider.endpoint(), request.repeat) if provider.remote else None
            response, error = await executor.ask(provider, request, key)
            if response is None:
                entry["judge"] = {"model": judge.model, "error": error}
                entry["correct"] = False
                continue
            grade = parse_grade(response.text, judge.scale)
            passed = grade is not None and grade >= judge.pass_at
            entry["judge"] = {
                "model": judge.model,
                "grade": grade,
                "passed": passed,
                "reply": response.text[:200],
                "input_tokens": response.input_tokens,
                "output_tokens": response.output_tokens,
                "latency_ms": response.latency_ms,
                "cached": response.cached,
                "provenance": "cache" if response.cached else provider.provenance,
                "cost_usd": call_cost(
                    price_for(judge.model, self.suite.spec.pricing), response.input_tokens, response.output_tokens
                ),
            }
            entry["correct"] = bool(entry.get("correct")) and passed
        if fields:
            from evalkit.fields import exact_match

            row["exact_match"] = exact_match(bool(row.get("correct")), fields)
