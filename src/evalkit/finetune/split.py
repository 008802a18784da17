"""Assign train/holdout to the cases of a file that have no split, stratified by label and seeded.

A case that already has a split keeps it. Within each label, the new holdout cases are drawn so
that the label's share of holdout cases (old and new together) comes as close as it can to the
asked fraction. The same file, fraction and seed give the same assignment.

`assign_splits` is pure; `split_case_file` reads the file and writes it back in its own format
(JSONL and CSV line by line; JSON whole; YAML by inserting one `split:` line per case where it can).
"""

from __future__ import annotations

import csv
import io
import json
import random
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from evalkit.errors import BadInput


@dataclass(frozen=True, slots=True)
class SplitCase:
    id: str
    label: str
    split: str | None  # None: not assigned yet


def assign_splits(cases: list[SplitCase], holdout: float, seed: int, stratify: bool = True) -> dict[str, str]:
    """Case id -> split for the cases with none. Pure and reproducible."""
    if not 0.0 < holdout < 1.0:
        raise BadInput(f"--holdout must be a fraction between 0 and 1, got {holdout}")
    groups: dict[str, list[SplitCase]] = {}
    for case in cases:
        groups.setdefault(case.label if stratify else "", []).append(case)
    rng = random.Random(seed)
    assigned: dict[str, str] = {}
    for label in sorted(groups):
        members = groups[label]
        open_cases = sorted((c for c in members if c.split is None), key=lambda c: c.id)
        if not open_cases:
            continue
        already = sum(1 for c in members if c.split == "holdout")
        wanted = int(holdout * len(members) + 0.5) - already  # round half up
        n_holdout = max(0, min(len(open_cases), wanted))
        rng.shuffle(open_cases)
        for index, case in enumerate(open_cases):
            assigned[case.id] = "holdout" if index < n_holdout else "train"
    return assigned


def count_splits(cases: list[SplitCase], assigned: dict[str, str]) -> dict[str, dict[str, int]]:
    """label -> {train, holdout, new} counts after the assignment."""
    table: dict[str, dict[str, int]] = {}
    for case in cases:
        row = table.setdefault(case.label, {"train": 0, "holdout": 0, "new": 0})
        row[case.split or assigned[case.id]] += 1
        row["new"] += case.id in assigned
    return dict(sorted(table.items()))


def _label_of(expected: Any, label_field: str | None, where: str) -> str:
    from evalkit.cases import get_path

    if isinstance(expected, dict):
        if not label_field:
            raise BadInput("expected is an object: pass --label-field (the dot path of the label in it)", where=where)
        expected = get_path(expected, label_field)
    if not isinstance(expected, str):
        raise BadInput(f"no label string in expected{' at ' + label_field if label_field else ''}", where=where)
    return expected


@dataclass
class SplitResult:
    path: Path
    assigned: dict[str, str]
    counts: dict[str, dict[str, int]]


def split_case_file(
    path: str | Path,
    *,
    holdout: float = 0.2,
    seed: int = 0,
    stratify: str = "label",
    label_field: str | None = None,
    out: str | Path | None = None,
    dry_run: bool = False,
) -> SplitResult:
    """Assign splits to the cases of a JSONL, CSV or YAML case file and write the file (or `out`)."""
    from evalkit.cases import load_cases
    from evalkit.yamlfile import read_text

    path = Path(path)
    if stratify not in ("label", "none"):
        raise BadInput(f"--stratify must be label or none, got {stratify!r}")
    loaded = load_cases(path)  # validates every case with file:line errors
    # a case's split is its own only when the file gives one (the model's default is "holdout")
    cases = [
        SplitCase(
            c.id, _label_of(c.expected, label_field, c.origin), c.split if "split" in c.model_fields_set else None
        )
        for c in loaded
    ]
    assigned = assign_splits(cases, holdout, seed, stratify == "label")
    target = Path(out) if out else path
    if assigned and not dry_run:
        text = read_text(path, "case file")
        suffix = path.suffix.lower()
        if suffix in (".jsonl", ".ndjson"):
            new_text = _write_jsonl(text, assigned)
        elif suffix in (".csv", ".tsv"):
            new_text = _write_csv(text, suffix, assigned)
        elif suffix == ".json":
            new_text = _write_json(text, assigned)
        else:
            new_text = _write_yaml(text, assigned)
        target.write_text(new_text, encoding="utf-8")
        load_cases(target)  # what was written must load
    return SplitResult(target, assigned, count_splits(cases, assigned))


