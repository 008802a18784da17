"""Write a finished job into the suite's fine-tuned route with the smallest text edit.

Only the route's own lines change: a key that is there gets its value replaced in place, a
missing key gets one new line at the end of the route's block, a missing route gets a new block
at the end of `routes:`. Comments and everything else stay as they were. When the file's shape
does not allow that (a flow-style `{...}` route, a value over several lines) nothing is written
and the error says to paste the YAML that `--print` shows.
"""

from __future__ import annotations

import json
from pathlib import Path

from evalkit.errors import BadInput


def scalar(value: str | int | float) -> str:
    """The value as a YAML scalar: plain when that reads back the same, JSON-quoted otherwise."""
    import yaml

    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return json.dumps(value)
    plain = str(value)
    try:
        if plain and plain == plain.strip() and yaml.safe_load(f"k: {plain}") == {"k": plain} and "#" not in plain:
            return plain
    except yaml.YAMLError:
        pass
    return json.dumps(plain, ensure_ascii=False)


def _block(route: str, fields: dict[str, str], column: int, step: int) -> str:
    inner = " " * (column + step)
    lines = [f"{' ' * column}{route}:", f"{inner}kind: finetuned"]
    lines += [f"{inner}{key}: {scalar(value)}" for key, value in fields.items() if key != "kind"]
    return "\n".join(lines) + "\n"


def route_yaml(route: str, fields: dict[str, str]) -> str:
    """The route's block to paste under `routes:`."""
    return _block(route, fields, 2, 2)


def _last_scalar(node):
    """The node's last scalar: its text ends where the node's own lines end."""
    import yaml

    while isinstance(node, (yaml.MappingNode, yaml.SequenceNode)) and node.value:
        last = node.value[-1]
        node = last[1] if isinstance(node, yaml.MappingNode) else last
    return node


def _line_end(text: str, index: int) -> int:
    """The index just past the newline that ends the line holding `index` (or the end of the text)."""
    if index > 0 and text[index - 1] == "\n":
        return index
    newline = text.find("\n", index)
    return len(text) if newline < 0 else newline + 1


def _insert_at(text: str, node) -> tuple[int, str]:
    """Where new lines go after a node (before the blank lines a clipped block scalar leaves), and the prefix
    they need."""
    last = _last_scalar(node)
    at = _line_end(text, last.end_mark.index)
    header = text[last.start_mark.index:text.find("\n", last.start_mark.index)]
    if last.style in ("|", ">") and "+" not in header:
        while True:
            previous = text.rfind("\n", 0, at - 1) + 1
            if previous <= last.start_mark.index or text[previous:at].strip():
                break
            at = previous
    return at, "" if at == 0 or text[at - 1] == "\n" else "\n"


def update_route_text(text: str, route: str, fields: dict[str, str], where: str = "suite") -> str:
    """The suite text with the route's fields set. Pure; raises BadInput when a minimal edit is impossible."""
    import yaml

    root = yaml.compose(text, Loader=yaml.SafeLoader)
    routes = (
        next((v for k, v in root.value if k.value == "routes"), None) if isinstance(root, yaml.MappingNode) else None
    )
    if not isinstance(routes, yaml.MappingNode) or routes.flow_style or not routes.value:
        raise BadInput(
            "the suite has no block-style `routes:` mapping to edit: paste the YAML that --print shows", where=where
        )
    edits: list[tuple[int, int, str]] = []  # (start, end, replacement), applied from the end
    node = next((v for k, v in routes.value if k.value == route), None)
    if node is None:
        first_key, first_route = routes.value[0]
        column = first_key.start_mark.column
        step = 2
        if isinstance(first_route, yaml.MappingNode) and first_route.value and not first_route.flow_style:
            step = first_route.value[0][0].start_mark.column - column
        at, prefix = _insert_at(text, routes)
        edits.append((at, at, prefix + _block(route, fields, column, step)))
    else:
        if not isinstance(node, yaml.MappingNode) or node.flow_style or not node.value:
            raise BadInput(f"route {route!r} is not a block mapping: paste the YAML that --print shows", where=where)
        kind = next((v.value for k, v in node.value if k.value == "kind"), None)
        if kind != "finetuned":
            raise BadInput(f"route {route!r} is a {kind} route, not a finetuned one", where=where)
        present = {k.value: v for k, v in node.value}
        column = node.value[0][0].start_mark.column
        missing = []
        for key, value in fields.items():
            current = present.get(key)
            if current is None:
                missing.append(f"{' ' * column}{key}: {scalar(value)}\n")
            elif isinstance(current, yaml.ScalarNode) and current.start_mark.line == current.end_mark.line \
                    and current.style not in ("|", ">"):
                edits.append((current.start_mark.index, current.end_mark.index, scalar(value)))
            else:
                raise BadInput(
                    f"route {route!r}: {key} spans several lines: paste the YAML that --print shows", where=where
                )
        if missing:
            at, prefix = _insert_at(text, node)
            edits.append((at, at, prefix + "".join(missing)))
    for start, end, replacement in sorted(edits, key=lambda e: e[0], reverse=True):
        text = text[:start] + replacement + text[end:]
    return text


def write_route(suite_path: str | Path, route: str, fields: dict[str, str]) -> str:
    """Edit the suite file in place and check that it still loads with the new values; returns the new text."""
    import yaml

    from evalkit.suite import parse_suite
    from evalkit.yamlfile import read_text

    path = Path(suite_path)
    new_text = update_route_text(read_text(path, "suite file"), route, fields, str(path))
    data = yaml.safe_load(new_text)
    parse_suite(data, path)  # still a valid suite
    written = data["routes"][route]
    if any(str(written.get(k)) != str(v) for k, v in fields.items()):
        raise BadInput(
            f"could not set route {route!r} by a text edit: paste the YAML that --print shows", where=str(path)
        )
    path.write_text(new_text, encoding="utf-8")
    return new_text

