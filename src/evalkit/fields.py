"""Scored fields: every field of the answer, not only the label.

The suite's `task.fields` declares how each field of the output object is scored, by type:

* `label`: a closed set (the primary field, `task.label_field`, is one without being declared);
* `ordinal`: an ordered set (`order: [low, medium, high, urgent]`): exact agreement, the distance
  in steps, quadratic-weighted kappa and the within-one rate over rows;
* `text`: checks, each a pass or fail (`non_empty`, `min_chars`, `max_chars`, `max_sentences`,
  `must_match`, `must_not_match`, `mentions_source`: names one of the retrieved or gold
  source ids);
* `number` (with `tolerance`), `boolean`, `exact`: equality.

`score_fields` grades one parsed output against the case's expected object: per field
`{expected, predicted, correct}` (an ordinal adds `distance`, a text field its `checks`). A field
whose expected value the case does not give is not scored (`correct` None); text checks need no
expected value. `exact_match` is True when every scored field is right. Pure functions; the
row keeps what they return (`fields`, `exact_match`), so metrics never parse an output again.
"""

from __future__ import annotations

import re
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from evalkit.cases import get_path

FIELD_TYPES = ("label", "ordinal", "text", "number", "boolean", "exact")
_SENTENCE_END = re.compile(r"[.!?](?:\s|$)")


class TextChecks(BaseModel):
    """Checks of a free-text field, each reported as a pass rate."""

    model_config = ConfigDict(extra="forbid")
    non_empty: bool = Field(True, description="The field is present and not blank.")
    min_chars: int | None = Field(None, ge=0)
    max_chars: int | None = Field(None, ge=1)
    max_sentences: int | None = Field(None, ge=1, description="At most this many sentences.")
    must_match: list[str] = Field(default_factory=list, description="Regular expressions that must each match.")
    must_not_match: list[str] = Field(default_factory=list, description="Regular expressions that must not match.")
    mentions_source: bool = Field(
        False,
        description=(
            "Names one of the retrieved or gold source ids; checked on routes that retrieve, not on the others."
        ),
    )

    @model_validator(mode="after")
    def _patterns_compile(self) -> TextChecks:
        for pattern in [*self.must_match, *self.must_not_match]:
            try:
                re.compile(pattern)
            except re.error as exc:
                raise ValueError(f"{pattern!r} is not a valid regular expression: {exc}") from None
        return self


