"""Check a training file before it costs anything: the OpenAI cookbook notebook's format checks
(per format), its warnings, token counts per example, the default epochs and the billed tokens.

`validate_records` is pure (records in, report out); `validate_file` reads the JSONL.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from evalkit.errors import BadInput
from evalkit.finetune.formats import Format, detect_format, get_format
from evalkit.finetune.tokens import TokenCounter, billed_tokens, counter_for, default_epochs


@dataclass(frozen=True, slots=True)
class LineProblem:
    line: int
    kind: str
    message: str
    severity: str = "error"


@dataclass
class ValidationReport:
    """What `evalkit ft validate` prints: problems by line, token statistics and billing figures."""

    path: str
    format: str
    counter: TokenCounter
    n_examples: int = 0
    problems: list[LineProblem] = field(default_factory=list)
    counted_lines: list[int] = field(default_factory=list)  # lines whose tokens were counted (no format error)
    messages_per_example: list[int] = field(default_factory=list)
    tokens_per_example: list[int] = field(default_factory=list)
    assistant_tokens_per_example: list[int] = field(default_factory=list)

    @property
    def errors(self) -> list[LineProblem]:
        return [p for p in self.problems if p.severity == "error"]

    @property
    def warnings(self) -> list[LineProblem]:
        return [p for p in self.problems if p.severity == "warning"]

    @property
    def ok(self) -> bool:
        return not self.errors

    @property
    def missing_system(self) -> int:
        return sum(p.kind == "missing_system_message" for p in self.problems)

    @property
    def missing_user(self) -> int:
        return sum(p.kind == "missing_user_message" for p in self.problems)

    @property
    def error_counts(self) -> dict[str, int]:
        """Errors by kind, counted as the notebook counts them (one per offending message)."""
        counts: dict[str, int] = {}
        for problem in self.errors:
            counts[problem.kind] = counts.get(problem.kind, 0) + 1
        return counts

    @property
    def over_limit_lines(self) -> list[int]:
        limit = self.counter.limit
        return (
            [] if limit is None else [line for line, n in zip(self.counted_lines, self.tokens_per_example) if n > limit]
        )

    @property
    def billed_tokens(self) -> int:
        return billed_tokens(self.tokens_per_example, self.counter.limit)

    @property
    def default_epochs(self) -> int:
        return default_epochs(self.n_examples)

    @property
    def charged_tokens(self) -> int:
        return self.default_epochs * self.billed_tokens

    def to_dict(self) -> dict[str, Any]:
        return {
            "path": self.path,
            "format": self.format,
            "encoding": self.counter.encoding,
            "token_limit": self.counter.limit,
            "model": self.counter.model,
            "approximate": self.counter.approximate,
            "n_examples": self.n_examples,
            "ok": self.ok,
            "error_counts": self.error_counts,
            "errors": [vars_of(p) for p in self.errors],
            "warnings": [vars_of(p) for p in self.warnings],
            "missing_system": self.missing_system,
            "missing_user": self.missing_user,
            "distributions": {
                "messages_per_example": distribution(self.messages_per_example),
                "tokens_per_example": distribution(self.tokens_per_example),
                "assistant_tokens_per_example": distribution(self.assistant_tokens_per_example),
            },
            "over_limit_lines": self.over_limit_lines,
            "billed_tokens": self.billed_tokens,
            "default_epochs": self.default_epochs,
            "charged_tokens": self.charged_tokens,
        }


def vars_of(problem: LineProblem) -> dict[str, Any]:
    return {"line": problem.line, "kind": problem.kind, "message": problem.message}


def distribution(values: list[int]) -> dict[str, float] | None:
    """min, max, mean, median and the 10th/90th percentiles (the notebook prints these two as "p5 / p95")."""
    if not values:
        return None
    import numpy as np

    return {
        "min": int(min(values)),
        "max": int(max(values)),
        "mean": float(np.mean(values)),
        "median": float(np.median(values)),
        "p10": float(np.quantile(values, 0.1)),
        "p90": float(np.quantile(values, 0.9)),
    }


class _Unreadable:
    """A line that is not JSON."""

    def __init__(self, message: str):
        self.message = message


def read_records(path: Path) -> list[tuple[int, Any]]:
    """(line number, parsed JSON) for every non-blank line; unparseable lines carry an `_Unreadable`."""
    from evalkit.yamlfile import read_text

    records = []
    for number, line in enumerate(read_text(path, "training file").splitlines(), start=1):
        if not line.strip():
            continue
        try:
            records.append((number, json.loads(line)))
        except json.JSONDecodeError as exc:
            records.append((number, _Unreadable(f"invalid JSON: {exc.msg} (column {exc.colno})")))
    return records


def resolve_format(records: list[tuple[int, Any]], name: str | None, path: Path | str) -> Format:
    """The named format, or the one the first readable record looks like."""
    if name:
        return get_format(name)
    first = next((r for _, r in records if not isinstance(r, _Unreadable)), None)
    fmt = detect_format(first) if first is not None else None
    if fmt is None:
        raise BadInput("cannot tell the training file's format from its first example: pass --format", where=str(path))
    return fmt


def validate_records(
    records: list[tuple[int, Any]], fmt: Format, counter: TokenCounter, path: str = ""
) -> ValidationReport:
    report = ValidationReport(path=path, format=fmt.name, counter=counter, n_examples=len(records))
    clean: list[tuple[int, Any]] = []
    for line, record in records:
        if isinstance(record, _Unreadable):
            report.problems.append(LineProblem(line, "invalid_json", record.message))
            continue
        problems = fmt.check(record)
        report.problems += [LineProblem(line, p.kind, p.message, p.severity) for p in problems]
        if any(p.severity == "error" for p in problems):
            continue
        clean.append((line, record))
        messages = fmt.messages(record)
        roles = {m.get("role") for m in messages}
        if "system" not in roles:
            report.problems.append(LineProblem(line, "missing_system_message", "no system message", "warning"))
        if "user" not in roles:
            report.problems.append(LineProblem(line, "missing_user_message", "no user message", "warning"))
        tokens = counter.messages(messages)
        report.counted_lines.append(line)
        report.messages_per_example.append(len(messages))
        report.tokens_per_example.append(tokens)
        report.assistant_tokens_per_example.append(counter.assistant(messages))
        if counter.limit is not None and tokens > counter.limit:
            report.problems.append(
                LineProblem(
                    line,
                    "over_token_limit",
                    f"{tokens} tokens, over the {counter.limit}-token limit: training truncates it",
                    "warning",
                )
            )
    report.problems += [LineProblem(line, p.kind, p.message, p.severity) for line, p in fmt.check_file(clean)]
    report.problems.sort(key=lambda p: p.line)
    return report


def validate_file(path: str | Path, fmt: str | None = None, model: str | None = None, *,
                  validation: str | Path | None = None, grader: dict[str, Any] | None = None) -> ValidationReport:
    """Validate the file; for a reinforcement format also the grader's reference fields, the
    validation file (`validation`) and the model (problems about the whole file have line 0)."""
    path = Path(path)
    records = read_records(path)
    if not records:
        raise BadInput("the training file holds no examples", where=str(path))
    format_ = resolve_format(records, fmt, path)
    report = validate_records(records, format_, counter_for(model), str(path))
    if format_.method == "reinforcement":
        extra = _reinforcement_problems(records, format_, model, validation, grader)
        report.problems = sorted(report.problems + extra, key=lambda p: p.line)
    return report


#: model names OpenAI's reinforcement fine-tuning takes: reasoning models
_REASONING = ("o1", "o3", "o4", "gpt-5")


def is_reasoning_model(model: str) -> bool:
    name = model.split(":", 1)[1] if ":" in model and not model.startswith("ft:") else model
    name = name[3:] if name.startswith("ft:") else name
    return any(name == family or name.startswith(family + "-") for family in _REASONING)


def _reinforcement_problems(records, format_: Format, model: str | None, validation, grader) -> list[LineProblem]:
    problems: list[LineProblem] = []
    if model is None:
        problems.append(LineProblem(0, "model_unknown", "no --model: reinforcement fine-tuning needs a reasoning model "
                                                        "(o4-mini on OpenAI and Azure OpenAI)", "warning"))
    elif not is_reasoning_model(model):
        problems.append(
            LineProblem(
                0,
                "not_a_reasoning_model",
                f"{model} is not a reasoning model: reinforcement fine-tuning tunes reasoning models (o4-mini)",
                "warning",
            )
        )
    keys = {k for _, r in records if isinstance(r, dict) for k in r if k != "messages"}
    if validation is None:
        problems.append(LineProblem(0, "no_validation_file", "no validation file: reinforcement fine-tuning needs one "
                                                             "(pass --validation VALID.jsonl)", "warning"))
    else:
        other = validate_file(validation, format_.name)
        problems += [
            LineProblem(0, p.kind, f"validation file line {p.line}: {p.message}", p.severity) for p in other.errors
        ]
        other_keys = {k for _, r in read_records(Path(validation)) if isinstance(r, dict) for k in r if k != "messages"}
        for key in sorted(keys ^ other_keys):
            where = "the validation file lacks" if key in keys else "only the validation file has"
            problems.append(LineProblem(0, "reference_fields_differ", f"{where} reference field {key!r}"))
    if grader is not None:
        from evalkit.finetune.rft import grader_reference_keys

        for key in sorted(grader_reference_keys(grader)):
            for line, record in records:
                if isinstance(record, dict) and key not in record:
                    problems.append(
                        LineProblem(
                            line,
                            "missing_reference_field",
                            f"no reference field {key!r}: the grader reads {{{{ item.{key} }}}}",
                        )
                    )
    return problems