def _fill(record, assigned: dict[str, str]) -> bool:
    """Give a case record without a split its assigned one; True when it changed."""
    if isinstance(record, dict) and not record.get("split") and str(record.get("id")) in assigned:
        record["split"] = assigned[str(record["id"])]
        return True
    return False


# ---------------------------------------------------------------- JSONL


def _write_jsonl(text: str, assigned: dict[str, str]) -> str:
    lines = []
    for line in text.splitlines():
        if line.strip():
            record = json.loads(line)
            if _fill(record, assigned):
                line = json.dumps(record, ensure_ascii=False)
        lines.append(line)
    return "\n".join(lines) + "\n"


# ---------------------------------------------------------------- CSV


def _write_csv(text: str, suffix: str, assigned: dict[str, str]) -> str:
    delimiter = "\t" if suffix == ".tsv" else ","
    reader = csv.DictReader(io.StringIO(text, newline=""), delimiter=delimiter)
    rows = list(reader)
    fields = list(reader.fieldnames or [])
    if "split" not in fields:
        fields.append("split")
    buffer = io.StringIO(newline="")
    writer = csv.DictWriter(buffer, fieldnames=fields, delimiter=delimiter, lineterminator="\n")
    writer.writeheader()
    for row in rows:
        if not row.get("split"):
            row["split"] = assigned.get(row["id"], "")
        writer.writerow(row)
    return buffer.getvalue()


# ---------------------------------------------------------------- JSON (a list, or {"cases": [...]})


def _write_json(text: str, assigned: dict[str, str]) -> str:
    document = json.loads(text)
    cases = document["cases"] if isinstance(document, dict) else document
    for record in cases:
        _fill(record, assigned)
    return json.dumps(document, indent=2, ensure_ascii=False) + "\n"


# ---------------------------------------------------------------- YAML


def _yaml_items(text: str):
    """The YAML node of each case mapping, and the parsed records."""
    import yaml

    root: Any = yaml.compose(text, Loader=yaml.SafeLoader)
    data = yaml.safe_load(text)
    if isinstance(root, yaml.MappingNode):
        root = next(v for k, v in root.value if k.value == "cases")
        data = data["cases"]
    return root.value, data


def _write_yaml(text: str, assigned: dict[str, str]) -> str:
    """Insert `split: X` after each case's `id` line, keeping comments; a flow-style case makes it re-dump the file."""
    import yaml

    nodes, data = _yaml_items(text)
    inserts: list[tuple[int, str]] = []
    for node, record in zip(nodes, data):
        case_id = str(record.get("id"))
        if case_id not in assigned or record.get("split"):
            continue
        id_pair = (
            next(((k, v) for k, v in node.value if k.value == "id"), None)
            if isinstance(node, yaml.MappingNode)
            else None
        )
        if id_pair is None or node.flow_style or id_pair[1].start_mark.line != id_pair[1].end_mark.line:
            return _redump(text, data, assigned)
        key, value = id_pair
        end_of_line = text.find("\n", value.end_mark.index)
        end_of_line = len(text) if end_of_line < 0 else end_of_line
        inserts.append((end_of_line, f"\n{' ' * key.start_mark.column}split: {assigned[case_id]}"))
    for index, line in sorted(inserts, reverse=True):
        text = text[:index] + line + text[index:]
    return text


def _redump(text: str, data: list, assigned: dict[str, str]) -> str:
    """Write the cases again with PyYAML (comments are lost)."""
    import yaml

    for record in data:
        _fill(record, assigned)
    document = yaml.safe_load(text)
    if isinstance(document, dict):
        document["cases"] = data
    else:
        document = data
    return yaml.safe_dump(document, sort_keys=False, allow_unicode=True)
