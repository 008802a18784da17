"""Write the train split as a training file that sees exactly what inference sees.

Each train case goes through the tuned route's `RoutePlan`: its system prompt, its rendered user
prompt (few-shot examples and retrieved context only when that route has them), and the
expected output as the assistant message, serialised as the output schema wants
(`routes.serialise_expected`). Holdout cases are never written. A training example never shows
its own case among its few-shot examples.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, overload

from evalkit.errors import BadInput, LeakageFound
from evalkit.finetune.formats import Format, TrainingExample, get_format

if TYPE_CHECKING:
    from evalkit.finetune.validate import ValidationReport


@dataclass
class ExportResult:
    path: Path
    format: str
    route: str
    n_examples: int
    sha256: str
    validation_path: Path | None = None
    n_validation: int = 0
    validation_sha256: str | None = None
    # train cases left out (no rejected output, for preference formats)
    skipped: list[str] = field(default_factory=list)
    leaks: list = field(default_factory=list)  # allowed with --allow-leakage
    warnings: list[str] = field(default_factory=list)
    report: ValidationReport | None = None  # the ValidationReport of the written training file


@overload
def pick_route(suite: Any, name: str | None, *, required: Literal[True] = ...) -> str: ...
@overload
def pick_route(suite: Any, name: str | None, *, required: bool) -> str | None: ...
def pick_route(suite: Any, name: str | None, *, required: bool = True) -> str | None:
    """The named route, or the suite's only fine-tuned route."""
    routes = suite.spec.routes
    if name is not None:
        if name not in routes:
            raise BadInput(f"no route {name!r} in the suite (routes: {', '.join(routes)})", where=str(suite.path))
        return name
    tuned = [n for n, r in routes.items() if r.kind == "finetuned"]
    if len(tuned) == 1:
        return tuned[0]
    if not required:
        return None
    reason = "has no finetuned route" if not tuned else f"has several finetuned routes ({', '.join(tuned)})"
    raise BadInput(f"the suite {reason}: pass --route", where=str(suite.path))


def route_plan(suite, name: str):
    """The route's RoutePlan, with a retriever whenever the route retrieves (whatever its kind)."""
    from evalkit.planning import build_plans

    plan = build_plans(suite, [name])[name]
    route = suite.spec.routes[name]
    if plan.retriever is None and route.retrieval is not None:
        from evalkit.retrieval import Retriever, load_documents

        if suite.corpus_path is None:
            raise BadInput(f"route {name!r} retrieves but the suite has no corpus", where=str(suite.path))
        plan.retriever = Retriever(
            load_documents(suite.corpus_path), route.retrieval.chunk_chars, route.retrieval.overlap
        )
    return plan


class _WithoutOwnCase:
    """Wraps a route's example picker so that a train case never sees itself as an example."""

    def __init__(self, picker):
        self.picker = picker

    def pick(self, case):
        config = self.picker.config
        k = config.k
        config.k = k + 1  # one spare, in case the case itself is among the nearest
        try:
            picked = self.picker.pick(case)
        finally:
            config.k = k
        return [c for c in picked if c.id != case.id][:k]


def serialise_rejected(case, suite) -> str | None:
    from evalkit.routes import serialise_expected

    if case.rejected is None:
        return None
    return serialise_expected(case.model_copy(update={"expected": case.rejected}), suite)


def training_examples(suite, route_name: str, cases: list) -> list[TrainingExample]:
    """The cases rendered through the route, with their expected (and rejected) outputs."""
    from evalkit.routes import serialise_expected

    plan = route_plan(suite, route_name)
    if getattr(plan, "_examples", None) is not None:
        plan._examples = _WithoutOwnCase(plan._examples)
    return [
        TrainingExample(
            case.id, plan.render(case).messages, serialise_expected(case, suite), serialise_rejected(case, suite)
        )
        for case in cases
    ]


def with_references(suite, cases: list, examples: list[TrainingExample]) -> list[TrainingExample]:
    """The examples with their cases' expected answers as the grader's reference fields (evalkit.finetune.rft)."""
    from dataclasses import replace

    from evalkit.finetune.rft import references, reward_plan

    plan = reward_plan(suite)
    by_id = {case.id: case for case in cases}
    return [replace(e, reference=references(plan, by_id[e.case_id], str(suite.path))) for e in examples]


