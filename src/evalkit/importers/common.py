"""What every importer shares: the result type, a case builder that keeps ids stable and
collects warnings, and readers for delimited and JSON-ish files that remember line numbers.

Policy (docs/importers.md): a row that cannot become a case (no input, no label, a broken
record) stops the import with BadInput naming its file and line; anything in a row that
has no place in an evalkit case is kept in `metadata` where it fits and reported as a
warning. Nothing is dropped silently.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from evalkit.errors import BadInput

ID_HASH_CHARS = 10
_WARNING_LIST = 5  # further locations of a grouped warning shown in its message


@dataclass(frozen=True)
class ImportWarning:
    """Something in the source that evalkit could not map, and where it was."""

    where: str
    message: str

    def __str__(self) -> str:
        return f"{self.where}: {self.message}"


@dataclass
class ImportOptions:
    """Hints for an importer; each uses the ones that apply to its format."""

    label_field: str | None = None   # the source field holding the gold label
    text_field: str | None = None    # csv: the column holding the text
    columns: list[str] | None = None  # csv: names of a headerless file's columns
    items: Path | None = None        # openai-hosted-evals: the items JSONL
    definition: Path | None = None   # openai-hosted-evals: the eval definition JSON
    run: Path | None = None          # openai-hosted-evals: an eval run (its input_messages template)


@dataclass
class ImportResult:
    """Cases converted from another tool's file, with what could not be mapped."""

    source: Path
    format: str
    cases: list  # list[Case]
    labels: list[str]
    warnings: list[ImportWarning] = field(default_factory=list)
    suite: dict[str, Any] | None = None  # a suggested suite fragment (openai-hosted-evals)


def input_hash(value: Any) -> str:
    """A short, stable hash of a case input: the id of a case that came without one."""
    from evalkit.suite import canonical_json

    return hashlib.sha256(canonical_json(value).encode("utf-8")).hexdigest()[:ID_HASH_CHARS]


def as_label(value: Any, where: str, builder: CaseBuilder) -> str | None:
    """A gold label as a string: None when empty; numbers and booleans become text."""
    if value is None:
        return None
    if isinstance(value, bool):
        value = "true" if value else "false"
        builder.warn(where, "a boolean label became the text 'true'/'false'")
    elif isinstance(value, (int, float)):
        value = str(value)
        builder.warn(where, "a numeric label became text")
    elif not isinstance(value, str):
        raise BadInput(f"the label must be a string, got {type(value).__name__}: {json.dumps(value)[:80]}", where=where)
    value = value.strip()
    return value or None


class CaseBuilder:
    """Turns mapped rows into Cases: stable ids, duplicate checks, grouped warnings."""

    def __init__(self, source: Path, fmt: str):
        self.source, self.format = source, fmt
        self.cases: list = []
        self._ids: dict[str, str] = {}
        self._hashed: dict[str, int] = {}
        self._warnings: dict[str, list[str]] = {}

    def warn(self, where: str, message: str) -> None:
        """Record a warning; the same message at several places becomes one warning."""
        self._warnings.setdefault(message, []).append(where)

    def add(self, where: str, *, input: Any, expected: Any, id: Any = None, tags: list[str] | None = None,
            metadata: dict[str, Any] | None = None) -> None:
        from pydantic import ValidationError

        from evalkit.cases import Case

        empty_fields = isinstance(input, dict) and all(v is None or v == "" for v in input.values())
        if input is None or input == "" or input == [] or empty_fields:
            raise BadInput("the row has no input", where=where)
        if expected is None or expected == "":
            raise BadInput("the row has no expected label", where=where)
        case_id = self._case_id(id, input, where)
        record: dict[str, Any] = {"id": case_id, "input": input, "expected": expected,
                                  "tags": tags or [], "metadata": metadata or {}}
        try:
            case = Case.model_validate(record)
        except ValidationError as exc:
            err = exc.errors()[0]
            loc = ".".join(str(p) for p in err["loc"][:3])
            raise BadInput(f"cannot build a case: {loc}: {err['msg']}", where=where) from None
        case.origin = where
        self.cases.append(case)

    def _case_id(self, given: Any, input: Any, where: str) -> str:
        if given is not None and str(given).strip():
            case_id = str(given).strip()
            if case_id in self._ids:
                raise BadInput(f"duplicate id {case_id!r} (first at {self._ids[case_id]})", where=where)
        else:
            base = input_hash(input if not isinstance(input, list) else [dict(m) for m in input])
            seen = self._hashed.get(base, 0)
            self._hashed[base] = seen + 1
            case_id = base if not seen else f"{base}-{seen + 1}"
            if seen:
                self.warn(where, f"same input as the row at {self._ids[base]}: id suffixed -{seen + 1}")
            while case_id in self._ids:  # a given id that happens to look like a hash
                case_id += "x"
        self._ids[case_id] = where
        return case_id

    def warnings(self) -> list[ImportWarning]:
        result = []
        for message, places in self._warnings.items():
            if len(places) > 1:
                shown = ", ".join(_short(p) for p in places[1:1 + _WARNING_LIST])
                more = len(places) - 1 - _WARNING_LIST
                tail = f"{shown} and {more} more" if more > 0 else shown
                message = f"{message} (also at {tail}; {len(places)} places)"
            result.append(ImportWarning(places[0], message))
        return result

    def result(self, labels: list[str] | None = None, suite: dict[str, Any] | None = None) -> ImportResult:
        """The import's outcome; the label set is `labels` (declared order) plus any label seen in cases."""
        from evalkit.cases import expected_label

        declared = list(labels or [])
        found = {expected_label(c, None) for c in self.cases if isinstance(c.expected, str)}
        extra = sorted(found - set(declared))
        return ImportResult(self.source, self.format, self.cases, declared + extra, self.warnings(), suite)


