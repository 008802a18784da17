"""The eval is the reward: reinforcement fine-tuning material built from the suite's own scoring.

`reward_plan(suite)` turns the suite's scoring (`task.label_field`, `task.fields`, the output
schema) into weighted components, the one description that three things are built from:

* `row_reward(plan, row)`: evalkit's own reward of a stored result row (from `correct` and
  `fields`, never parsing the output again);
* `build_grader(plan)`: an OpenAI grader (a `string_check` on the label; with more components, or
  an output schema to check, a `multi` grader of a validity gate, the label's string check and
  `python` graders, weighted by `calculate_output`);
* `reward_module_source(plan)`: a stdlib-only module with a reward function for TRL's GRPOTrainer.

The graders and the module carry `evalkit.finetune.rewardcore`'s source, so all three score an
answer alike: 0 unless it parses, validates and names a known label; otherwise the weighted mean
of the label (1 or 0), each ordinal field (1 - distance / (steps - 1)), each label, number,
boolean or exact field (1 or 0) and each text field (1 when every check but `mentions_source`
passes). Weights: `task.label_weight` for the label, each field's `weight` (default 1.0); a
weight of 0 leaves the component out.
"""

from __future__ import annotations

import json
import re
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from evalkit.errors import BadInput

#: text checks a grader cannot make: it sees the answer, not the sources a route retrieved
UNREWARDED_CHECKS = ("mentions_source",)
GATE = "valid"
RESERVED_KEYS = ("messages",)


@dataclass(frozen=True)
class Component:
    """One weighted part of the reward."""

    name: str  # grader name, an identifier
    path: str  # dot path of the field in the answer
    type: str  # primary (the label_field), label, ordinal, text, number, boolean, exact
    weight: float
    key: str | None = None  # the reference field in each training line (None for text: checks need no answer)
    order: list[str] | None = None
    tolerance: float = 0.0
    checks: dict[str, Any] | None = None


@dataclass
class RewardPlan:
    suite_name: str
    label_field: str
    labels: list[str]
    ignore_case: bool
    schema: dict[str, Any] | None
    components: list[Component] = field(default_factory=list)
    left_out: list[str] = field(default_factory=list)  # fields scored by evalkit but not rewarded, with the reason

    @property
    def total_weight(self) -> float:
        total = 0.0
        for component in self.components:
            total = total + component.weight
        return total

    @property
    def reference_keys(self) -> list[str]:
        return [c.key for c in self.components if c.key is not None]

    def spec(self) -> dict[str, Any]:
        """What `rewardcore` reads (JSON-able)."""
        return {"label_field": self.label_field, "labels": list(self.labels), "ignore_case": self.ignore_case,
                "schema": self.schema, "components": [asdict(c) for c in self.components],
                "total_weight": self.total_weight}


def _identifier(path: str) -> str:
    name = re.sub(r"\W", "_", path)
    return name if re.match(r"[A-Za-z_]", name) else f"f_{name}"


