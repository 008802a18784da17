"""`csv`: a plain CSV or TSV file with a text column and a label column.

With a header, the text column is `--text-field` (default: the first of text, input, utterance,
instruction, query) and the label column `--label-field` (default: the first of label,
expected, intent, category, class); an `id` column gives ids, a `tags`
column `a;b` tags, and every other column goes to metadata. A headerless file names its
columns with `--columns text,label` (`id`, `tags` and other names work as above; `_` skips a
column). When the first row of such a file repeats the column names, it is read as a header.
"""

from __future__ import annotations

from pathlib import Path

from evalkit.errors import BadInput
from evalkit.importers.common import (
    CaseBuilder,
    ImportOptions,
    ImportResult,
    as_label,
    check_columns,
    delimiter_for,
    iter_rows,
    read_source,
    rows_as_dicts,
)

#: column names taken without a flag, the first one present wins (banking77: text/category;
#: Bitext: instruction/intent)
TEXT_NAMES = ("text", "input", "utterance", "instruction", "query")
LABEL_NAMES = ("label", "expected", "intent", "category", "class")


def read(path: Path, options: ImportOptions) -> ImportResult:
    builder = CaseBuilder(path, "csv")
    text = read_source(path, "CSV file")
    rows = iter_rows(path, text, delimiter_for(path, text))
    first = next(rows, None)
    if first is None:
        raise BadInput("the file is empty", where=str(path))
    if options.columns:
        header = [c.strip() for c in options.columns]
        check_columns(header, "--columns", unnamed=("", "_"))
        repeated = [c.strip().lower() for c in first[1]] == [c.lower() for c in header]
        if repeated:
            builder.warn(f"{path}:{first[0]}", "the first row repeats the --columns names: read as a header")
        else:
            rows = _chain(first, rows)
    else:
        header = [c.strip() for c in first[1]]
        check_columns(header, f"{path}:{first[0]}", unnamed=("", "_"))
    text_col = _pick(header, options.text_field, TEXT_NAMES, "text", path)
    label_col = _pick(header, options.label_field, LABEL_NAMES, "label", path)
    for where, row in rows_as_dicts(path, rows, header, builder):
        metadata = {k: v for k, v in row.items() if k not in (text_col, label_col, "id", "tags", "_")}
        tags = [t.strip() for t in row.get("tags", "").split(";") if t.strip()]
        builder.add(where, input=row[text_col].strip(), expected=as_label(row[label_col], where, builder),
                    id=row.get("id"), tags=tags, metadata=metadata)
    return builder.result()


def _chain(first, rows):
    yield first
    yield from rows


def _pick(header: list[str], chosen: str | None, defaults: tuple[str, ...], what: str, path: Path) -> str:
    if chosen:
        if chosen not in header:
            raise BadInput(f"no {what} column {chosen!r}: the columns are {', '.join(header)}", where=f"{path}:1")
        return chosen
    for name in defaults:
        if name in header:
            return name
    hint = "--text-field" if what == "text" else "--label-field"
    raise BadInput(f"no {what} column: the columns are {', '.join(header)}; name it with {hint}, or give a headerless "
                   f"file its columns with --columns text,label", where=f"{path}:1")
