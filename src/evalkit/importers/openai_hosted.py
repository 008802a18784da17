"""`openai-hosted-evals`: an eval of OpenAI's hosted Evals API plus its items.

PATH is the eval definition as the API returns it (or as it was created): `data_source_config`
(`item_schema`, or `schema.properties.item`) and `testing_criteria`; `--items` names the
JSONL of `{"item": {...}}` lines. PATH may also be the items file itself, with the
definition in `--definition` (or none, and `--label-field`). `--run` may name an eval run
whose `data_source.input_messages` template is the model's prompt.

Mapping:
* a `string_check` whose reference is `{{item.F}}` makes item field F the expected label
  (operation `ilike` suggests `ignore_case: true`; a literal reference is every case's label);
  an input of `{{sample.output_json.K}}` suggests JSON output with `label_field: K`;
* a `label_model`'s `labels` are the label set; with no string_check, its single passing
  label is every case's expected label; its `input` messages, when they only use `{{item.*}}`,
  become the route's system and prompt templates (`{{item.ticket}}` -> `{{ ticket }}`);
* the item without its label field is the case's input (an object of named fields); an
  item `id` gives the case id; items are checked against the item schema (warnings).
The suggested suite fragment is returned in `ImportResult.suite`; other graders are reported.
"""

from __future__ import annotations

import copy
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from evalkit.errors import BadInput
from evalkit.importers.common import (
    CaseBuilder,
    ImportOptions,
    ImportResult,
    as_label,
    fields_input,
    iter_records,
    message_text,
    pop_path,
)

_ITEM_REF = re.compile(r"\{\{\s*item\.([A-Za-z0-9_.]+)\s*\}\}")
_ONLY_ITEM_REF = re.compile(r"^\s*\{\{\s*item\.([A-Za-z0-9_.]+)\s*\}\}\s*$")
_OUTPUT_JSON_REF = re.compile(r"^\s*\{\{\s*sample\.output_json\.([A-Za-z0-9_.]+)\s*\}\}\s*$")
_SAMPLE_REF = re.compile(r"\{\{\s*sample\.")
DEFAULT_MODEL = "openai:gpt-4.1-mini"


@dataclass
class HostedEval:
    """What evalkit can use from an eval definition (and run)."""

    name: str | None = None
    item_schema: dict[str, Any] | None = None
    label_field: str | None = None       # item field holding the expected label
    constant_label: str | None = None    # the label every case expects
    passing_labels: list[str] = field(default_factory=list)
    labels: list[str] = field(default_factory=list)
    ignore_case: bool = False
    output_label_field: str | None = None  # the model answers JSON with the label at this key
    system: str | None = None
    prompt: str | None = None
    model: str | None = None


def read(path: Path, options: ImportOptions) -> ImportResult:
    builder = CaseBuilder(path, "openai-hosted-evals")
    items_path: Path | None
    definition_path: Path | None
    if path.suffix.lower() in (".jsonl", ".ndjson"):
        items_path, definition_path = path, options.definition
    else:
        definition_path, items_path = path, options.items
        if items_path is None:
            raise BadInput("the eval definition needs its items: pass --items ITEMS.jsonl (lines of {\"item\": {...}})",
                           where=str(path))
    spec = read_definition(definition_path, builder) if definition_path else HostedEval()
    if options.run:
        read_run(options.run, spec, builder)
    label_field = options.label_field or spec.label_field
    if not label_field and spec.constant_label is None:
        why = (f"the label_model has several passing labels ({', '.join(spec.passing_labels)})" if spec.passing_labels
               else "nothing in the definition names it")
        raise BadInput(f"which item field holds the expected label? {why}: pass --label-field FIELD", where=str(path))
    if label_field and re.search(
        r"\{\{\s*" + re.escape(label_field) + r"\s*\}\}", (spec.system or "") + (spec.prompt or "")
    ):
        builder.warn(
            str(path),
            f"the eval's prompt uses {{{{item.{label_field}}}}}, the label: it is not part of the case "
            f"input, so that template would hand the model the answer; edit the suggested prompt",
        )
    validator = _validator(spec.item_schema, definition_path)
    fields: list[str] = []
    for where, record in iter_records(items_path, "eval items file"):
        item = _item(record, where, builder)
        if validator is not None:
            for error in list(validator.iter_errors(item))[:1]:
                builder.warn(where, f"the item does not match the eval's item_schema: {error.message}")
        item = copy.deepcopy(item)
        if label_field:
            label = as_label(pop_path(item, label_field), where, builder)
            if label is None:
                raise BadInput(f"the item has no {label_field!r}: no expected label", where=where)
        else:
            label = spec.constant_label
        if spec.labels and label not in spec.labels:
            builder.warn(where, f"label {label!r} is not among the label_model's labels")
        fields += [k for k in item if k not in fields]
        builder.add(where, input=fields_input(item, where, builder), expected=label, id=item.get("id"))
    result = builder.result(labels=spec.labels)
    result.suite = suggested_suite(spec, fields, result.labels)
    return result