def reward_plan(suite) -> RewardPlan:
    """The suite's scoring as reward components; exit 2 when the grader could not read or express it."""
    task = suite.spec.task
    where = f"{suite.path}: task"
    if task.output_format != "json" or not task.label_field:
        raise BadInput("output_format text: a grader reads fields of a JSON answer (sample.output_json), and a text "
                       "answer has none; set output_format: json with a label_field to export RFT graders and rewards",
                       where=f"{where}.output_format")
    plan = RewardPlan(suite.spec.name, task.label_field, list(task.labels), bool(task.ignore_case), suite.output_schema)
    candidates = [Component(_identifier(task.label_field), task.label_field, "primary", float(task.label_weight),
                            key=_identifier(task.label_field))]
    for path, spec in task.fields.items():
        name = _identifier(path)
        if spec.type == "text":
            checks = {
                k: v for k, v in (spec.checks.model_dump() if spec.checks else {}).items() if k not in UNREWARDED_CHECKS
            }
            if not _has_check(checks):
                plan.left_out.append(
                    f"{path}: no check a grader can make (mentions_source needs the retrieved sources)"
                )
                continue
            candidates.append(Component(name, path, "text", float(spec.weight), checks=checks))
        else:
            candidates.append(
                Component(
                    name,
                    path,
                    spec.type,
                    float(spec.weight),
                    key=name,
                    order=list(spec.order) if spec.order else None,
                    tolerance=float(spec.tolerance),
                )
            )
    for component in candidates:
        if component.weight <= 0:
            plan.left_out.append(f"{component.path}: weight 0")
        else:
            plan.components.append(component)
    if not plan.components:
        raise BadInput("no scored field the grader can express: every field (and the label, task.label_weight) has "
                       "weight 0 or no check a grader can make", where=where)
    names = [c.name for c in plan.components]
    clash = sorted({n for n in names if names.count(n) > 1} | {n for n in names if n in RESERVED_KEYS})
    if clash:
        raise BadInput(f"fields {', '.join(clash)} would share a grader name or reference key (or take `messages`): "
                       "rename a field", where=f"{where}.fields")
    return plan


def _has_check(checks: dict[str, Any]) -> bool:
    return bool(checks.get("non_empty") or checks.get("must_match") or checks.get("must_not_match")
                or any(checks.get(k) is not None for k in ("min_chars", "max_chars", "max_sentences")))


def gate_name(plan: RewardPlan) -> str:
    names = {c.name for c in plan.components}
    return next(n for n in (GATE, "valid_output", "valid_answer") if n not in names)


# ---------------------------------------------------------------- references and evalkit's own reward


def references(plan: RewardPlan, case, where: str = "") -> dict[str, Any]:
    """The case's expected answer as the grader's reference fields; exit 2 naming the case and key."""
    from evalkit.cases import expected_label, get_path

    found: dict[str, Any] = {}
    for component in plan.components:
        if component.key is None:
            continue
        if component.type == "primary":
            value = expected_label(case, plan.label_field)
        else:
            value = get_path(case.expected, component.path) if isinstance(case.expected, dict) else None
        at = case.origin or where
        if value is None:
            raise BadInput(
                f"case {case.id!r} has no expected {component.path!r}: the grader needs it as reference field "
                f"{component.key!r} (give it, or set the field's weight to 0)",
                where=at or None,
            )
        if component.type == "ordinal" and value not in (component.order or []):
            raise BadInput(f"case {case.id!r}: expected {component.path} {value!r} is not in its order "
                           f"({', '.join(component.order or [])})", where=at or None)
        found[component.key] = value
    return found


def row_reward(plan: RewardPlan, row: dict[str, Any]) -> float:
    """evalkit's reward of one result row, from what scoring stored (`parsed_ok`, `correct`, `fields`)."""
    if row.get("error") or not row.get("parsed_ok"):
        return 0.0
    total = 0.0
    for component in plan.components:
        total = total + component.weight * _row_component(component, row)
    return total / plan.total_weight


def _row_component(component: Component, row: dict[str, Any]) -> float:
    if component.type == "primary":
        return 1.0 if row.get("correct") else 0.0
    entry = (row.get("fields") or {}).get(component.path)
    if entry is None:
        raise BadInput(f"row of case {row.get('case_id')!r} has no scored field {component.path!r}: re-score the run "
                       "(evalkit score RUN_DIR) with the suite")
    if component.type == "ordinal":
        distance = entry.get("distance")
        return 0.0 if distance is None else 1.0 - distance / (len(component.order or []) - 1)
    if component.type == "text":
        checks = {k: v for k, v in (entry.get("checks") or {}).items() if k not in UNREWARDED_CHECKS}
        return 1.0 if all(checks.values()) else 0.0
    return 1.0 if entry.get("correct") else 0.0


# ---------------------------------------------------------------- the OpenAI grader


