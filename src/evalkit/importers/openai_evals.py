"""`openai-evals`: samples of the open-source openai/evals registry.

One JSON object per line: `{"input": str | chat messages, "ideal": str | [str]}`. The input
is kept as a string or as chat messages (openai/evals' few-shot convention of system
messages named `example_user` / `example_assistant` becomes user / assistant turns). The
first `ideal` is the label; further ideals go to `metadata.other_ideal` with a warning.
`--label-field KEY` takes the label from another key of the sample. An `id` key gives the
case id; every other key goes to metadata.
"""

from __future__ import annotations

from pathlib import Path

from evalkit.errors import BadInput
from evalkit.importers.common import (
    CaseBuilder,
    ImportOptions,
    ImportResult,
    as_label,
    chat_messages,
    first_of,
    iter_records,
)


def read(path: Path, options: ImportOptions) -> ImportResult:
    builder = CaseBuilder(path, "openai-evals")
    label_key = options.label_field or "ideal"
    for where, sample in iter_records(path, "openai/evals samples file"):
        if not isinstance(sample, dict):
            raise BadInput(f"a sample must be an object with input and ideal, got {type(sample).__name__}", where=where)
        if "input" not in sample:
            raise BadInput("the sample has no `input`", where=where)
        if label_key not in sample:
            raise BadInput(f"the sample has no `{label_key}` to take the expected label from", where=where)
        metadata = {k: v for k, v in sample.items() if k not in ("input", "id", label_key)}
        raw = sample["input"]
        value: str | list[dict[str, str]]
        if isinstance(raw, list):
            value = chat_messages(raw, where, builder)
        elif isinstance(raw, str):
            value = raw
        else:
            raise BadInput(
                f"`input` must be a string or a list of chat messages, got {type(raw).__name__}", where=where
            )
        label = as_label(first_of(sample[label_key], where, builder, label_key, metadata), where, builder)
        builder.add(where, input=value, expected=label, id=sample.get("id"), metadata=metadata)
    return builder.result()
