"""`promptfoo`: promptfoo test cases.

Sources: a config or test file in YAML/JSON (`tests: [{vars, assert, metadata, description}]`,
or a bare list of tests), a JSONL file of tests, or a CSV whose columns are vars plus the
special `__expected`, `__expectedN`, `__description`, `__metadata:KEY` and `__metadata:KEY[]`
columns. A config's `tests:` may name CSV/YAML/JSON files (`file://tests.csv`); they are read
relative to the config.

Mapping: `vars` become the case's input fields (so a promptfoo prompt's `{{text}}` still
works). The expected label comes from the first `equals` assertion, else the first `contains`
or `icontains` one (a CSV `__expected` value without a type prefix is `equals`, as in
promptfoo). An assertion value `{{var}}` takes the label from that var. `--label-field VAR`
takes the label from a var instead. A var that holds the label (named by either, or equal to
the expected label on every row) is left out of the input so the answer does not leak into
the prompt. `description` goes to metadata; metadata `tags` become case tags.
"""

from __future__ import annotations

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
    delimiter_for,
    fields_input,
    iter_dict_rows,
    iter_records,
    read_source,
    record_place,
)

# promptfoo's assertion types (src/types), so `type:value` strings split as promptfoo splits them
ASSERTION_TYPES = frozenset(
    [
        "answer-relevance",
        "bleu",
        "classifier",
        "contains",
        "contains-all",
        "contains-any",
        "contains-html",
        "contains-json",
        "contains-sql",
        "contains-xml",
        "context-faithfulness",
        "context-recall",
        "context-relevance",
        "conversation-relevance",
        "cost",
        "equals",
        "factuality",
        "finish-reason",
        "g-eval",
        "gleu",
        "guardrails",
        "human",
        "icontains",
        "icontains-all",
        "icontains-any",
        "is-html",
        "is-json",
        "is-refusal",
        "is-sql",
        "is-valid-function-call",
        "is-valid-openai-function-call",
        "is-valid-openai-tools-call",
        "is-xml",
        "javascript",
        "latency",
        "levenshtein",
        "llm-rubric",
        "meteor",
        "model-graded-closedqa",
        "model-graded-factuality",
        "moderation",
        "perplexity",
        "perplexity-score",
        "pi",
        "python",
        "regex",
        "rouge-l",
        "rouge-n",
        "rouge-s",
        "ruby",
        "select-best",
        "similar",
        "starts-with",
        "webhook",
        "word-count",
    ]
)
_TYPED = re.compile(r"^(not-)?([a-z][a-z0-9-]*)(?:\(\d+(?:\.\d+)?\))?(?::([\s\S]*))?$")
_LEGACY = {"javascript:": "javascript", "fn:": "javascript", "eval:": "javascript", "grade:": "llm-rubric",
           "llm-rubric:": "llm-rubric", "python:": "python"}
LABEL_TYPES = ("equals", "contains", "icontains")
_VAR_REF = re.compile(r"^\{\{\s*([A-Za-z_][A-Za-z0-9_]*)\s*\}\}$")
_UNMAPPED_CSV = {"__prefix", "__suffix", "__metric", "__threshold", "__providerOutput"}
_TEST_KEYS = {"vars", "assert", "metadata", "description", "id"}


@dataclass
class RawTest:
    where: str
    vars: dict[str, Any]
    asserts: list[dict[str, Any]]
    metadata: dict[str, Any] = field(default_factory=dict)
    id: Any = None


def parse_assertion(text: str) -> dict[str, Any]:
    """A CSV `__expected` cell as promptfoo reads it: `type:value`, `type(0.8):value`, else equals."""
    for prefix, kind in _LEGACY.items():
        if text.startswith(prefix):
            return {"type": kind, "value": text[len(prefix):].strip()}
    if text.startswith("file://"):
        return {"type": "file", "value": text}
    match = _TYPED.match(text)
    if match and match.group(2) in ASSERTION_TYPES:
        kind = (match.group(1) or "") + match.group(2)
        return {"type": kind, "value": match.group(3) or ""}
    return {"type": "equals", "value": text}


def read(path: Path, options: ImportOptions) -> ImportResult:
    builder = CaseBuilder(path, "promptfoo")
    tests = _read_tests(path, builder, defaults={}, depth=0)
    labelled = [(test, _label(test, options.label_field, builder)) for test in tests]
    leaking = _leaking_vars(labelled, options.label_field)
    for name in sorted(leaking):
        builder.warn(
            tests[0].where, f"var {name!r} holds the expected label: left out of the input so the answer does not leak"
        )
    for test, (label, source_var) in labelled:
        vars_ = {k: v for k, v in test.vars.items() if k not in leaking and k != source_var}
        metadata = dict(test.metadata)
        tags = metadata.pop("tags", [])
        if isinstance(tags, str):
            tags = [tags]
        if not isinstance(tags, list) or not all(isinstance(t, str) for t in tags):
            metadata["tags"], tags = tags, []
            builder.warn(test.where, "metadata.tags is not a list of strings: kept in metadata")
        if not vars_:
            raise BadInput("the test has no vars left to use as input", where=test.where)
        builder.add(
            test.where,
            input=fields_input(vars_, test.where, builder),
            expected=label,
            id=test.id,
            tags=tags,
            metadata=metadata,
        )
    return builder.result()