def _names_answer_format(suite, examples: list[TrainingExample]) -> bool:
    """Whether the prompts mention the label field: without it a model cannot know the answer's shape."""
    key = (suite.spec.task.label_field or "").rsplit(".", 1)[-1]
    return not key or all(any(key in str(m.get("content", "")) for m in e.prompt) for e in examples[:20])


def _validation_ids(suite, cases: list, fraction: float, seed: int) -> set[str]:
    from evalkit.cases import expected_label
    from evalkit.finetune.split import SplitCase, assign_splits

    label_field = suite.spec.task.label_field
    chosen = assign_splits([SplitCase(c.id, str(expected_label(c, label_field)), None) for c in cases], fraction, seed)
    return {case_id for case_id, split in chosen.items() if split == "holdout"}


def _write(path: Path, fmt: Format, examples: list[TrainingExample]) -> str:
    data = "".join(json.dumps(fmt.render(e), ensure_ascii=False) + "\n" for e in examples).encode("utf-8")
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return hashlib.sha256(data).hexdigest()


def export_training_data(suite, out: str | Path, *, route: str | None = None, fmt: str = "openai-chat",
                         validation_out: str | Path | None = None, validation_fraction: float = 0.2, seed: int = 0,
                         allow_leakage: bool = False, threshold: float | None = None) -> ExportResult:
    """Render the train split through the route and write it (and a validation file) in the format."""
    from evalkit.finetune.leakage import DEFAULT_THRESHOLD, suite_leaks
    from evalkit.finetune.validate import validate_file

    format_ = get_format(fmt)
    name = pick_route(suite, route)
    if validation_out and not 0.0 < validation_fraction < 1.0:
        raise BadInput(f"--validation-fraction must be a fraction between 0 and 1, got {validation_fraction}")
    leaks = suite_leaks(suite, threshold=DEFAULT_THRESHOLD if threshold is None else threshold)
    if leaks and not allow_leakage:
        shown = "; ".join(leak.describe() for leak in leaks[:3])
        more = f" (and {len(leaks) - 3} more)" if len(leaks) > 3 else ""
        raise LeakageFound(
            f"refusing to export: {len(leaks)} holdout case(s) leak into the training data: {shown}{more}. "
            "Move or drop those train cases (see `evalkit ft leakage`), or pass --allow-leakage",
            where=str(suite.path),
        )
    cases = suite.train
    if not cases:
        raise BadInput(
            "the suite has no train cases to export (assign some with `evalkit ft split`)", where=str(suite.path)
        )
    skipped = []
    if format_.needs_rejected:
        skipped = [c.id for c in cases if c.rejected is None]
        cases = [c for c in cases if c.rejected is not None]
        if not cases:
            raise BadInput(
                f"format {fmt} needs cases with a `rejected` output, and no train case has one", where=str(suite.path)
            )
    if format_.needs_validation and not validation_out:
        raise BadInput(
            f"format {fmt} needs a validation file: pass --validation-out VALID.jsonl", where=str(suite.path)
        )
    held = _validation_ids(suite, cases, validation_fraction, seed) if validation_out else set()
    examples = training_examples(suite, name, cases)
    if format_.needs_reference:
        examples = with_references(suite, cases, examples)
    train = [e for e in examples if e.case_id not in held]
    result = ExportResult(
        Path(out), fmt, name, len(train), _write(Path(out), format_, train), skipped=skipped, leaks=leaks
    )
    if format_.needs_reference and not _names_answer_format(suite, examples):
        result.warnings.append(
            f"route {name!r} does not name the answer's field {suite.spec.task.label_field!r} in its prompts: "
            "reinforcement learns from rewards, not from shown answers, so the prompt must ask for "
            "the JSON answer (export from a route that does, with --route)"
        )
    if validation_out:
        validation = [e for e in examples if e.case_id in held]
        result.validation_path, result.n_validation = Path(validation_out), len(validation)
        result.validation_sha256 = _write(Path(validation_out), format_, validation)
    model = suite.spec.routes[name].base_model
    result.report = validate_file(
        out, fmt, model=f"{suite.spec.routes[name].provider or 'openai'}:{model}" if model else None
    )
    return result