def core_source() -> str:
    from evalkit.finetune import rewardcore

    return Path(rewardcore.__file__).read_text(encoding="utf-8")


def _python_grader(name: str, plan: RewardPlan, body: str) -> dict[str, Any]:
    spec = json.dumps(plan.spec(), ensure_ascii=False, sort_keys=True)
    source = f"{core_source()}\n\nSPEC = json.loads({spec!r})\n\n\n{body}"
    return {"type": "python", "name": name, "source": source}


def _component_grader(plan: RewardPlan, index: int) -> dict[str, Any]:
    component = plan.components[index]
    if component.type == "primary" and not plan.ignore_case:
        return {
            "type": "string_check",
            "name": component.name,
            "input": f"{{{{ sample.output_json.{component.path} }}}}",
            "reference": f"{{{{ item.{component.key} }}}}",
            "operation": "eq",
        }
    return _python_grader(component.name, plan, (
        f"COMPONENT = SPEC[\"components\"][{index}]\n\n\n"
        "def grade(sample, item):\n"
        f"    \"\"\"{component.path}: {_describe(component)}.\"\"\"\n"
        "    parsed = parse_output((sample or {}).get(\"output_text\"))\n"
        "    if parsed is None:\n"
        "        return 0.0\n"
        "    return component_score(COMPONENT, parsed, item or {}, SPEC)\n"))


def _describe(component: Component) -> str:
    if component.type == "ordinal":
        return (f"1 - distance / {len(component.order or []) - 1} along {' < '.join(component.order or [])}, "
                "0 outside the order")
    if component.type == "text":
        return "1 when every check passes, else 0"
    if component.type == "number":
        return f"1 within {component.tolerance:g} of the reference, else 0"
    return "1 when equal to the reference, else 0"


def build_grader(plan: RewardPlan) -> dict[str, Any]:
    """The OpenAI grader: a lone string_check when the label is the whole reward and nothing else can
    make an answer unparsed (no output schema, exact labels); else a multi grader."""
    only = plan.components[0] if len(plan.components) == 1 else None
    if only is not None and only.type == "primary" and plan.schema is None and not plan.ignore_case:
        return _component_grader(plan, 0)
    gate = gate_name(plan)
    graders = {gate: _python_grader(gate, plan, (
        "def grade(sample, item):\n"
        "    \"\"\"1 when the answer parses, passes the schema's light checks and names a known label; else 0.\"\"\"\n"
        "    return 1.0 if valid_output((sample or {}).get(\"output_text\"), SPEC) is not None else 0.0\n"))}
    for index, component in enumerate(plan.components):
        graders[component.name] = _component_grader(plan, index)
    weighted = " + ".join(f"{c.weight!r} * {c.name}" for c in plan.components)
    return {"type": "multi", "name": f"evalkit {plan.suite_name}", "graders": graders,
            "calculate_output": f"{gate} * ({weighted}) / {plan.total_weight!r}"}


def grader_reference_keys(grader: dict[str, Any]) -> set[str]:
    """The item fields a grader reads: `{{ item.x }}` in templates, and the reference keys of
    evalkit's python graders (their SPEC)."""
    keys: set[str] = set()
    if not isinstance(grader, dict):
        return keys
    for value in (grader.get("input"), grader.get("reference")):
        if isinstance(value, str):
            keys.update(m.split(".")[0] for m in re.findall(r"\{\{\s*item\.([\w.]+)\s*\}\}", value))
    source = grader.get("source")
    if isinstance(source, str):
        match = re.search(r"^SPEC = json\.loads\((.*)\)$", source, re.MULTILINE)
        if match:
            import ast

            try:
                spec = json.loads(ast.literal_eval(match.group(1)))
                keys.update(c["key"] for c in spec.get("components", []) if c.get("key"))
            except (ValueError, SyntaxError, TypeError, KeyError):
                pass
    for sub in (grader.get("graders") or {}).values() if isinstance(grader.get("graders"), dict) else ():
        keys |= grader_reference_keys(sub)
    return keys