def _read_tests(path: Path, builder: CaseBuilder, defaults: dict[str, Any], depth: int) -> list[RawTest]:
    if depth > 3:
        raise BadInput("tests files include each other too deeply", where=str(path))
    suffix = path.suffix.lower()
    if suffix in (".csv", ".tsv"):
        return _csv_tests(path, builder, defaults)
    if suffix in (".jsonl", ".ndjson"):
        return [_test(record, where, builder, defaults) for where, record in iter_records(path, "promptfoo tests file")]
    from evalkit.yamlfile import load_with_lines

    data, line_of = load_with_lines(path, "promptfoo file")
    prefix: tuple = ()
    if isinstance(data, dict):
        if "tests" not in data:
            raise BadInput("a promptfoo file needs a `tests:` list (or is itself a list of tests)", where=str(path))
        defaults = _defaults(data.get("defaultTest"), record_place(path, line_of, ("defaultTest",)), builder, defaults)
        for key in ("scenarios", "prompts", "providers"):
            if key in data:
                builder.warn(
                    record_place(path, line_of, (key,)),
                    f"`{key}` is not imported: only tests become cases "
                    f"(write the prompts and models as the suite's routes)",
                )
        data, prefix = data["tests"], ("tests",)
    if isinstance(data, str):
        data = [data]
    if not isinstance(data, list):
        raise BadInput("`tests` must be a list of tests or file names", where=str(path))
    tests: list[RawTest] = []
    for index, entry in enumerate(data):
        where = record_place(path, line_of, prefix + (index,))
        if isinstance(entry, str):
            tests.extend(_read_tests(_included(entry, path, where), builder, defaults, depth + 1))
        else:
            tests.append(_test(entry, where, builder, defaults))
    return tests


def _included(entry: str, path: Path, where: str) -> Path:
    name = entry.removeprefix("file://")
    if "://" in name or name.endswith((".js", ".ts", ".py", ".mjs", ".cjs")) or ".py:" in name or ".js:" in name:
        raise BadInput(f"tests source {entry!r} is generated or remote: export its tests to CSV, YAML or JSON first",
                       where=where)
    if any(ch in name for ch in "*?["):
        raise BadInput(f"tests source {entry!r} is a glob: list the files one by one", where=where)
    target = Path(name)
    return target if target.is_absolute() else path.parent / target


def _defaults(default_test: Any, where: str, builder: CaseBuilder, inherited: dict[str, Any]) -> dict[str, Any]:
    if default_test is None:
        return inherited
    if not isinstance(default_test, dict):
        builder.warn(where, "defaultTest is not a mapping: ignored")
        return inherited
    vars_ = {**inherited.get("vars", {}), **(default_test.get("vars") or {})}
    asserts = list(inherited.get("assert", []))
    for assertion in default_test.get("assert") or []:
        if isinstance(assertion, dict) and assertion.get("type") in LABEL_TYPES:
            asserts.append(assertion)
        else:
            kind = assertion.get("type") if isinstance(assertion, dict) else assertion
            builder.warn(where, f"defaultTest assertion {kind!r} does not give a label: not imported")
    for key in sorted(set(default_test) - {"vars", "assert", "metadata"}):
        builder.warn(where, f"defaultTest.{key} is not imported")
    metadata = {**inherited.get("metadata", {}), **(default_test.get("metadata") or {})}
    return {"vars": vars_, "assert": asserts, "metadata": metadata}


def _test(record: Any, where: str, builder: CaseBuilder, defaults: dict[str, Any]) -> RawTest:
    if not isinstance(record, dict):
        raise BadInput(f"a test must be a mapping with vars and assert, got {type(record).__name__}", where=where)
    vars_ = record.get("vars") or {}
    if not isinstance(vars_, dict):
        raise BadInput("vars must be a mapping of names to values", where=where)
    vars_ = {**defaults.get("vars", {}), **vars_}
    for name, value in vars_.items():
        if isinstance(value, list):
            builder.warn(
                where, f"var {name!r} is a list: promptfoo runs one test per value, evalkit keeps the list as one field"
            )
        elif isinstance(value, str) and value.startswith("file://"):
            builder.warn(where, f"var {name!r} names a file ({value}): kept as that text, not the file's content")
    asserts = record.get("assert") or []
    if not isinstance(asserts, list):
        raise BadInput("assert must be a list of assertions", where=where)
    metadata = {**defaults.get("metadata", {}), **(record.get("metadata") or {})}
    if record.get("description"):
        metadata["description"] = record["description"]
    for key in sorted(set(record) - _TEST_KEYS):
        builder.warn(where, f"test key {key!r} is not imported")
    return RawTest(where, vars_, list(asserts) + list(defaults.get("assert", [])), metadata, record.get("id"))


