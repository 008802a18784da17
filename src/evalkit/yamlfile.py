"""Read YAML and JSON files with errors that name the file and line.

`load_with_lines` returns the data and a function that maps a key path
(as pydantic reports it) to the line where that key sits in the file.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from evalkit.errors import BadInput

LFS_POINTER = "version https://git-lfs.github.com/spec/"


def read_text(path: Path, what: str = "file") -> str:
    try:
        text = path.read_text(encoding="utf-8-sig")  # a byte-order mark, as some editors write, is dropped
    except FileNotFoundError:
        raise BadInput(f"{what} not found", where=str(path)) from None
    except IsADirectoryError:
        raise BadInput(f"expected a {what}, found a folder", where=str(path)) from None
    except UnicodeDecodeError as exc:
        raise BadInput(f"not UTF-8 text ({exc.reason})", where=str(path)) from None
    if text.startswith(LFS_POINTER):
        raise BadInput(f"this is a Git LFS pointer, not the {what}: run git lfs pull", where=str(path))
    return text


def jsonl_records(path: Path, text: str) -> Iterator[tuple[int, Any]]:
    """(line number, record) for each non-blank line of a JSONL text; a line that is not JSON
    stops with its file and line."""
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            yield number, json.loads(line)
        except json.JSONDecodeError as exc:
            raise BadInput(f"invalid JSON: {exc.msg} (column {exc.colno})", where=f"{path}:{number}") from None


def safe_loader():
    """PyYAML's safe loader, in C (libyaml) when PyYAML was built with it: the same documents,
    several times faster than the pure-Python one."""
    import yaml

    return getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def load_with_lines(path: Path, what: str = "file") -> tuple[Any, Callable[[tuple], int | None]]:
    """Parse a YAML (or JSON, which is YAML) file; return (data, line_of)."""
    import yaml

    text = read_text(path, what)
    if path.suffix == ".json":
        try:
            return json.loads(text), lambda loc: None
        except json.JSONDecodeError as exc:
            raise BadInput(f"invalid JSON: {exc.msg}", where=f"{path}:{exc.lineno}") from None
    try:
        node = yaml.compose(text, Loader=safe_loader())
        data = yaml.load(text, Loader=safe_loader())  # noqa: S506 - a safe loader
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = f":{mark.line + 1}" if mark is not None else ""
        problem = getattr(exc, "problem", None) or str(exc)
        raise BadInput(f"invalid YAML: {problem}", where=f"{path}{line}") from None
    _refuse_duplicate_keys(node, path)

    def line_of(loc: tuple) -> int | None:
        current, line = node, None
        for key in loc:
            if isinstance(current, yaml.MappingNode):
                match = next((v for k, v in current.value if k.value == str(key)), None)
                key_node = next((k for k, v in current.value if k.value == str(key)), None)
                if match is None or key_node is None:  # found together or not at all
                    break
                line, current = key_node.start_mark.line + 1, match
            elif isinstance(current, yaml.SequenceNode) and isinstance(key, int) and key < len(current.value):
                current = current.value[key]
                line = current.start_mark.line + 1
            else:
                break
        if line is None and current is not None:
            line = current.start_mark.line + 1
        return line

    return data, line_of


def _refuse_duplicate_keys(node: Any, path: Path) -> None:
    """A key twice in one mapping is bad input (YAML loaders let the last one win silently)."""
    import yaml

    pending = [node] if node is not None else []
    while pending:
        current = pending.pop()
        if isinstance(current, yaml.MappingNode):
            seen: dict[Any, int] = {}
            for key, value in current.value:
                if isinstance(key, yaml.ScalarNode) and key.tag != "tag:yaml.org,2002:merge":
                    line = key.start_mark.line + 1
                    if key.value in seen:
                        raise BadInput(f"duplicate key {key.value!r} (first at line {seen[key.value]}): "
                                       f"keep one", where=f"{path}:{line}")
                    seen[key.value] = line
                pending.append(value)
        elif isinstance(current, yaml.SequenceNode):
            pending.extend(current.value)
