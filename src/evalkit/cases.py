"""Cases: load JSONL, CSV and YAML files with file:line errors."""

from __future__ import annotations

import csv
import re
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from evalkit.errors import BadInput


class Message(BaseModel):
    model_config = ConfigDict(extra="forbid")
    role: Literal["system", "user", "assistant"]
    content: str


class Case(BaseModel):
    """One representative input with its gold answer."""

    model_config = ConfigDict(extra="forbid")

    id: str = Field(min_length=1, description="Unique in the suite; pairs results across routes and runs.")
    input: str | dict[str, Any] | list[Message] = Field(description="What the route's template receives.")
    expected: str | dict[str, Any] = Field(description="The gold label, or the gold output object.")
    tags: list[str] = Field(default_factory=list, description="Failure modes and slices.")
    split: Literal["holdout", "train"] = "holdout"
    sources: list[str] = Field(default_factory=list, description="Gold document ids for RAG cases.")
    rejected: str | dict[str, Any] | None = Field(None, description="A worse answer, for preference (DPO) export.")
    metadata: dict[str, Any] = Field(default_factory=dict, description="Kept and shown, never interpreted.")
    grades: dict[str, Any] = Field(default_factory=dict, description=(
        "Human grades of judged fields (field -> grade on the judge's scale): the judge's agreement with them "
        "says whether to trust it."))
    origin: str = Field("", exclude=True, description="file:line the case came from.")

    def text(self) -> str:
        """The case's input as plain text (for retrieval, similarity and leakage checks)."""
        return input_text(self.input)


def input_text(value: Any) -> str:
    if isinstance(value, str):
        return value
    if isinstance(value, list):
        return "\n".join(
            f"{m.role}: {m.content}" if isinstance(m, Message) else f"{m['role']}: {m['content']}" for m in value
        )
    return "\n".join(f"{key}: {val}" for key, val in value.items())


def get_path(obj: Any, dotted: str) -> Any:
    """Follow a dot path (`a.b.0`) into parsed JSON; None when it leads nowhere."""
    for part in dotted.split("."):
        if isinstance(obj, dict):
            obj = obj.get(part)
        elif isinstance(obj, list) and part.isdigit() and int(part) < len(obj):
            obj = obj[int(part)]
        else:
            return None
    return obj


def expected_label(case: Case, label_field: str | None) -> Any:
    if isinstance(case.expected, dict):
        return get_path(case.expected, label_field) if label_field else None
    return case.expected


def _case_from(record: Any, where: str) -> Case:
    if not isinstance(record, dict):
        raise BadInput(
            f"a case must be an object with id, input and expected, got {type(record).__name__}", where=where
        )
    try:
        case = Case.model_validate(record)
    except ValidationError as exc:
        err = exc.errors()[0]
        loc = ".".join(str(p) for p in err["loc"][:2])
        if err["type"] == "extra_forbidden":
            msg = (f"unknown key {loc!r} "
                   "(a case has id, input, expected, tags, split, sources, rejected, metadata, grades)")
        elif err["type"] == "missing":
            msg = f"missing required key {loc!r}"
        else:
            msg = f"{loc}: {err['msg']}"
        raise BadInput(msg, where=where) from None
    case.origin = where
    return case


def _read_jsonl(path: Path, text: str) -> list[Case]:
    from evalkit.yamlfile import jsonl_records

    cases = _jsonl_cases(path, text)
    if cases is not None:
        return cases
    return [_case_from(record, f"{path}:{number}") for number, record in jsonl_records(path, text)]


_CASE_JSON: Any = None


def _jsonl_cases(path: Path, text: str) -> list[Case] | None:
    """The cases of a JSONL text, each line read and validated in one step (pydantic-core reads
    the JSON: a 20,000-case file loads twice as fast), each with its origin; None as soon as a
    line is not a valid case, so that the caller reads the file line by line and names the first
    problem exactly as before."""
    global _CASE_JSON
    if _CASE_JSON is None:
        from pydantic import TypeAdapter

        _CASE_JSON = TypeAdapter(Case).validate_json
    validate = _CASE_JSON
    prefix = f"{path}:"  # each case's origin is `path:line`; the path is made a string once
    cases = []
    try:
        for number, line in enumerate(text.splitlines(), start=1):
            if not line.strip():
                continue
            case = validate(line)
            # what `case.origin = ...` does for a plain field, without its checks per case
            case.__dict__["origin"] = f"{prefix}{number}"
            case.__pydantic_fields_set__.add("origin")
            cases.append(case)
    except ValidationError:
        return None
    return cases


_CSV_FIELDS = {"id", "input", "expected", "tags", "split", "sources", "rejected"}