def _short(where: str) -> str:
    """`file:12` -> `line 12` so a long list of places stays readable."""
    head, _, tail = where.rpartition(":")
    return f"line {tail}" if head and tail.isdigit() else where


def read_source(path: Path, what: str) -> str:
    from evalkit.yamlfile import read_text

    return read_text(path, what).lstrip("\ufeff")


def delimiter_for(path: Path, text: str) -> str:
    """Tab for .tsv/.tab, comma for .csv, otherwise a sniffed guess among , tab ; |."""
    suffix = path.suffix.lower()
    if suffix in (".tsv", ".tab"):
        return "\t"
    if suffix == ".csv":
        return ","
    try:
        return csv.Sniffer().sniff(text[:4096], delimiters=",\t;|").delimiter
    except csv.Error:
        return ","


def iter_rows(path: Path, text: str, delimiter: str) -> Iterator[tuple[int, list[str]]]:
    """Yield (line where the row starts, cells) for every non-blank row; quoted newlines allowed."""
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter)
    while True:
        start = reader.line_num + 1
        try:
            cells = next(reader)
        except StopIteration:
            return
        except csv.Error as exc:
            raise BadInput(f"unreadable CSV: {exc}", where=f"{path}:{start}") from None
        if cells:
            yield start, cells


def iter_dict_rows(path: Path, text: str, delimiter: str, builder: CaseBuilder) -> Iterator[tuple[str, dict[str, str]]]:
    """Rows of a CSV with a header as (where, {column: value}); ragged rows are errors, blank rows warnings."""
    rows = iter_rows(path, text, delimiter)
    first = next(rows, None)
    if first is None:
        raise BadInput("the file is empty: expected a header row", where=str(path))
    header = [name.strip() for name in first[1]]
    check_columns(header, f"{path}:{first[0]}")
    yield from rows_as_dicts(path, rows, header, builder)


def check_columns(header: list[str], where: str, unnamed: tuple[str, ...] = ("",)) -> None:
    """A column named twice would lose one of its cells to the other: an error, unless its name is in `unnamed`."""
    dupes = sorted({h for h in header if header.count(h) > 1 and h not in unnamed})
    if dupes:
        raise BadInput(f"the header names a column twice: {', '.join(dupes)}", where=where)


def rows_as_dicts(path: Path, rows: Iterator[tuple[int, list[str]]], header: list[str],
                  builder: CaseBuilder) -> Iterator[tuple[str, dict[str, str]]]:
    """(where, {column: value}) for each row under `header`; ragged rows are errors, blank rows warnings."""
    for line, cells in rows:
        where = f"{path}:{line}"
        if not any(cell.strip() for cell in cells):
            builder.warn(where, "a row with only empty cells was skipped")
            continue
        if len(cells) != len(header):
            raise BadInput(f"the row has {len(cells)} cells, expected {len(header)} ({', '.join(header)})", where=where)
        yield where, dict(zip(header, cells))


