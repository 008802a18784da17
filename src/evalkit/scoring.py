"""Parse and grade one output.

JSON mode: the whole output, else the first fenced ```json (or bare ```) block; then
the output schema; then the label at `label_field`, which must be in the label set.
Text mode: the trimmed output, or group 1 of the first `extract` match.
Nothing else is repaired.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any

from evalkit.cases import get_path

#: a fenced block with its info string (```json, ```python, or none), fences paired in order
_FENCE = re.compile(r"```([A-Za-z0-9_+.-]*)[ \t]*\r?\n(.*?)```", re.DOTALL)


@dataclass(slots=True, frozen=True)
class Score:
    parsed_ok: bool
    parse_error: str | None
    predicted_label: str | None
    parsed: Any = None  # the parsed output object (json mode), for the scored fields


def parse_json(output: str) -> Any:
    """The output as JSON, or the first fenced block; raises ValueError when neither parses."""
    text = output.strip()
    try:
        return json.loads(text)
    except RecursionError:
        raise ValueError("invalid JSON: nested too deeply to read") from None
    except json.JSONDecodeError as whole:
        block = next((m.group(2) for m in _FENCE.finditer(output) if m.group(1).lower() in ("", "json")), None)
        if block is None:
            raise ValueError(f"invalid JSON: {whole.msg} at line {whole.lineno} column {whole.colno}") from None
        try:
            return json.loads(block)
        except RecursionError:
            raise ValueError("invalid JSON in fenced block: nested too deeply to read") from None
        except json.JSONDecodeError as fenced:
            raise ValueError(f"invalid JSON in fenced block: {fenced.msg}") from None


#: outputs up to this long have their scores kept, up to this many
_KEEP_CHARS, _KEEP_OUTPUTS = 2_000, 20_000


class Scorer:
    """Scores outputs for one task; built once per run (the schema validator is compiled once)."""

    def __init__(self, task, output_schema: dict[str, Any] | None):
        self.task = task
        self.labels = set(task.labels)
        self._by_folded = {label.casefold(): label for label in task.labels} if task.ignore_case else None
        self._extract = re.compile(task.extract, re.DOTALL) if task.extract else None
        self._validator = None
        self._known: dict[str, Score] = {}  # output text -> its score (short outputs, up to _KEEP_OUTPUTS)
        if task.output_format == "json" and output_schema is not None:
            from jsonschema import validators

            cls = validators.validator_for(output_schema)
            self._validator = cls(output_schema)

    def _canonical(self, label: str) -> str | None:
        if self._by_folded is not None:
            return self._by_folded.get(label.casefold())
        return label if label in self.labels else None

    def score(self, output: str) -> Score:
        """The Score of an output. Classifiers repeat themselves, so the scores of short outputs
        are kept: the same text is parsed and validated once (a Score is immutable)."""
        known = self._known.get(output)
        if known is not None:
            return known
        score = self._score(output)
        if len(output) <= _KEEP_CHARS and len(self._known) < _KEEP_OUTPUTS:
            self._known[output] = score
        return score

    def _score(self, output: str) -> Score:
        if self.task.output_format == "text":
            return self._score_text(output)
        try:
            parsed = parse_json(output)
        except ValueError as exc:
            return Score(False, str(exc), None)
        if self._validator is not None:
            error = next(iter(self._validator.iter_errors(parsed)), None)
            if error is not None:
                where = "/".join(str(p) for p in error.absolute_path) or "(root)"
                return Score(False, f"schema: {error.message} at {where}", None)
        label = get_path(parsed, self.task.label_field)
        if label is None:
            return Score(False, f"no label at {self.task.label_field!r}", None)
        if not isinstance(label, str):
            return Score(False, f"label at {self.task.label_field!r} is not a string", None)
        canonical = self._canonical(label.strip())
        if canonical is None:
            return Score(False, f"label {label!r} is not in task.labels", None)
        return Score(True, None, canonical, parsed)

    def field_scores(self, score: Score, expected: Any, sources: list[str]) -> dict[str, Any]:
        """{"fields", "exact_match"} of a row when the task declares scored fields (evalkit.fields),
        else nothing: the label is then the whole answer."""
        fields = self.task.fields
        if not fields:
            return {}
        from evalkit.fields import exact_match, score_fields, unparsed_fields

        if not score.parsed_ok:
            return {"fields": unparsed_fields(fields, expected), "exact_match": False}
        scored = score_fields(fields, score.parsed, expected, sources)
        expected_label = get_path(expected, self.task.label_field) if isinstance(expected, dict) else expected
        return {"fields": scored, "exact_match": exact_match(score.predicted_label == expected_label, scored)}

    def _score_text(self, output: str) -> Score:
        if self._extract is not None:
            match = self._extract.search(output)
            if match is None:
                return Score(False, "extract pattern did not match", None)
            candidate = (match.group(1) or "").strip()
        else:
            candidate = output.strip()
        canonical = self._canonical(candidate)
        if canonical is None:
            shown = candidate if len(candidate) <= 60 else candidate[:57] + "..."
            return Score(False, f"label {shown!r} is not in task.labels", None)
        return Score(True, None, canonical)