def _item(record: Any, where: str, builder: CaseBuilder) -> dict[str, Any]:
    if isinstance(record, dict) and isinstance(record.get("item"), dict):
        if "sample" in record:
            builder.warn(where, "recorded `sample` outputs are not imported (only the item)")
        extra = sorted(set(record) - {"item", "sample"})
        if extra:
            builder.warn(where, f"keys beside `item` are not imported: {', '.join(extra)}")
        return record["item"]
    if isinstance(record, dict):
        builder.warn(where, "the line is not wrapped in {\"item\": ...}: read the whole object as the item")
        return record
    raise BadInput(f"an items line must be an object {{\"item\": {{...}}}}, got {type(record).__name__}", where=where)


def _validator(schema: dict[str, Any] | None, where: Path | None):
    if not schema:
        return None
    from jsonschema import SchemaError, validators

    cls = validators.validator_for(schema)
    try:
        cls.check_schema(schema)
    except SchemaError as exc:
        raise BadInput(f"the item_schema is not a valid JSON Schema: {exc.message}", where=str(where)) from None
    return cls(schema)


def read_definition(path: Path, builder: CaseBuilder) -> HostedEval:
    from evalkit.cases import get_path
    from evalkit.yamlfile import load_with_lines

    data, _ = load_with_lines(path, "eval definition")
    if not isinstance(data, dict) or "testing_criteria" not in data:
        raise BadInput("an eval definition is an object with data_source_config and testing_criteria", where=str(path))
    spec = HostedEval(name=data.get("name"))
    config = data.get("data_source_config") or {}
    spec.item_schema = config.get("item_schema") or get_path(config, "schema.properties.item")
    if config.get("type") not in (None, "custom"):
        builder.warn(
            f"{path}[data_source_config]",
            f"data source {config.get('type')!r}: the item fields come from the items file",
        )
    for index, grader in enumerate(data.get("testing_criteria") or []):
        where = f"{path}[testing_criteria][{index}]"
        kind = grader.get("type") if isinstance(grader, dict) else None
        if kind == "string_check":
            _string_check(grader, where, spec, builder)
        elif kind == "label_model":
            _label_model(grader, where, spec, builder)
        else:
            builder.warn(
                where,
                f"grader {kind!r} ({grader.get('name', '?') if isinstance(grader, dict) else '?'}) has no "
                f"evalkit counterpart: not imported",
            )
    if not spec.label_field and spec.constant_label is None and len(spec.passing_labels) == 1:
        spec.constant_label = spec.passing_labels[0]
        builder.warn(f"{path}[testing_criteria]", f"no string_check names a per-item label: every case expects "
                                                   f"{spec.constant_label!r}, the label_model's only passing label")
    return spec


