"""evalkit schema: the JSON Schema of the suite file."""

from __future__ import annotations


def register(sub) -> None:
    p = sub.add_parser("schema", help="print the suite file's JSON Schema")
    p.set_defaults(handler=handle)


def handle(args) -> int:
    import json

    from evalkit.suite import suite_json_schema

    print(json.dumps(suite_json_schema(), indent=2))
    return 0
