"""docs/cli.md, written from the command line's own parsers so the two never disagree.

`python -m evalkit.clidocs > docs/cli.md` renews it; a test fails when it is stale. The page is
built from each argument's names and help text (not argparse's formatted help, which differs
between Python versions).
"""

from __future__ import annotations

import argparse


def _subcommands(parser: argparse.ArgumentParser) -> list[tuple[str, argparse.ArgumentParser, str]]:
    found = []
    for action in parser._actions:  # noqa: SLF001 - argparse has no public walk of its subparsers
        if isinstance(action, argparse._SubParsersAction):  # noqa: SLF001
            helps = {choice.dest: choice.help for choice in action._choices_actions}  # noqa: SLF001
            found += [(name, sub, helps.get(name) or "") for name, sub in action.choices.items()]
    return found


def _cell(text: str) -> str:
    return " ".join(text.split()).replace("|", "\\|")


def _argument_rows(parser: argparse.ArgumentParser) -> list[str]:
    rows = []
    for action in parser._actions:  # noqa: SLF001
        if isinstance(action, (argparse._HelpAction, argparse._SubParsersAction)) or action.help == argparse.SUPPRESS:  # noqa: SLF001
            continue
        if action.option_strings:
            name = ", ".join(action.option_strings)
            if action.nargs != 0:
                name += f" {action.metavar or action.dest.upper()}"
        else:
            name = str(action.metavar or action.dest.upper())  # a positional's metavar is one name
        help_text = action.help or ""
        if action.choices and not isinstance(action, argparse._SubParsersAction):  # noqa: SLF001
            help_text += f" (one of: {', '.join(map(str, action.choices))})"
        rows.append(f"| `{_cell(name)}` | {_cell(help_text % vars(action) if '%(' in help_text else help_text)} |")
    return rows


def _section(path: str, parser: argparse.ArgumentParser, summary: str, lines: list[str]) -> None:
    children = _subcommands(parser)
    lines += [f"## `{path}`", ""]
    if summary:
        lines += [_cell(summary), ""]
    if parser.description and parser.description != summary:
        lines += [_cell(parser.description), ""]
    rows = _argument_rows(parser)
    if rows:
        lines += ["| argument | what |", "|---|---|", *rows, ""]
    for name, child, child_summary in children:
        _section(f"{path} {name}", child, child_summary, lines)


def cli_markdown() -> str:
    from evalkit.cli import build_parser

    parser = build_parser()
    lines = ["# The evalkit command line", "",
             "Written from the parsers by `python -m evalkit.clidocs > docs/cli.md`; a test keeps it current.",
             "Exit codes: 0 success (gate: approve), 1 gate reject or a check that failed, 2 bad input",
             "(before any call), 3 a run stopped early or incomplete. `--debug` shows tracebacks.", ""]
    top_rows = _argument_rows(parser)
    lines += [
        "## `evalkit`",
        "",
        _cell(parser.description or ""),
        "",
        "| argument | what |",
        "|---|---|",
        *top_rows,
        "",
    ]
    for name, child, summary in _subcommands(parser):
        _section(f"evalkit {name}", child, summary, lines)
    return "\n".join(lines).rstrip() + "\n"


if __name__ == "__main__":
    print(cli_markdown(), end="")