def load_grader(path: str | Path) -> dict[str, Any]:
    from evalkit.yamlfile import read_text

    try:
        grader = json.loads(read_text(Path(path), "grader"))
    except json.JSONDecodeError as exc:
        raise BadInput(f"the grader is not JSON: {exc.msg} (line {exc.lineno})", where=str(path)) from None
    if not isinstance(grader, dict) or not isinstance(grader.get("type"), str):
        raise BadInput("a grader is a JSON object with a `type` (string_check, text_similarity, python, multi, ...)",
                       where=str(path))
    return grader


# ---------------------------------------------------------------- the TRL reward module


def reward_module_source(plan: RewardPlan) -> str:
    spec = json.dumps(plan.spec(), ensure_ascii=False, sort_keys=True)
    columns = ", ".join(plan.reference_keys) or "none"
    header = (
        f'"""Reward function for TRL\'s GRPOTrainer, written by `evalkit ft reward` from suite {plan.suite_name!r}.\n\n'
        "It scores a completion as evalkit scores it (see the parsing and validation notes below): 0 unless\n"
        "the answer parses, validates and names a known label, else the weighted mean of\n"
        f"{_plan_summary(plan)}.\n\n"
        "    from reward import reward\n"
        "    trainer = GRPOTrainer(model=..., reward_funcs=reward, train_dataset=dataset)\n\n"
        f"The dataset needs a `prompt` column and the reference columns: {columns}.\n"
        "Standard library only; imports nothing from evalkit.\n"
        '"""\n\n'
    )
    body = (
        f"\n\nSPEC = json.loads({spec!r})\n"
        f"REFERENCE_COLUMNS = {plan.reference_keys!r}\n\n\n"
        "def completion_text(completion):\n"
        '    """A completion as text: a string, or the last message of a conversational completion."""\n'
        "    if isinstance(completion, str):\n"
        "        return completion\n"
        "    if isinstance(completion, dict):\n"
        "        completion = [completion]\n"
        "    if isinstance(completion, list) and completion:\n"
        '        content = completion[-1].get("content") if isinstance(completion[-1], dict) else completion[-1]\n'
        "        if isinstance(content, list):\n"
        '            return "".join(part.get("text", "") for part in content if isinstance(part, dict))\n'
        "        return content if isinstance(content, str) else None\n"
        "    return None\n\n\n"
        "def reward(prompts=None, completions=None, **kwargs):\n"
        '    """One reward in [0, 1] per completion; the reference columns arrive as keyword lists."""\n'
        "    missing = [column for column in REFERENCE_COLUMNS if column not in kwargs]\n"
        "    if missing:\n"
        '        raise KeyError("the dataset has no column %s: the reward needs %s" % (", ".join(missing), '
        '", ".join(REFERENCE_COLUMNS)))\n'
        "    rewards = []\n"
        "    for i, completion in enumerate(completions or []):\n"
        "        reference = dict((column, kwargs[column][i]) for column in REFERENCE_COLUMNS)\n"
        "        rewards.append(score(completion_text(completion), reference, SPEC))\n"
        "    return rewards\n"
    )
    core = core_source()
    core = core.split('"""', 2)[2].lstrip("\n") if core.startswith('"""') else core
    notes = "".join(f"# {line}".rstrip() + "\n" for line in _core_notes().splitlines())
    return header + notes + core + body


def _core_notes() -> str:
    from evalkit.finetune import rewardcore

    return (rewardcore.__doc__ or "").strip()


def _plan_summary(plan: RewardPlan) -> str:
    parts = []
    for c in plan.components:
        what = "the label" if c.type == "primary" else f"{c.type} field"
        parts.append(f"{what} {c.path} (weight {c.weight:g})")
    return ", ".join(parts)
