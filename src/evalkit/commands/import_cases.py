"""evalkit import FORMAT PATH --out FILE: convert another tool's cases into evalkit cases JSONL."""

from __future__ import annotations

import sys
from pathlib import Path

_SHOWN_WARNINGS = 30


# the keys of evalkit.importers.FORMATS, spelled out so that start-up imports no importer code
FORMAT_NAMES = ("promptfoo", "openai-evals", "inspect", "openai-hosted-evals", "csv")


def register(sub) -> None:
    p = sub.add_parser("import", help="convert cases from promptfoo, openai/evals, Inspect, OpenAI hosted Evals or CSV",
                       description="Convert another tool's test cases into evalkit cases JSONL, print the label set "
                                   "found and every part of the source that could not be mapped (docs/importers.md).")
    p.add_argument("format", choices=FORMAT_NAMES, help="the source format")
    p.add_argument("path", type=Path, help="the source file")
    p.add_argument("--out", type=Path, required=True, help="the cases file to write, e.g. datasets/NAME/cases.jsonl")
    p.add_argument(
        "--suite",
        type=Path,
        metavar="FILE",
        help="also write a starter suite that runs these cases, e.g. evals/NAME.yaml",
    )
    p.add_argument("--force", action="store_true", help="overwrite --out (and --suite) if it exists")
    p.add_argument(
        "--label-field", metavar="FIELD", help="the source field (var, column, key) that holds the gold label"
    )
    p.add_argument(
        "--text-field",
        metavar="COLUMN",
        help="csv: the column that holds the text (default: the first of text, input, utterance, instruction, query)",
    )
    p.add_argument("--columns", metavar="A,B", type=lambda s: [c.strip() for c in s.split(",")],
                   help="csv: the columns of a headerless file, e.g. text,label")
    p.add_argument("--split", choices=["holdout", "train"], help="give every imported case this split")
    p.add_argument(
        "--items", type=Path, metavar="FILE", help="openai-hosted-evals: the items JSONL of the eval definition"
    )
    p.add_argument(
        "--definition",
        type=Path,
        metavar="FILE",
        help="openai-hosted-evals: the eval definition, when PATH is the items",
    )
    p.add_argument(
        "--run",
        type=Path,
        metavar="FILE",
        help="openai-hosted-evals: an eval run whose input_messages template is the prompt",
    )
    p.add_argument("--json", action="store_true", help="print the outcome as JSON")
    p.set_defaults(handler=handle)


def handle(args) -> int:
    from evalkit.errors import BadInput
    from evalkit.importers import import_file, write_cases

    for path in (args.out, args.suite):
        if path is not None and path.exists() and not args.force:
            raise BadInput(f"{path} exists: pass --force to overwrite it")
    result = import_file(args.format, args.path, split=args.split, label_field=args.label_field,
                         text_field=args.text_field, columns=args.columns, items=args.items,
                         definition=args.definition, run=args.run)
    write_cases(result.cases, args.out)
    if args.suite is not None:
        from evalkit.starter import starter_suite

        args.suite.parent.mkdir(parents=True, exist_ok=True)
        args.suite.write_text(starter_suite(args.suite.stem, args.suite, args.out, result.cases, result.labels,
                                            suggested=result.suite), encoding="utf-8")
    if result.suite is not None:
        result.suite = {"name": result.suite["name"], "task": result.suite["task"],
                        "cases": _relative(args.out), "routes": result.suite["routes"]}
    if args.json:
        _print_json(result, args.out)
    else:
        _print_text(result, args.out, args.suite)
    return 0


def _relative(path: Path) -> str:
    try:
        return str(path.resolve().relative_to(Path.cwd().resolve()))
    except ValueError:
        return str(path)


def _print_json(result, out: Path) -> None:
    import json

    print(
        json.dumps(
            {
                "source": str(result.source),
                "format": result.format,
                "out": str(out),
                "cases": len(result.cases),
                "labels": result.labels,
                "warnings": [{"where": w.where, "message": w.message} for w in result.warnings],
                "suite": result.suite,
            },
            indent=2,
            ensure_ascii=False,
        )
    )


def _print_text(result, out: Path, suite: Path | None) -> None:
    import json

    import yaml

    splits: dict[str, int] = {}
    for case in result.cases:
        splits[case.split] = splits.get(case.split, 0) + 1
    split_text = ", ".join(f"{n} {name}" for name, n in sorted(splits.items()))
    print(f"imported {len(result.cases)} cases ({split_text}) from {result.source} ({result.format}) into {out}")
    print(f"\n{len(result.labels)} labels; paste them into the suite's task:")
    print(f"  labels: [{', '.join(json.dumps(label, ensure_ascii=False) for label in result.labels)}]")
    if suite is not None:
        print(f"\nwrote a starter suite to {suite}: check its prompt and model, then: evalkit run {suite} --offline")
    elif result.suite is not None:
        print("\nsuggested suite (edit the model and prompt before running):\n")
        print(yaml.safe_dump(result.suite, sort_keys=False, allow_unicode=True, width=100).rstrip())
    if result.warnings:
        print(f"\n{len(result.warnings)} warning{'s' if len(result.warnings) > 1 else ''} (what could not be mapped):",
              file=sys.stderr)
        for warning in result.warnings[:_SHOWN_WARNINGS]:
            print(f"  {warning}", file=sys.stderr)
        if len(result.warnings) > _SHOWN_WARNINGS:
            print(f"  ... and {len(result.warnings) - _SHOWN_WARNINGS} more (see --json)", file=sys.stderr)
