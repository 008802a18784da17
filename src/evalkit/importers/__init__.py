"""Import cases from other tools' files (docs/importers.md).

`import_file(fmt, path, ...)` returns an ImportResult: the cases, the label set found and
the warnings (what could not be mapped, with file:line). `import_cases` is the short form
that `load_cases` uses when a suite's `cases:` entry names a `format:`.
"""

from __future__ import annotations

import importlib
import json
import logging
from pathlib import Path

from evalkit.errors import BadInput
from evalkit.importers.common import ImportOptions, ImportResult, ImportWarning

__all__ = ["FORMATS", "ImportOptions", "ImportResult", "ImportWarning", "import_cases", "import_file", "write_cases"]

#: format name (as the CLI and `cases: {format: ...}` spell it) -> module with `read(path, options)`
FORMATS = {
    "promptfoo": "evalkit.importers.promptfoo",
    "openai-evals": "evalkit.importers.openai_evals",
    "inspect": "evalkit.importers.inspect_samples",
    "openai-hosted-evals": "evalkit.importers.openai_hosted",
    "csv": "evalkit.importers.delimited",
}

log = logging.getLogger("evalkit.importers")


def import_file(fmt: str, path: str | Path, *, split: str | None = None, **options) -> ImportResult:
    """Convert one file of format `fmt` into evalkit cases; `options` are ImportOptions fields."""
    if fmt not in FORMATS:
        raise BadInput(f"unknown import format {fmt!r} (expected one of {', '.join(FORMATS)})")
    if split not in (None, "holdout", "train"):
        raise BadInput(f"split must be holdout or train, got {split!r}")
    path = Path(path)
    result = importlib.import_module(FORMATS[fmt]).read(path, ImportOptions(**options))
    if not result.cases:
        raise BadInput("the file holds no cases to import", where=str(path))
    if split:
        for case in result.cases:
            case.split = split
    return result


def import_cases(fmt: str, path: str | Path, label_field: str | None = None):
    """The cases of one file in another tool's format (warnings go to the `evalkit.importers` log)."""
    result = import_file(fmt, path, label_field=label_field)
    for warning in result.warnings:
        log.warning("import warning: %s", warning)
    return result.cases


def write_cases(cases, out: Path) -> None:
    """Write cases as evalkit JSONL, one per line, defaults left out."""
    out.parent.mkdir(parents=True, exist_ok=True)
    lines = [json.dumps(case.model_dump(mode="json", exclude_defaults=True), ensure_ascii=False) for case in cases]
    out.write_text("".join(line + "\n" for line in lines), encoding="utf-8")