def iter_records(path: Path, what: str) -> Iterator[tuple[str, Any]]:
    """Records of a JSONL file (one per line) or a JSON/YAML list, as (where, record)."""
    suffix = path.suffix.lower()
    if suffix in (".jsonl", ".ndjson"):
        from evalkit.yamlfile import jsonl_records

        for number, record in jsonl_records(path, read_source(path, what)):
            yield f"{path}:{number}", record
        return
    from evalkit.yamlfile import load_with_lines

    data, line_of = load_with_lines(path, what)
    if not isinstance(data, list):
        raise BadInput(
            f"expected a list of records (or one JSON object per line in a .jsonl file), got {type(data).__name__}",
            where=str(path),
        )
    for index, record in enumerate(data):
        yield record_place(path, line_of, (index,)), record


def record_place(path: Path, line_of, loc: tuple) -> str:
    """`file:line` when the line is known (YAML), else `file[i]` (JSON)."""
    line = line_of(loc) if path.suffix.lower() != ".json" else None
    return f"{path}:{line}" if line else f"{path}[{']['.join(str(p) for p in loc)}]"


_ROLES = {"system", "user", "assistant"}
_NAMED_EXAMPLES = {"example_user": "user", "example_assistant": "assistant"}


def chat_messages(value: list, where: str, builder: CaseBuilder) -> list[dict[str, str]]:
    """Chat messages as evalkit's {role, content}; text parts are joined, other parts are errors."""
    messages = []
    for index, message in enumerate(value):
        if not isinstance(message, dict) or "role" not in message or "content" not in message:
            raise BadInput(f"message {index} must be an object with role and content", where=where)
        role, content = message["role"], message_text(message["content"], f"message {index}", where)
        name = message.get("name")
        if role == "system" and name in _NAMED_EXAMPLES:
            role = _NAMED_EXAMPLES[name]  # openai/evals' few-shot convention
        elif name is not None:
            builder.warn(where, f"a message name ({name!r}) was dropped")
        if role == "developer":
            role = "system"
        if role not in _ROLES:
            raise BadInput(f"message {index} has role {role!r}: evalkit cases hold system, user and assistant messages",
                           where=where)
        ignored = sorted(set(message) - {"role", "content", "name", "type", "source", "id"})
        if ignored:
            builder.warn(where, f"message fields not kept: {', '.join(ignored)}")
        messages.append({"role": role, "content": content})
    return messages


def message_text(content: Any, what: str, where: str) -> str:
    """The text of a message content: a string, or a list of text parts joined by blank lines."""
    if isinstance(content, str):
        return content
    parts = content if isinstance(content, list) else [content]
    texts = []
    for part in parts:
        if isinstance(part, str):
            texts.append(part)
        elif (
            isinstance(part, dict)
            and part.get("type") in ("text", "input_text", "output_text")
            and isinstance(part.get("text"), str)
        ):
            texts.append(part["text"])
        else:
            kind = part.get("type") if isinstance(part, dict) else type(part).__name__
            raise BadInput(f"{what} has a {kind!r} content part: only text can become an evalkit case", where=where)
    return "\n\n".join(texts)


def first_of(value: Any, where: str, builder: CaseBuilder, what: str, metadata: dict[str, Any]) -> Any:
    """A gold answer that may be a list: the first item is the label, the rest go to metadata."""
    if isinstance(value, list):
        if not value:
            return None
        if len(value) > 1:
            metadata[f"other_{what}"] = value[1:]
            builder.warn(
                where,
                f"{what} lists {len(value)} answers: the first is the label, the rest are in metadata.other_{what}",
            )
        return value[0]
    return value


def fields_input(fields: dict[str, Any], where: str, builder: CaseBuilder) -> Any:
    """Named fields as a case input. A lone `input` field becomes a plain string input, so
    `{{ input }}` means the same as in the source tool; beside other fields it is ambiguous."""
    if set(fields) == {"input"} and isinstance(fields["input"], str):
        return fields["input"]
    if "input" in fields:
        builder.warn(where, "a field named `input` sits beside other fields: in a route template {{ input }} is the "
                            "whole case input (every field); rename the field to use it alone")
    return fields


def pop_path(obj: dict[str, Any], dotted: str) -> Any:
    """Remove and return the value at a dot path in nested dicts; None when absent."""
    parts = dotted.split(".")
    node: Any = obj
    for part in parts[:-1]:
        node = node.get(part) if isinstance(node, dict) else None
        if not isinstance(node, dict):
            return None
    return node.pop(parts[-1], None) if isinstance(node, dict) else None