class Judge(BaseModel):
    """A model that grades a text field on a scale, by a rubric (evalkit.judge)."""

    model_config = ConfigDict(extra="forbid")
    model: str = Field(description="PROVIDER:MODEL of the judge; mock:, replay: and local: work offline.")
    rubric: str = Field(min_length=1, description="What a good answer is; the judge grades against it.")
    scale: list[int] = Field(
        default_factory=lambda: [1, 2, 3, 4, 5], min_length=2, description="The grades, lowest to highest."
    )
    pass_at: int | None = Field(None, description="The lowest passing grade (default: the upper half of the scale).")

    @model_validator(mode="after")
    def _scale_in_order(self) -> Judge:
        if sorted(set(self.scale)) != self.scale:
            raise ValueError("a judge's scale lists distinct grades from lowest to highest")
        if ":" not in self.model:
            raise ValueError(f"judge model must be PROVIDER:MODEL, got {self.model!r}")
        if self.pass_at is None:
            self.pass_at = self.scale[len(self.scale) // 2]
        elif self.pass_at not in self.scale:
            raise ValueError(f"pass_at {self.pass_at} is not on the scale {self.scale}")
        return self


class FieldSpec(BaseModel):
    """How one field of the output object is scored."""

    model_config = ConfigDict(extra="forbid")
    type: Literal["label", "ordinal", "text", "number", "boolean", "exact"]
    labels: list[str] | None = Field(None, description="label: the closed set (default: the output schema's enum).")
    order: list[str] | None = Field(None, description="ordinal: the values from lowest to highest.")
    tolerance: float = Field(0.0, ge=0, description="number: the largest difference still counted as equal.")
    checks: TextChecks | None = Field(None, description="text: the checks (default: non_empty).")
    judge: Judge | None = Field(None, description="text: a model that grades the field by a rubric.")
    weight: float = Field(1.0, ge=0, description="The field's weight in exported graders and rewards.")

    @model_validator(mode="after")
    def _type_needs(self) -> FieldSpec:
        if self.type == "ordinal" and (not self.order or len(self.order) < 2):
            raise ValueError("an ordinal field needs its order: order: [lowest, ..., highest]")
        if self.type == "ordinal" and len(set(self.order or [])) != len(self.order or []):
            raise ValueError("an ordinal field's order names a value twice")
        if self.type == "text" and self.checks is None:
            self.checks = TextChecks()
        if self.judge is not None and self.type != "text":
            raise ValueError("only text fields are judged: the other types compare with the expected value")
        return self


def _sentences(text: str) -> int:
    """Sentences end at `.`, `!` or `?` followed by a space or the end; a last one may lack it."""
    stripped = text.strip()
    if not stripped:
        return 0
    return len(_SENTENCE_END.findall(stripped)) + (0 if stripped[-1] in ".!?" else 1)


def text_checks(value: Any, checks: TextChecks, sources: list[str]) -> dict[str, bool]:
    """Each configured check of a text field's value (a missing value fails every check)."""
    text = value if isinstance(value, str) else None
    results: dict[str, bool] = {}
    if checks.non_empty:
        results["non_empty"] = bool(text and text.strip())
    if checks.min_chars is not None:
        results["min_chars"] = text is not None and len(text) >= checks.min_chars
    if checks.max_chars is not None:
        results["max_chars"] = text is not None and len(text) <= checks.max_chars
    if checks.max_sentences is not None:
        results["max_sentences"] = text is not None and 0 < _sentences(text) <= checks.max_sentences
    for i, pattern in enumerate(checks.must_match):
        results[f"must_match[{i}]"] = text is not None and re.search(pattern, text) is not None
    for i, pattern in enumerate(checks.must_not_match):
        results[f"must_not_match[{i}]"] = text is not None and re.search(pattern, text) is None
    if checks.mentions_source and sources:  # only where the route retrieved something to cite
        results["mentions_source"] = text is not None and any(_mentions(text, s) for s in sources)
    return results


def _mentions(text: str, source: str) -> bool:
    """The document id (or its name without extension and chunk suffix) appears in the text."""
    doc = source.rsplit("#", 1)[0]
    stem = doc.rsplit("/", 1)[-1].rsplit(".", 1)[0]
    folded = text.casefold()
    return any(
        name and name.casefold() in folded for name in {doc, stem, stem.replace("_", " "), stem.replace("-", " ")}
    )


def score_value(spec: FieldSpec, expected: Any, predicted: Any, sources: list[str]) -> dict[str, Any]:
    """One field of one output: {expected, predicted, correct[, distance][, checks]}."""
    entry: dict[str, Any] = {"expected": expected, "predicted": predicted, "correct": None}
    if spec.type == "text":
        checks = text_checks(predicted, spec.checks or TextChecks(), sources)
        entry["checks"] = checks
        entry["correct"] = all(checks.values()) if checks else None
        return entry
    if expected is None:
        return entry
    if spec.type == "ordinal":
        order = spec.order or []
        if predicted in order and expected in order:
            entry["distance"] = abs(order.index(predicted) - order.index(expected))
            entry["correct"] = entry["distance"] == 0
        else:
            entry["distance"] = None
            entry["correct"] = False
    elif spec.type == "number":
        ok = isinstance(predicted, (int, float)) and not isinstance(predicted, bool)
        entry["correct"] = ok and abs(float(predicted) - float(expected)) <= spec.tolerance + 1e-12
    else:
        entry["correct"] = predicted == expected
    return entry


def score_fields(
    fields: dict[str, FieldSpec], parsed: Any, expected: Any, sources: list[str]
) -> dict[str, dict[str, Any]]:
    """Every declared field of one parsed output against the case's expected object."""
    expected_object = expected if isinstance(expected, dict) else {}
    return {
        name: score_value(
            spec, get_path(expected_object, name), get_path(parsed, name) if parsed is not None else None, sources
        )
        for name, spec in fields.items()
    }


def unparsed_fields(fields: dict[str, FieldSpec], expected: Any) -> dict[str, dict[str, Any]]:
    """The fields of an output that did not parse (or a call that failed): every one wrong."""
    expected_object = expected if isinstance(expected, dict) else {}
    result = {}
    for name, spec in fields.items():
        value = get_path(expected_object, name)
        scored = spec.type == "text" or value is not None
        result[name] = {"expected": value, "predicted": None, "correct": False if scored else None}
    return result


def exact_match(label_correct: bool, scored: dict[str, dict[str, Any]]) -> bool:
    """The label and every scored field right."""
    return bool(label_correct) and all(entry["correct"] is not False for entry in scored.values())