def _csv_tests(path: Path, builder: CaseBuilder, defaults: dict[str, Any]) -> list[RawTest]:
    text = read_source(path, "promptfoo CSV")
    tests, warned = [], set()
    for where, row in iter_dict_rows(path, text, delimiter_for(path, text), builder):
        vars_, asserts, metadata = dict(defaults.get("vars", {})), [], dict(defaults.get("metadata", {}))
        for column, value in row.items():
            if column.startswith("__expected"):
                if value.strip():
                    asserts.append(parse_assertion(value))
            elif column == "__description":
                if value:
                    metadata["description"] = value
            elif column.startswith("__metadata:"):
                key = column.removeprefix("__metadata:")
                if key.endswith("[]"):
                    items = [item.replace("\\,", ",").strip() for item in re.split(r"(?<!\\),", value)]
                    items = [item for item in items if item]
                    if items:
                        metadata[key[:-2]] = items
                elif value:
                    metadata[key] = value
            elif column in _UNMAPPED_CSV or column == "__metadata" or column.startswith("__config:"):
                if column not in warned:
                    warned.add(column)
                    builder.warn(f"{path}:1", f"column {column!r} is not imported (add it to the route's prompt or "
                                              f"the gate instead)")
            else:
                if column.startswith("_") and column not in warned:
                    warned.add(column)
                    builder.warn(f"{path}:1", f"column {column!r} starts with an underscore but is not a promptfoo "
                                              f"special column: read as a var")
                vars_[column] = value
        tests.append(RawTest(where, vars_, asserts + list(defaults.get("assert", [])), metadata))
    return tests


def _label(test: RawTest, label_field: str | None, builder: CaseBuilder) -> tuple[str, str | None]:
    """(expected label, the var it came from or None); unmapped assertions are kept in metadata."""
    labelling: list[tuple[str, str]] = []  # (type, value) of the assertions that can give the label
    unmapped = []
    for assertion in test.asserts:
        kind = assertion.get("type") if isinstance(assertion, dict) else None
        value = assertion.get("value") if isinstance(assertion, dict) else None
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            value = str(value)
        if kind in LABEL_TYPES and isinstance(value, str) and value.strip():
            labelling.append((kind, value))
        else:
            unmapped.append(assertion)
            builder.warn(
                test.where, f"assertion {kind or assertion!r} does not give a label: kept in metadata.promptfoo_assert"
            )
    if unmapped:
        test.metadata["promptfoo_assert"] = unmapped
    if label_field:
        if label_field not in test.vars:
            raise BadInput(f"the test has no var {label_field!r} to take the label from", where=test.where)
        label = as_label(test.vars[label_field], test.where, builder)
        if label is None:
            raise BadInput(f"var {label_field!r} is empty: no expected label", where=test.where)
        return label, label_field
    candidates: list[tuple[int, str, str | None]] = []
    for kind, value in labelling:
        ref = _VAR_REF.match(value.strip())
        if ref:
            var = ref.group(1)
            if var not in test.vars:
                raise BadInput(
                    f"assertion value {value!r} names var {var!r}, which the test does not have", where=test.where
                )
            candidates.append((LABEL_TYPES.index(kind), as_label(test.vars[var], test.where, builder) or "", var))
        else:
            candidates.append((LABEL_TYPES.index(kind), value.strip(), None))
    candidates = [c for c in candidates if c[1]]
    if not candidates:
        raise BadInput("no expected label: the test has no equals/contains assertion (or __expected value) with a "
                       "value; name the var holding the label with --label-field", where=test.where)
    candidates.sort(key=lambda c: c[0])
    _, label, var = candidates[0]
    others = sorted({c[1] for c in candidates[1:]} - {label})
    if others:
        builder.warn(
            test.where, f"assertions name more than one label: kept {label!r}, not {', '.join(map(repr, others))}"
        )
    return label, var


def _leaking_vars(labelled: list[tuple[RawTest, tuple[str, str | None]]], label_field: str | None) -> set[str]:
    """Vars equal to the expected label on every test: they would hand the model the answer."""
    if not labelled or label_field:
        return set()
    names = set(labelled[0][0].vars)
    for test, (label, _) in labelled:
        names &= {k for k, v in test.vars.items() if isinstance(v, str) and v.strip() == label}
    if any(set(test.vars) <= names for test, _ in labelled):
        return set()  # removing it would leave a test with no input
    return names