def _string_check(grader: dict[str, Any], where: str, spec: HostedEval, builder: CaseBuilder) -> None:
    operation = grader.get("operation", "eq")
    if operation == "ne":
        builder.warn(where, "string_check with operation ne inverts the check: not imported")
        return
    reference, given = str(grader.get("reference", "")), str(grader.get("input", ""))
    ref_match = _ONLY_ITEM_REF.match(reference)
    input_match = None if ref_match else _ONLY_ITEM_REF.match(given)
    item_ref = ref_match or input_match
    output = reference if input_match else given
    if spec.label_field and item_ref and item_ref.group(1) != spec.label_field:
        builder.warn(
            where, f"a second string_check compares item.{item_ref.group(1)}: kept item.{spec.label_field} as the label"
        )
        return
    if item_ref:
        spec.label_field = item_ref.group(1)
    elif "{{" not in reference and reference.strip():
        spec.constant_label = spec.constant_label or reference.strip()
        builder.warn(where, f"the string_check reference is the literal {reference.strip()!r}: every case expects it")
    else:
        builder.warn(where, "the string_check does not compare the output with one item field: not imported")
        return
    json_ref = _OUTPUT_JSON_REF.match(output)
    if json_ref:
        spec.output_label_field = json_ref.group(1)
    if operation == "ilike":
        spec.ignore_case = True
    elif operation == "like":
        builder.warn(where, "string_check `like` matches a substring: evalkit compares whole labels (use task.extract "
                            "if the answer carries more text)")


def _label_model(grader: dict[str, Any], where: str, spec: HostedEval, builder: CaseBuilder) -> None:
    labels = [str(x) for x in grader.get("labels") or []]
    passing = [str(x) for x in grader.get("passing_labels") or []]
    if spec.labels and labels != spec.labels:
        builder.warn(where, "a second label_model with other labels: kept the first one's")
        return
    spec.labels = labels
    spec.passing_labels = passing
    messages = grader.get("input") or []
    if any(_SAMPLE_REF.search(_content(m, where)) for m in messages):
        builder.warn(
            where, "the label_model grades the model's output ({{sample.*}}): its prompt is not a route prompt"
        )
        return
    if grader.get("model"):
        spec.model = f"openai:{grader['model']}"
    _set_prompt(messages, where, spec, builder)


def read_run(path: Path, spec: HostedEval, builder: CaseBuilder) -> None:
    """An eval run's `data_source.input_messages` template is the prompt the model saw."""
    from evalkit.cases import get_path
    from evalkit.yamlfile import load_with_lines

    data, _ = load_with_lines(path, "eval run")
    template = get_path(data, "data_source.input_messages.template")
    if not isinstance(template, list):
        raise BadInput(
            "the eval run has no data_source.input_messages.template to take the prompt from", where=str(path)
        )
    model = get_path(data, "data_source.model")
    if model:
        spec.model = f"openai:{model}"
    _set_prompt(template, f"{path}[data_source][input_messages]", spec, builder)


def _content(message: Any, where: str) -> str:
    if not isinstance(message, dict):
        raise BadInput("a message must be an object with role and content", where=where)
    return message_text(message.get("content", ""), f"a {message.get('role', '?')} message", where)


def _set_prompt(messages: list, where: str, spec: HostedEval, builder: CaseBuilder) -> None:
    system, prompt = [], []
    for message in messages:
        text = _ITEM_REF.sub(lambda m: "{{ " + m.group(1) + " }}", _content(message, where))
        if re.search(r"\{\{\s*(sample|item)\b", text):
            builder.warn(where, "a template refers to something other than item fields: left as written")
        role = message.get("role")
        if role in ("system", "developer"):
            system.append(text)
        elif role == "user":
            prompt.append(text)
        else:
            builder.warn(where, f"a {role!r} message in the template is not part of the suggested route")
    spec.system = "\n\n".join(system) or None
    spec.prompt = "\n\n".join(prompt) or None


def suggested_suite(spec: HostedEval, fields: list[str], labels: list[str]) -> dict[str, Any]:
    """A suite fragment to paste: task labels and output mode, and one route with the eval's prompt."""
    task: dict[str, Any] = {"labels": list(labels)}
    if spec.output_label_field:
        task.update(output_format="json", label_field=spec.output_label_field)
    else:
        task["output_format"] = "text"
    if spec.ignore_case:
        task["ignore_case"] = True
    prompt = spec.prompt or "\n".join(f"{name}: {{{{ {name} }}}}" for name in fields)
    route: dict[str, Any] = {"kind": "prompted" if spec.system else "base", "model": spec.model or DEFAULT_MODEL}
    if spec.system:
        route["system"] = spec.system
    route["prompt"] = prompt
    name = re.sub(r"[^A-Za-z0-9_.-]+", "_", spec.name or "imported_eval").strip("_") or "imported_eval"
    return {"name": name, "task": task, "routes": {route["kind"]: route}}