def _read_csv(path: Path, text: str) -> list[Case]:
    import io

    delimiter = "\t" if path.suffix == ".tsv" else ","
    reader = csv.DictReader(io.StringIO(text, newline=""), delimiter=delimiter)
    if not reader.fieldnames or "id" not in reader.fieldnames or "expected" not in reader.fieldnames:
        raise BadInput(
            "a case CSV needs a header with at least id and expected (and input or input fields)", where=f"{path}:1"
        )
    cases = []
    for row in reader:
        where = f"{path}:{reader.line_num}"
        record: dict[str, Any] = {"metadata": {}}
        fields: dict[str, Any] = {}
        for key, value in row.items():
            if key is None:
                raise BadInput("a row has more cells than the header", where=where)
            value = value or ""
            if key in ("tags", "sources"):
                record[key] = [part.strip() for part in value.split(";") if part.strip()]
            elif key == "split":
                if value:
                    record["split"] = value
            elif key in _CSV_FIELDS:
                if value or key != "rejected":
                    record[key] = value
            elif key.startswith("metadata."):
                record["metadata"][key.removeprefix("metadata.")] = value
            else:
                fields[key] = value
        if "input" not in record:
            record["input"] = fields
        cases.append(_case_from(record, where))
    return cases


def _read_yaml(path: Path) -> list[Case]:
    from evalkit.yamlfile import load_with_lines

    data, line_of = load_with_lines(path, "case file")
    prefix: tuple[str, ...]
    if isinstance(data, dict) and "cases" in data:
        data, prefix = data["cases"], ("cases",)
    else:
        prefix = ()
    if not isinstance(data, list):
        raise BadInput("a YAML case file is a list of cases (or a mapping with a `cases:` list)", where=str(path))
    return [_case_from(record, f"{path}:{line_of(prefix + (i,)) or '?'}") for i, record in enumerate(data)]


def load_cases(path: Path, fmt: str = "evalkit", label_field: str | None = None) -> list[Case]:
    """Load one case file; the format follows the file's suffix."""
    from evalkit.yamlfile import read_text

    if fmt != "evalkit":
        from evalkit.importers import import_cases

        cases = import_cases(fmt, path, label_field=label_field)
    else:
        text = read_text(path, "case file")
        suffix = path.suffix.lower()
        if suffix in (".jsonl", ".ndjson"):
            cases = _read_jsonl(path, text)
        elif suffix in (".csv", ".tsv"):
            cases = _read_csv(path, text)
        elif suffix in (".yaml", ".yml", ".json"):
            cases = _read_yaml(path)
        else:
            raise BadInput("unknown case file type: expected .jsonl, .csv, .tsv, .yaml or .json", where=str(path))
    if not cases:
        raise BadInput("the case file holds no cases", where=str(path))
    return cases


_PUNCTUATION = re.compile(r"[^\w\s]")


def normalise_text(text: str) -> str:
    """Lower case, no punctuation, single spaces (str.split splits on the whitespace `\\s` matches)."""
    return " ".join(_PUNCTUATION.sub("", text.lower()).split())


#: the ASCII characters that are not word characters (`\\w`): what normalising drops, spaces included
_NOT_WORD = bytes(i for i in range(128) if not re.match(r"\w", chr(i)))


def _may_repeat(text: str, squashed: set[bytes]) -> bool:
    """False only when `text` is ASCII and its word characters, lower case, are none of `squashed`
    (normalised texts without their spaces): then its normalised text equals none of theirs."""
    if not text.isascii():
        return True
    return text.lower().encode("ascii").translate(None, _NOT_WORD) in squashed


def validate_cases(suite) -> None:
    """Suite-level checks: unique ids, labels in the set, no train case equal to a holdout case."""
    task = suite.spec.task
    labels = set(task.labels)
    seen: dict[str, str] = {}
    for case in suite.cases:
        if case.id in seen:
            raise BadInput(f"duplicate case id {case.id!r} (first at {seen[case.id]})", where=case.origin)
        seen[case.id] = case.origin
        label = expected_label(case, task.label_field)
        if label is None:
            raise BadInput(f"case {case.id!r}: expected has no label at {task.label_field!r}", where=case.origin)
        if not isinstance(label, str) or label not in labels:
            raise BadInput(f"case {case.id!r}: expected label {label!r} is not in task.labels", where=case.origin)
    train_texts = {case.id: normalise_text(case.text()) for case in suite.cases if case.split == "train"}
    # a holdout case can only share a train case's text when its word characters do (normalising
    # only drops punctuation and evens out spaces): ASCII texts that cannot are not normalised
    squashed = {text.replace(" ", "").encode() for text in train_texts.values()}
    holdout_texts = {normalise_text(c.text()): c for c in suite.cases
                     if c.split == "holdout" and _may_repeat(c.text(), squashed)} if train_texts else {}
    twins = [(case, holdout_texts[text]) for case in suite.cases
             if case.split == "train" and (text := train_texts[case.id]) in holdout_texts]
    if twins:
        case, twin = twins[0]
        more = (
            f"; {len(twins) - 1} more train cases repeat a holdout case: drop them from the train split"
            if len(twins) > 1
            else ""
        )
        raise BadInput(f"train case {case.id!r} has the same text as holdout case {twin.id!r} ({twin.origin}){more}",
                       where=case.origin)
    if not any(c.split == "holdout" for c in suite.cases):
        raise BadInput("the suite has no holdout cases to evaluate", where=str(suite.path))
