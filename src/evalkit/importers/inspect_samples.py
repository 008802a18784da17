"""`inspect`: Inspect AI samples in JSON (a list), JSONL or CSV.

Fields as Inspect's default FieldSpec names them: `input` (a string or chat messages),
`target` (a string or a list: the first is the label, the rest go to metadata), `choices`
(a list, or in CSV a comma-separated cell), `id` and `metadata` (an object, or in CSV a
JSON cell). With choices, a string input becomes the fields `question` and `choices`
(lettered `A) ...` lines), and the target stays as Inspect writes it (usually the letter).
`--label-field NAME` takes the label from that field of the sample or of its metadata.
Other fields go to metadata; `sandbox`, `files` and `setup` cannot be mapped (warning).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from evalkit.errors import BadInput
from evalkit.importers.common import (
    CaseBuilder,
    ImportOptions,
    ImportResult,
    as_label,
    chat_messages,
    delimiter_for,
    first_of,
    iter_dict_rows,
    iter_records,
    read_source,
)

_UNMAPPED = ("sandbox", "files", "setup")
_FIELDS = {"input", "target", "choices", "id", "metadata", *_UNMAPPED}


def read(path: Path, options: ImportOptions) -> ImportResult:
    builder = CaseBuilder(path, "inspect")
    records: Iterator[tuple[str, Any]]
    if path.suffix.lower() in (".csv", ".tsv"):
        text = read_source(path, "Inspect samples CSV")
        records = (
            (where, _from_csv(row, where))
            for where, row in iter_dict_rows(path, text, delimiter_for(path, text), builder)
        )
    else:
        records = iter_records(path, "Inspect samples file")
    for where, sample in records:
        _add(sample, where, builder, options.label_field)
    return builder.result()


def _from_csv(row: dict[str, str], where: str) -> dict[str, Any]:
    sample: dict[str, Any] = {k: v for k, v in row.items() if v != "" or k in ("input", "target")}
    if sample.get("metadata"):
        try:
            sample["metadata"] = json.loads(sample["metadata"])
        except json.JSONDecodeError as exc:
            raise BadInput(f"the metadata cell is not JSON: {exc.msg}", where=where) from None
    if isinstance(sample.get("choices"), str):
        cell = sample["choices"]
        parts = cell.split(",") if "," in cell else cell.split()
        sample["choices"] = [p.strip() for p in parts]
    return sample


def _add(sample: Any, where: str, builder: CaseBuilder, label_field: str | None) -> None:
    if not isinstance(sample, dict):
        raise BadInput(f"a sample must be an object with input and target, got {type(sample).__name__}", where=where)
    metadata = sample.get("metadata") or {}
    if not isinstance(metadata, dict):
        raise BadInput(f"metadata must be an object, got {type(metadata).__name__}", where=where)
    metadata = dict(metadata)
    for key in _UNMAPPED:
        if sample.get(key):
            builder.warn(where, f"`{key}` cannot be mapped to an evalkit case: not imported")
    for key in sorted(set(sample) - _FIELDS - {label_field}):
        metadata[key] = sample[key]
    raw = sample.get("input")
    if isinstance(raw, list):
        value: Any = chat_messages(raw, where, builder)
    elif isinstance(raw, str) and raw.strip():
        value = raw
    else:
        raise BadInput("the sample has no input (a string or a list of chat messages)", where=where)
    choices = sample.get("choices")
    if choices:
        if not isinstance(choices, list):
            raise BadInput("choices must be a list", where=where)
        if isinstance(value, str):
            value = {"question": value, "choices": "\n".join(f"{chr(65 + i)}) {c}" for i, c in enumerate(choices))}
        else:
            metadata["choices"] = choices
            builder.warn(where, "choices with a chat input: kept in metadata.choices, add them to the prompt yourself")
    if label_field:
        found = sample.get(label_field, metadata.get(label_field))
        if found is None:
            raise BadInput(
                f"the sample has no field {label_field!r} (nor metadata.{label_field}) for the label", where=where
            )
        raw_label = found
    else:
        raw_label = sample.get("target")
    label = as_label(first_of(raw_label, where, builder, label_field or "target", metadata), where, builder)
    if label is None:
        raise BadInput(f"the sample has no {label_field or 'target'}: evalkit needs an expected label",
                       where=where)
    builder.add(where, input=value, expected=label, id=sample.get("id"), metadata=metadata)
